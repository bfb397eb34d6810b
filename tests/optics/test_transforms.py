"""shift / rotate: conventions, closed forms and invariants."""

from __future__ import annotations

import math

import pytest
import torch

from optics import Field, Grid
from optics.functional import rotate, shift

D = 1e-3  # pitch (m)


def _band_limited(grid: Grid, radius: float, *, seed: int, batch=()) -> torch.Tensor:
    """Random periodic pattern whose spectrum lies in the disc |f| < radius (cycles/m)."""
    g = torch.Generator().manual_seed(seed)
    spec = torch.randn(*batch, *grid.shape, dtype=torch.complex128, generator=g)
    fy, fx = grid.freqs()
    mask = (fy[:, None] ** 2 + fx[None, :] ** 2) < radius**2
    return torch.fft.ifft2(spec * mask)


def _gauss(grid: Grid, w: float, cy=0.0, cx=0.0) -> torch.Tensor:
    y, x = grid.meshgrid()
    return torch.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * w**2)).to(torch.complex128)


# -- shift -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(32, 32), (31, 24), (16, 17)])
@pytest.mark.parametrize("s", [(3, -5), (-1, 7), (16, 0)])
def test_integer_shift_equals_roll(shape, s):
    grid = Grid(shape, (D, 2 * D))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, *shape, dtype=torch.complex128, generator=g)  # full band incl. Nyquist
    out = shift(x, s[0] * D, s[1] * 2 * D, grid=grid)
    torch.testing.assert_close(out, torch.roll(x, s, dims=(-2, -1)), atol=1e-12, rtol=0)
    xr = x.real  # real in, real out, still equal to roll
    out_r = shift(xr, s[0] * D, s[1] * 2 * D, grid=grid)
    assert out_r.dtype == torch.float64
    torch.testing.assert_close(out_r, torch.roll(xr, s, dims=(-2, -1)), atol=1e-12, rtol=0)


def test_positive_dx_moves_content_to_larger_column_index():
    grid = Grid((32, 32), D)
    x = _gauss(grid, 2 * D)
    out = shift(Field(x, grid, 1e-6), 0.0, 4 * D)
    assert isinstance(out, Field)
    iy, ix = divmod(int(out.intensity().argmax()), 32)
    # peak of the centred Gaussian sits at pixels 15/16; moved by +4 columns
    assert ix in (19, 20) and iy in (15, 16)


def test_subpixel_shift_matches_analytic_gaussian():
    grid = Grid((64, 64), D)
    w = 4 * D  # wide Gaussian: spectrum exp(-2π² w² f²) ~ 1e-30 at Nyquist, tails ~ e^-128
    dy, dx = 0.37 * D, -1.61 * D
    out = shift(_gauss(grid, w), dy, dx, grid=grid)
    expected = _gauss(grid, w, cy=dy, cx=dx)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)


def test_shift_composition_and_parseval():
    grid = Grid((32, 40), (D, 1.5 * D))
    x = _band_limited(grid, 0.3 / D, seed=1, batch=(3,))
    a = (0.3 * D, -1.7 * D)
    b = (2.45 * D, 0.9 * D)
    ab = shift(shift(x, *a, grid=grid), *b, grid=grid)
    direct = shift(x, a[0] + b[0], a[1] + b[1], grid=grid)
    torch.testing.assert_close(ab, direct, atol=1e-12, rtol=0)
    p0 = (x.abs() ** 2).sum(dim=(-2, -1))
    p1 = (direct.abs() ** 2).sum(dim=(-2, -1))
    torch.testing.assert_close(p1, p0, rtol=1e-12, atol=0)


def test_per_sample_shifts_and_complex64():
    grid = Grid((16, 16), D)
    x = _band_limited(grid, 0.3 / D, seed=2, batch=(3,)).to(torch.complex64)
    dy = torch.tensor([1.0, 0.0, -2.0]) * D
    dx = torch.tensor([0.0, 3.0, 1.0]) * D
    out = shift(x, dy, dx, grid=grid)
    assert out.dtype == torch.complex64
    for i in range(3):
        exp = torch.roll(x[i], (round(dy[i].item() / D), round(dx[i].item() / D)), dims=(-2, -1))
        torch.testing.assert_close(out[i], exp, atol=2e-6, rtol=0)


def test_shift_gradcheck():
    grid = Grid((8, 6), (D, 2 * D))
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 8, 6, dtype=torch.complex128, generator=g, requires_grad=True)
    dy = torch.tensor([0.3, -0.6], dtype=torch.float64, requires_grad=True)
    dx = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    # shifts in units of the pitch so the finite-difference step is meaningful
    assert torch.autograd.gradcheck(lambda x, a, b: shift(x, a * D, b * 2 * D, grid=grid),
                                    (x, dy, dx))


def test_shift_errors():
    grid = Grid((8, 8), D)
    x = torch.zeros(8, 8, dtype=torch.complex64)
    with pytest.raises(ValueError, match="grid="):
        shift(x, 0.0, 0.0)
    with pytest.raises(TypeError, match="Field or a torch.Tensor"):
        shift([[1.0]], 0.0, 0.0, grid=grid)
    with pytest.raises(ValueError, match="does not match grid.shape"):
        shift(torch.zeros(8, 9, dtype=torch.complex64), 0.0, 0.0, grid=grid)
    with pytest.raises(ValueError, match="finite"):
        shift(x, float("nan"), 0.0, grid=grid)
    with pytest.raises(ValueError, match="finite"):
        shift(x, 0.0, torch.tensor([0.0, float("inf")]), grid=grid)
    with pytest.raises(TypeError, match="dx must be"):
        shift(x, 0.0, "1mm", grid=grid)
    with pytest.raises(ValueError, match="broadcast"):
        shift(torch.zeros(2, 8, 8, dtype=torch.complex64), torch.zeros(3), 0.0, grid=grid)
    with pytest.raises(ValueError, match="differs from the Field"):
        shift(Field(x, grid, 1e-6), 0.0, 0.0, grid=Grid((8, 8), 2 * D))


# -- rotate ------------------------------------------------------------------------------
def test_rotation_direction_pinned():
    """+θ turns +x towards +y (larger row index): a spot at x = +5 px goes to y = +5 px."""
    grid = Grid((33, 33), D)
    spot = _gauss(grid, 1.5 * D, cx=5 * D)
    for mode in ("fourier", "bilinear"):
        out = rotate(spot, math.pi / 2, grid=grid, mode=mode)
        iy, ix = divmod(int(out.abs().argmax()), 33)
        assert (iy, ix) == (16 + 5, 16), mode


@pytest.mark.parametrize("n", [31, 32])
def test_rotate_90_fourier_equals_rot90(n):
    """Odd n: the shears are whole-pixel shifts, exact for any pattern. Even n: pixel
    centres sit at half-integers, the shears are half-pixel Fourier shifts, exact for a
    band-limited periodic pattern (disc of radius 0.6 × Nyquist keeps the sheared
    spectra inside the band)."""
    grid = Grid((n, n), D)
    x = _band_limited(grid, 0.3 / D, seed=4, batch=(2,))
    out = rotate(x, math.pi / 2, grid=grid)
    torch.testing.assert_close(out, torch.rot90(x, 1, dims=(-1, -2)), atol=1e-12, rtol=0)
    out = rotate(x, -math.pi / 2, grid=grid)
    torch.testing.assert_close(out, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-12, rtol=0)
    out = rotate(x, math.pi, grid=grid)  # 180°: flip of both axes
    torch.testing.assert_close(out, torch.flip(x, dims=(-2, -1)), atol=1e-12, rtol=0)


def test_rotate_bilinear_90_is_exact_permutation():
    grid = Grid((20, 20), D)
    x = torch.randn(20, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    out = rotate(x, math.pi / 2, grid=grid, mode="bilinear")
    torch.testing.assert_close(out, torch.rot90(x, 1, dims=(-1, -2)), atol=1e-12, rtol=0)


def test_rotate_matches_analytic_rotated_gaussian():
    grid = Grid((64, 64), D)
    y, x = grid.meshgrid()
    theta = 0.4
    # anisotropic off-centre Gaussian rotated analytically: out(r) = in(R(-θ) r)
    def pattern(yy, xx):
        return torch.exp(-((xx - 6 * D) ** 2 / (2 * (4 * D) ** 2) + yy**2 / (2 * (2.5 * D) ** 2)))
    c, s = math.cos(theta), math.sin(theta)
    expected = pattern(-s * x + c * y, c * x + s * y).to(torch.complex128)
    out = rotate(pattern(y, x).to(torch.complex128), theta, grid=grid)
    torch.testing.assert_close(out, expected, atol=1e-9, rtol=0)
    out_b = rotate(pattern(y, x), theta, grid=grid, mode="bilinear")
    # bilinear interpolation error ≤ (h²/8)·max|f''| ≈ 1/(8·2.5²) ≈ 0.02 for 2.5-px widths
    assert (out_b - expected.real).abs().max() < 0.03


def test_rotate_inverse_and_norm():
    grid = Grid((64, 64), D)
    y, x = grid.meshgrid()
    # width 4 px: tails at the shear-wrapped edges (≥ 32 px) are ~exp(-32) in amplitude
    pat = (torch.exp(-(x**2 + y**2) / (2 * (4 * D) ** 2))
           * torch.exp(1j * 2 * math.pi * x / (12 * D))).to(torch.complex128)
    batch = torch.stack([pat, pat.conj()])
    theta = torch.tensor([0.3, 2.2], dtype=torch.float64)  # 2.2 rad uses the 180° reduction
    rot = rotate(batch, theta, grid=grid)
    back = rotate(rot, -theta, grid=grid)
    torch.testing.assert_close(back, batch, atol=1e-9, rtol=0)
    torch.testing.assert_close((rot.abs() ** 2).sum(dim=(-2, -1)),
                               (batch.abs() ** 2).sum(dim=(-2, -1)), rtol=1e-12, atol=0)


def test_rotate_field_real_and_c64():
    grid = Grid((16, 16), D)
    f = Field(_gauss(grid, 3 * D).to(torch.complex64), grid, 1e-6)
    out = rotate(f, 0.2)
    assert isinstance(out, Field) and out.dtype == torch.complex64
    r = rotate(f.data.real, 0.2, grid=grid)
    assert r.dtype == torch.float32
    torch.testing.assert_close(r, out.data.real, atol=1e-5, rtol=0)


@pytest.mark.parametrize("mode", ["fourier", "bilinear"])
def test_rotate_gradcheck(mode):
    grid = Grid((7, 8), D)
    g = torch.Generator().manual_seed(6)
    x = torch.randn(7, 8, dtype=torch.complex128, generator=g, requires_grad=True)
    theta = torch.tensor(0.37, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, t: rotate(x, t, grid=grid, mode=mode), (x, theta))


def test_rotate_errors():
    grid = Grid((8, 8), D)
    x = torch.zeros(8, 8, dtype=torch.complex64)
    with pytest.raises(ValueError, match="mode"):
        rotate(x, 0.1, grid=grid, mode="cubic")
    with pytest.raises(ValueError, match="finite"):
        rotate(x, float("inf"), grid=grid)
    with pytest.raises(ValueError, match="grid="):
        rotate(x, 0.1)
    with pytest.raises(ValueError, match="does not match grid.shape"):
        rotate(torch.zeros(7, 8), 0.1, grid=grid)
    with pytest.raises(TypeError, match="floating-point or complex"):
        rotate(torch.zeros(8, 8, dtype=torch.int64), 0.1, grid=grid)
