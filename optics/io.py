"""HDF5 storage of :class:`~optics.grid.Grid` and :class:`~optics.field.Field` (h5py).

Layout (every dimensional value carries a ``units`` attribute)::

    <name>/                      group, attrs: schema = "onnsim.grid/1"
        attrs shape = [ny, nx]   (int64)
        attrs pitch = [dy, dx]   (float64), attrs pitch_units = "m"

    <name>/                      group, attrs: schema = "onnsim.field/1",
        attrs wavelength (float64), wavelength_units = "m"
        grid/                    a grid group as above
        data                     dataset (*batch, ny, nx), complex64 or complex128 stored
                                 as is (bit-exact), attrs units = "a.u.", axes = "(*batch, y, x)"

``group_or_path`` is an open ``h5py.File``/``h5py.Group`` or a filesystem path (opened in
append mode for saving, read-only for loading). Saving over an existing name raises unless
``overwrite=True``.
"""

from __future__ import annotations

import os

import h5py
import numpy as np
import torch

from .field import Field
from .grid import Grid

__all__ = ["save_grid", "load_grid", "save_field", "load_field", "GRID_SCHEMA", "FIELD_SCHEMA"]

GRID_SCHEMA = "onnsim.grid/1"
FIELD_SCHEMA = "onnsim.field/1"


class _Open:
    """Context manager yielding a group from a group or a path."""

    def __init__(self, group_or_path, mode: str):
        self.obj, self.mode, self.file = group_or_path, mode, None

    def __enter__(self) -> h5py.Group:
        if isinstance(self.obj, h5py.Group):  # h5py.File is a Group
            return self.obj
        if isinstance(self.obj, (str, os.PathLike)):
            try:
                self.file = h5py.File(self.obj, self.mode)
            except OSError as err:
                raise OSError(f"cannot open HDF5 file {os.fspath(self.obj)!r} (mode {self.mode!r}): "
                              f"{err}") from err
            return self.file
        raise TypeError(f"expected an h5py.File/h5py.Group or a path, got {type(self.obj).__name__}")

    def __exit__(self, *exc):
        if self.file is not None:
            self.file.close()


def _new_group(parent: h5py.Group, name: str, overwrite: bool) -> h5py.Group:
    if name in parent:
        if not overwrite:
            raise ValueError(f"{parent.name!r} already holds {name!r}; pass overwrite=True to "
                             "replace it")
        del parent[name]
    return parent.create_group(name)


def _get_group(parent: h5py.Group, name: str, schema: str) -> h5py.Group:
    if name not in parent:
        raise KeyError(f"no {schema} group {name!r} in {parent.file.filename}:{parent.name} "
                       f"(it holds {sorted(parent.keys())})")
    group = parent[name]
    if not isinstance(group, h5py.Group):
        raise ValueError(f"{group.name!r} is a {type(group).__name__}, expected a group with "
                         f"schema {schema!r}")
    found = group.attrs.get("schema")
    if isinstance(found, bytes):
        found = found.decode()
    if found != schema:
        raise ValueError(f"{group.name!r} has schema {found!r}, expected {schema!r}")
    return group


def _write_grid(group: h5py.Group, grid: Grid) -> None:
    group.attrs["schema"] = GRID_SCHEMA
    group.attrs["shape"] = np.asarray(grid.shape, dtype=np.int64)
    group.attrs["pitch"] = np.asarray(grid.pitch, dtype=np.float64)
    group.attrs["pitch_units"] = "m"


def _read_grid(group: h5py.Group) -> Grid:
    try:
        shape = np.asarray(group.attrs["shape"])
        pitch = np.asarray(group.attrs["pitch"])
        units = group.attrs.get("pitch_units", "m")
    except KeyError as err:
        raise ValueError(f"corrupted grid group {group.name!r}: missing attribute {err}") from None
    if isinstance(units, bytes):
        units = units.decode()
    if shape.shape != (2,) or pitch.shape != (2,) or units != "m":
        raise ValueError(f"corrupted grid group {group.name!r}: shape {shape.tolist()}, pitch "
                         f"{pitch.tolist()} {units!r}; expected two ints, two floats in 'm'")
    try:
        return Grid((int(shape[0]), int(shape[1])), (float(pitch[0]), float(pitch[1])))
    except (TypeError, ValueError) as err:
        raise ValueError(f"corrupted grid group {group.name!r}: {err}") from None


def save_grid(group_or_path, grid: Grid, name: str = "grid", *, overwrite: bool = False) -> None:
    """Write ``grid`` as group ``name`` (schema ``onnsim.grid/1``, pitch in metres)."""
    if not isinstance(grid, Grid):
        raise TypeError(f"save_grid: expected an optics.Grid, got {type(grid).__name__}")
    with _Open(group_or_path, "a") as parent:
        _write_grid(_new_group(parent, name, overwrite), grid)


def load_grid(group_or_path, name: str = "grid") -> Grid:
    """Read a Grid written by :func:`save_grid`."""
    with _Open(group_or_path, "r") as parent:
        return _read_grid(_get_group(parent, name, GRID_SCHEMA))


def save_field(group_or_path, field: Field, name: str = "field", *, overwrite: bool = False) -> None:
    """Write ``field`` (data bit-exact, its grid and wavelength) as group ``name``.

    Shape:
        ``data`` ``(*batch, ny, nx)`` stored as is; gradients and device are dropped.
    """
    if not isinstance(field, Field):
        raise TypeError(f"save_field: expected an optics.Field, got {type(field).__name__}")
    with _Open(group_or_path, "a") as parent:
        group = _new_group(parent, name, overwrite)
        group.attrs["schema"] = FIELD_SCHEMA
        group.attrs["wavelength"] = np.float64(field.wavelength)
        group.attrs["wavelength_units"] = "m"
        _write_grid(group.create_group("grid"), field.grid)
        dset = group.create_dataset("data", data=field.data.detach().cpu().resolve_conj().numpy())
        dset.attrs["units"] = "a.u."
        dset.attrs["axes"] = "(*batch, y, x)"


def load_field(group_or_path, name: str = "field", *, device=None) -> Field:
    """Read a Field written by :func:`save_field` (same dtype, bit-exact data).

    Args:
        group_or_path: open h5py group/file or a path.
        name: group name.
        device: torch device for the data (default CPU).

    Raises:
        KeyError: the group is missing. ValueError: wrong schema or corrupted content (missing
        attributes or datasets, a data shape that does not match the stored grid, a
        non-complex dataset, a non-positive wavelength).
    """
    with _Open(group_or_path, "r") as parent:
        group = _get_group(parent, name, FIELD_SCHEMA)
        if "grid" not in group or "data" not in group:
            raise ValueError(f"corrupted field group {group.name!r}: needs 'grid' and 'data', "
                             f"holds {sorted(group.keys())}")
        grid = _read_grid(_get_group(group, "grid", GRID_SCHEMA))
        if "wavelength" not in group.attrs:
            raise ValueError(f"corrupted field group {group.name!r}: missing attribute 'wavelength'")
        wavelength = float(group.attrs["wavelength"])
        dset = group["data"]
        if not isinstance(dset, h5py.Dataset):
            raise ValueError(f"corrupted field group {group.name!r}: 'data' is not a dataset")
        if dset.ndim < 2 or tuple(dset.shape[-2:]) != grid.shape:
            raise ValueError(f"corrupted field group {group.name!r}: data shape {dset.shape} does "
                             f"not end with the stored grid shape {grid.shape}")
        if dset.dtype not in (np.complex64, np.complex128):
            raise ValueError(f"corrupted field group {group.name!r}: data dtype {dset.dtype} is "
                             "not complex64/complex128")
        array = dset[()]
    data = torch.from_numpy(np.ascontiguousarray(array))
    if device is not None:
        data = data.to(device)
    try:
        return Field(data, grid, wavelength)
    except (TypeError, ValueError) as err:
        raise ValueError(f"corrupted field {name!r}: {err}") from None
