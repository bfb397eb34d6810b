"""Pinned conventions: exp(−iωt) (forward propagation multiplies by exp(+ikz)), a phase
ramp exp(+i2πfx) steers towards +x, arrays are [y, x], coordinates are centred pixel
centres, converging lenses have f > 0."""

import math

import torch

from optics import Field, Grid, Lens, FreeSpace, OpticalSystem
from optics.functional import asm_propagate, fraunhofer_propagate, rectangular_aperture

LAM = 1e-6


def test_forward_propagation_multiplies_by_exp_plus_ikz():
    grid = Grid(16, 1e-6)
    z = (2 * math.pi * 7 + 1.0) / (2 * math.pi / LAM)  # kz ≡ 1 rad (mod 2π)
    out = asm_propagate(Field.plane_wave(grid, LAM, dtype=torch.complex128), z, pad_factor=1)  # periodic
    assert torch.allclose(out.data, torch.full_like(out.data, complex(math.cos(1), math.sin(1))), atol=1e-9)


def _centroid(field):
    inten = field.intensity()
    yy, xx = field.grid.meshgrid()
    return float((yy * inten).sum() / inten.sum()), float((xx * inten).sum() / inten.sum())


def test_phase_ramp_steers_towards_plus_x_on_a_non_square_grid():
    # exp(+i2π f x) is a plane wave with sin θx = λ f: after z its centroid sits at
    # x = z tan θx. A non-square grid (ny ≠ nx) pins the [y, x] indexing.
    grid = Grid((96, 160), (1e-6, 0.8e-6))
    yy, xx = grid.meshgrid()
    f = 0.1 / LAM
    u = torch.exp(-(xx**2 + yy**2) / (8e-6) ** 2) * torch.exp(1j * 2 * math.pi * f * xx)
    z = 100e-6
    out = asm_propagate(Field(u.to(torch.complex128), grid, LAM), z)
    cy, cx = _centroid(out)
    theta = math.asin(LAM * f)
    assert abs(cy) < 1e-9
    assert abs(cx - z * math.tan(theta)) <= 0.01 * z * math.tan(theta)
    # larger column index = larger x
    col = int(out.intensity().sum(0).argmax())
    assert col > grid.nx // 2


def test_coordinates_are_centred_pixel_centres():
    grid = Grid((4, 3), (2.0, 1.0))
    y, x = grid.coords()
    assert y.tolist() == [-3.0, -1.0, 1.0, 3.0]
    assert x.tolist() == [-1.0, 0.0, 1.0]


def test_fraunhofer_of_centred_aperture_is_centred_and_symmetric():
    grid = Grid(32, 1e-6)
    field = Field(rectangular_aperture(grid, 8e-6).to(torch.complex128), grid, LAM)
    out = fraunhofer_propagate(field, 0.01, pad_factor=2).intensity()
    assert torch.allclose(out, torch.flip(out, dims=(0, 1)), rtol=1e-9, atol=1e-12 * float(out.max()))
    yo, xo = fraunhofer_propagate(field, 0.01, pad_factor=2).grid.coords()
    iy, ix = divmod(int(out.argmax()), out.shape[1])
    assert abs(float(yo[iy])) <= float(yo[1] - yo[0]) and abs(float(xo[ix])) <= float(xo[1] - xo[0])


def test_positive_focal_length_converges():
    grid = Grid(128, 2e-6)
    field = Field.plane_wave(grid, LAM, dtype=torch.complex128)
    f = 2e-3  # Fresnel number R²/(λf) = 5
    peak = {}
    for z in (0.5 * f, f, 1.5 * f):
        system = OpticalSystem(Lens(grid, LAM, f, aperture_radius=100e-6, dtype=torch.complex128),
                               FreeSpace(grid, LAM, z, dtype=torch.complex128))
        peak[z] = float(system(field).intensity().max())
    assert peak[f] > 5 * peak[0.5 * f] and peak[f] > 5 * peak[1.5 * f]
