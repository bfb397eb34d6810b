"""FreeSpace.replace: a moved or detuned copy equals the same free space built from scratch."""

import pytest
import torch

from optics import Field, FreeSpace, Grid


def _field(grid, wavelength):
    g = torch.Generator().manual_seed(3)
    data = torch.randn(2, *grid.shape, dtype=torch.complex64, generator=g)
    return Field(data, grid, wavelength)


def test_replace_equals_a_fresh_free_space_with_the_new_settings():
    grid = Grid(32, 4e-6)
    fs = FreeSpace(grid, 1e-6, 2e-4, pad_factor=1.5, taper=0.1, sampling_tol=0.2, fft_backend="torch")
    moved = fs.replace(distance=2.5e-4, wavelength=1.1e-6)
    fresh = FreeSpace(grid, 1.1e-6, 2.5e-4, pad_factor=1.5, taper=0.1, sampling_tol=0.2, fft_backend="torch")
    # settings not named are kept
    assert (moved.pad_factor, moved.taper, moved.sampling_tol, moved.fft_backend) == (1.5, 0.1, 0.2, "torch")
    f = _field(grid, 1.1e-6)
    torch.testing.assert_close(moved(f).data, fresh(f).data, rtol=0, atol=0)
    # the original is untouched
    assert (fs.distance, fs.wavelength) == (2e-4, 1e-6)


def test_replace_rejects_unknown_settings():
    fs = FreeSpace(Grid(16, 4e-6), 1e-6, 1e-4)
    with pytest.raises(TypeError, match="unknown setting.*distnce"):
        fs.replace(distnce=1.0)
