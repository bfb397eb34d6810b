"""HDF5 round trips of Grid and Field; schema and corruption errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from optics import Field, Grid
from optics.io import FIELD_SCHEMA, load_field, load_grid, save_field, save_grid


def test_grid_round_trip(tmp_path):
    path = tmp_path / "g.h5"
    grid = Grid((123, 45), (0.3e-3, 1 / 3 * 1e-3))
    save_grid(path, grid)
    back = load_grid(path)
    assert back == grid and back.pitch == grid.pitch  # float64 attributes: bit-exact
    with h5py.File(path, "r") as f:
        assert f["grid"].attrs["pitch_units"] == "m"
        assert f["grid"].attrs["schema"] == "onnsim.grid/1"


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_field_round_trip_bit_exact(tmp_path, dtype):
    grid = Grid((17, 20), (0.4e-3, 0.3e-3))
    g = torch.Generator().manual_seed(0)
    data = torch.randn(2, 3, 17, 20, dtype=dtype, generator=g)
    data[0, 0, 0, 0] = complex(-0.0, 1e-40)  # signed zero and a subnormal survive
    field = Field(data, grid, 0.75e-3)
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:  # an open group works as well as a path
        save_field(f.create_group("run"), field, name="out")
    with h5py.File(path, "r") as f:
        back = load_field(f["run"], name="out")
    assert back.dtype == dtype and back.grid == grid and back.wavelength == field.wavelength
    assert back.data.shape == data.shape
    assert np.array_equal(back.data.numpy().view(np.uint8), data.numpy().view(np.uint8))
    with h5py.File(path, "r") as f:
        grp = f["run/out"]
        assert grp.attrs["schema"] == FIELD_SCHEMA and grp.attrs["wavelength_units"] == "m"
        assert grp["data"].attrs["units"] == "a.u."


def test_path_api_and_overwrite(tmp_path):
    path = tmp_path / "p.h5"
    grid = Grid((4, 4), 1e-3)
    f1 = Field(torch.ones(4, 4, dtype=torch.complex64), grid, 1e-6)
    save_field(path, f1)
    with pytest.raises(ValueError, match="overwrite=True"):
        save_field(path, f1)
    save_field(path, f1.replace(data=2 * f1.data), overwrite=True)
    assert torch.equal(load_field(path).data, 2 * f1.data)


def test_errors(tmp_path):
    path = tmp_path / "e.h5"
    grid = Grid((4, 5), 1e-3)
    save_field(path, Field(torch.zeros(4, 5, dtype=torch.complex64), grid, 1e-6))
    save_grid(path, grid)
    with pytest.raises(KeyError, match="no onnsim.field/1 group 'nope'.*holds"):
        load_field(path, name="nope")
    with pytest.raises(ValueError, match="schema 'onnsim.grid/1', expected 'onnsim.field/1'"):
        load_field(path, name="grid")
    with h5py.File(path, "a") as f:  # corrupt: data shape no longer matches the stored grid
        del f["field/data"]
        f["field"].create_dataset("data", data=np.zeros((4, 6), dtype=np.complex64))
    with pytest.raises(ValueError, match=r"data shape \(4, 6\) does not end with the stored grid shape \(4, 5\)"):
        load_field(path)
    with h5py.File(path, "a") as f:
        del f["field/data"]
        f["field"].create_dataset("data", data=np.zeros((4, 5), dtype=np.float32))
        del f["grid"].attrs["pitch"]
    with pytest.raises(ValueError, match="not complex"):
        load_field(path)
    with pytest.raises(ValueError, match="missing attribute"):
        load_grid(path)
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(OSError, match="cannot open HDF5 file"):
        load_grid(tmp_path / "junk.h5")
    with pytest.raises(TypeError, match="Field"):
        save_field(path, torch.zeros(4, 5))
    with pytest.raises(TypeError, match="h5py"):
        load_grid(12)
