"""HDF5 persistence of error realizations and device specs, bit-exact, schema-versioned.

Layout of a realization group: attribute ``schema`` (``onnsim.diffractive_errors/1`` or
``onnsim.mesh_network_errors/1``), one dataset per tensor with a ``units`` attribute and
``dtype`` preserved, scalars as attributes; detector noise as a subgroup. Loading a group
of another schema, or one with missing or malformed entries, raises a clear error.
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import torch

from photonics import MeshErrors

from .errors import DetectorNoise, DiffractiveErrors, MeshNetworkErrors
from .specs import SPECS

__all__ = ["save_realization", "load_realization", "save_spec", "load_spec", "DIFFRACTIVE_SCHEMA",
           "MESH_SCHEMA", "SPEC_SCHEMA"]

DIFFRACTIVE_SCHEMA = "onnsim.diffractive_errors/1"
MESH_SCHEMA = "onnsim.mesh_network_errors/1"
SPEC_SCHEMA = "onnsim.spec/1"

_UNITS = {"layer_shift": "m", "layer_rotation": "rad", "gap_error": "m", "phase_gain": "1",
          "phase_offset": "rad", "phase_lut": "rad", "input_shift": "m",
          "bs_in": "1", "bs_out": "1", "theta_offset": "rad", "phi_offset": "rad", "loss_db": "dB"}


@contextmanager
def _group(path_or_group, mode: str):
    if isinstance(path_or_group, (h5py.File, h5py.Group)):
        yield path_or_group
        return
    path = Path(path_or_group)
    if mode == "r" and not path.exists():
        raise FileNotFoundError(f"no such HDF5 file: {path}")
    try:
        f = h5py.File(path, mode)
    except OSError as exc:
        raise ValueError(f"{path} is not a readable HDF5 file ({exc})") from None
    with f:
        yield f


def _new_group(root, name: str, overwrite: bool):
    """Create group ``name``; an existing one is an error unless ``overwrite``."""
    if name in root:
        if not overwrite:
            raise ValueError(f"{name!r} already exists in {root.file.filename}; pass overwrite=True")
        del root[name]
    return root.create_group(name)


def _put(g, name, t: torch.Tensor):
    d = g.create_dataset(name, data=t.detach().cpu().numpy())
    d.attrs["units"] = _UNITS.get(name, "1")


def _get(g, name) -> torch.Tensor:
    if name not in g:
        raise ValueError(f"realization group {g.name!r} is missing dataset {name!r} (corrupted or foreign file)")
    return torch.from_numpy(np.array(g[name]))


def _put_detector(g, det: DetectorNoise):
    d = g.create_group("detector")
    for f in dataclasses.fields(DetectorNoise):
        d.attrs[f.name] = getattr(det, f.name)


def _get_detector(g) -> DetectorNoise:
    if "detector" not in g:
        return DetectorNoise()
    a = g["detector"].attrs
    return DetectorNoise(float(a["full_scale_photons"]), float(a["read_noise"]), int(a["adc_bits"]))


def save_realization(path_or_group, errors, *, name: str = "errors", overwrite: bool = False) -> None:
    """Write a :class:`DiffractiveErrors` or :class:`MeshNetworkErrors` under ``name``."""
    with _group(path_or_group, "a") as root:
        g = _new_group(root, name, overwrite)
        if isinstance(errors, DiffractiveErrors):
            g.attrs["schema"] = DIFFRACTIVE_SCHEMA
            for n in DiffractiveErrors._TENSORS:
                _put(g, n, getattr(errors, n))
            g.attrs["phase_bits"] = errors.phase_bits
            g.attrs["crosstalk_px"] = errors.crosstalk_px
            g.attrs["crosstalk_px_units"] = "pixels"
            g.attrs["fill_factor"] = errors.fill_factor
            g.attrs["input_gap"] = errors.input_gap
            g.attrs["input_gap_units"] = "m"
        elif isinstance(errors, MeshNetworkErrors):
            g.attrs["schema"] = MESH_SCHEMA
            g.attrs["n_meshes"] = len(errors.meshes)
            for i, m in enumerate(errors.meshes):
                mg = g.create_group(f"mesh{i}")
                for n in ("bs_in", "bs_out", "theta_offset", "phi_offset", "loss_db"):
                    _put(mg, n, getattr(m, n))
                mg.attrs["crosstalk"] = m.crosstalk
        else:
            raise TypeError(f"expected DiffractiveErrors or MeshNetworkErrors, got {type(errors).__name__}")
        _put_detector(g, errors.detector)


def load_realization(path_or_group, *, name: str = "errors"):
    """Read a realization written by :func:`save_realization` (bit-exact)."""
    with _group(path_or_group, "r") as root:
        if name not in root:
            raise ValueError(f"no realization {name!r} in {root.file.filename}")
        g = root[name]
        schema = g.attrs.get("schema")
        schema = schema.decode() if isinstance(schema, bytes) else schema
        try:
            if schema == DIFFRACTIVE_SCHEMA:
                return DiffractiveErrors(
                    *(_get(g, n) for n in DiffractiveErrors._TENSORS), phase_bits=int(g.attrs["phase_bits"]),
                    crosstalk_px=float(g.attrs["crosstalk_px"]), fill_factor=float(g.attrs["fill_factor"]),
                    detector=_get_detector(g), input_gap=float(g.attrs.get("input_gap", 0.0)))
            if schema == MESH_SCHEMA:
                meshes = []
                for i in range(int(g.attrs["n_meshes"])):
                    if f"mesh{i}" not in g:
                        raise ValueError(f"realization {name!r} is missing group mesh{i}")
                    mg = g[f"mesh{i}"]
                    meshes.append(MeshErrors(*(_get(mg, n) for n in ("bs_in", "bs_out", "theta_offset", "phi_offset",
                                                                     "loss_db")), float(mg.attrs["crosstalk"])))
                return MeshNetworkErrors(tuple(meshes), _get_detector(g))
        except KeyError as exc:
            raise ValueError(f"realization {name!r} lacks attribute {exc} (corrupted file)") from None
        raise ValueError(f"{name!r} has schema {schema!r}; this onnsim reads {DIFFRACTIVE_SCHEMA!r} and {MESH_SCHEMA!r}")


def save_spec(path_or_group, spec, *, name: str = "spec", overwrite: bool = False) -> None:
    """Write a device spec dataclass as attributes of a group (schema ``onnsim.spec/1``)."""
    if type(spec).__name__ not in SPECS:
        raise TypeError(f"expected one of {sorted(SPECS)}, got {type(spec).__name__}")
    with _group(path_or_group, "a") as root:
        g = _new_group(root, name, overwrite)
        g.attrs["schema"] = SPEC_SCHEMA
        g.attrs["type"] = type(spec).__name__
        g.attrs["values"] = json.dumps(spec.to_dict())


def load_spec(path_or_group, *, name: str = "spec"):
    with _group(path_or_group, "r") as root:
        if name not in root:
            raise ValueError(f"no spec {name!r} in {root.file.filename}")
        g = root[name]
        if g.attrs.get("schema") != SPEC_SCHEMA:
            raise ValueError(f"{name!r} has schema {g.attrs.get('schema')!r}, expected {SPEC_SCHEMA!r}")
        kind = g.attrs.get("type")
        if kind not in SPECS:
            raise ValueError(f"unknown spec type {kind!r}; known: {sorted(SPECS)}")
        return SPECS[kind].from_dict(json.loads(g.attrs["values"]))
