"""Image transforms and input encodings (docs/references.md#dat, #diffusers): placement on the grid,
power, unit modulus, and the Fourier-crop delegation."""

from __future__ import annotations

import math

import pytest
import torch

from optics import Field, Grid
from photonics import encode_fourier_crop
from training import encode_amplitude, encode_fourier_crop, encode_phase, pad_to, resize, to_float

WAVELENGTH = 0.75e-3  # m


def _digits(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    images[:, 6:22, 9:19] = torch.randint(1, 256, (n, 16, 10), generator=g, dtype=torch.uint8)
    return images


def _centroid(intensity, grid):
    yy, xx = grid.meshgrid(dtype=torch.float64)
    w = intensity.double()
    total = w.sum(dim=(-2, -1))
    return (w * yy).sum(dim=(-2, -1)) / total, (w * xx).sum(dim=(-2, -1)) / total


def test_to_float():
    x = torch.tensor([[0, 51], [255, 128]], dtype=torch.uint8)
    y = to_float(x)
    assert y.dtype == torch.float32 and torch.equal(y, x.float() / 255)
    z = torch.rand(2, 2, dtype=torch.float64)
    assert to_float(z) is z
    with pytest.raises(TypeError, match="uint8"):
        to_float(torch.ones(2, 2, dtype=torch.int32))


def test_resize_is_bilinear_without_antialias():
    x = torch.rand(2, 5, 28, 28, dtype=torch.float64)
    y = resize(x, 160)
    assert y.shape == (2, 5, 160, 160) and y.dtype == torch.float64
    ref = torch.nn.functional.interpolate(x.reshape(10, 1, 28, 28), size=(160, 160), mode="bilinear",
                                          align_corners=False, antialias=False)
    torch.testing.assert_close(y, ref.reshape(2, 5, 160, 160), rtol=0, atol=0)
    assert resize(torch.ones(28, 28), (40, 56)).shape == (40, 56)
    with pytest.raises(ValueError, match="positive int"):
        resize(x, 0)


def test_pad_to_centres():
    x = torch.arange(1, 7.0).reshape(2, 3)
    y = pad_to(x, (6, 7))
    assert y.shape == (6, 7) and y.sum() == x.sum()
    assert torch.equal(y[2:4, 2:5], x)
    with pytest.raises(ValueError, match="cannot pad images of size 2×3 to 1×7"):
        pad_to(x, (1, 7))


def test_amplitude_encoding_reference_c_geometry():
    """§C: 28 -> 160 bilinear, centred in 240×240 at 0.3 mm pitch."""
    grid = Grid(240, 0.3e-3)
    images = _digits()
    field = encode_amplitude(images, grid, WAVELENGTH, size_px=160)
    assert isinstance(field, Field) and field.data.shape == (3, 240, 240)
    assert field.data.dtype == torch.complex64 and field.grid == grid
    assert torch.equal(field.data.imag, torch.zeros_like(field.data.imag))
    a = resize(to_float(images), 160)
    # support: nothing outside the centred 160×160 window, and the window holds the image
    assert field.data[:, :40].abs().max() == 0 and field.data[:, 200:].abs().max() == 0
    assert field.data[:, :, :40].abs().max() == 0 and field.data[:, :, 200:].abs().max() == 0
    torch.testing.assert_close(field.data.real[:, 40:200, 40:200], a)
    # power = Σ a² · cell area
    torch.testing.assert_close(field.power(), (a.double() ** 2).sum(dim=(-2, -1)).float() * grid.cell_area,
                               rtol=1e-5, atol=0)


def test_amplitude_encoding_centroid_is_on_axis_for_a_centred_object():
    grid = Grid((64, 80), (1e-4, 2e-4))
    image = torch.zeros(28, 28, dtype=torch.float64)
    image[10:18, 12:16] = 1.0  # symmetric about the image centre (13.5, 13.5)
    field = encode_amplitude(image, grid, WAVELENGTH)
    assert field.data.dtype == torch.complex128
    cy, cx = _centroid(field.intensity(), grid)
    assert abs(cy) < 1e-12 and abs(cx) < 1e-12
    # and an off-centre object keeps its offset: +3 px in x, -2 px in y
    shifted = torch.roll(image, shifts=(-2, 3), dims=(0, 1))
    cy, cx = _centroid(encode_amplitude(shifted, grid, WAVELENGTH).intensity(), grid)
    torch.testing.assert_close((cy.item(), cx.item()), (-2 * grid.dy, 3 * grid.dx), rtol=0, atol=1e-12)


def test_phase_encoding_has_unit_modulus_and_the_phase_of_the_image():
    grid = Grid(48, 1e-4)
    images = _digits(2)
    field = encode_phase(images, grid, WAVELENGTH, size_px=40, max_phase=math.pi / 2)
    torch.testing.assert_close(field.data.abs(), torch.ones(2, 48, 48), rtol=0, atol=1e-6)
    x = pad_to(resize(to_float(images), 40), (48, 48))
    torch.testing.assert_close(field.data, torch.exp(1j * (math.pi / 2) * x.to(torch.complex64)),
                               rtol=0, atol=1e-6)
    torch.testing.assert_close(field.power(), torch.full((2,), 48 * 48 * grid.cell_area), rtol=1e-5, atol=0)
    with pytest.raises(ValueError, match="max_phase"):
        encode_phase(images, grid, WAVELENGTH, max_phase=float("nan"))


def test_encoding_errors_name_the_problem():
    grid = Grid(20, 1e-4)
    with pytest.raises(ValueError, match="28×28 to 20×20"):
        encode_amplitude(_digits(1), grid, WAVELENGTH)
    with pytest.raises(TypeError, match="optics.Grid"):
        encode_amplitude(_digits(1), (40, 40), WAVELENGTH)
    with pytest.raises(TypeError, match="complex64 or torch.complex128"):
        encode_amplitude(_digits(1), Grid(28, 1e-4), WAVELENGTH, dtype=torch.float32)


def test_encode_fourier_crop_takes_uint8_as_grey_values():
    images = _digits(4)
    modes = encode_fourier_crop(images)
    assert modes.shape == (4, 64) and modes.dtype == torch.complex64
    torch.testing.assert_close(modes, encode_fourier_crop(images.float() / 255))
    torch.testing.assert_close(modes.abs().mean(dim=-1), torch.ones(4))
