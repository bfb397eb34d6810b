"""Random diffusers (Luo et al., eLight 2022): statistics against closed forms, reproducibility, errors.

Closed forms used (continuous limit, exact to < 1e-6 for σ ≥ 2 px by Poisson summation):
a unit-sum Gaussian of std σ has Σ K² = 1/(4π σ²) (σ in pixels), so the phase std is
s = 2π Δn σ_h / (λ · 2√π σ_px); the phase correlation is ρ(r) = exp(-r²/(4σ²)); the
mean-removed transmittance correlation is R(r) = (exp(-s²(1-ρ)) - exp(-s²)) / (1 - exp(-s²)).

Published values (Luo et al., eLight 2022): σ = 4λ -> phase std ≈ 1.1 rad, L ≈ 10λ; σ = 2λ
-> L ≈ 5λ. With the transmittance estimator of Luo et al. 2022 (mean removed) the closed
form gives L = 11.9λ (σ = 4λ) and 3.6λ (σ = 2λ), and the measurements agree with the closed
form, not with the published numbers (which scale like √(2π)·σ, i.e. 10.0λ and 5.0λ: the
*height* correlation length of a kernel exp(-r²/σ²), std σ/√2). We test against the closed
form and record the published values here rather than widen tolerances to reach them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optics import Grid
from optics.functional import (correlation_length, diffuser_correlation, diffuser_height,
                               mean_abs_phase_difference, random_diffuser)

LAM = 0.75e-3
GRID = Grid((240, 240), 0.3e-3)  # eLight diffuser plane
DN = 0.74


def _phase_std(sigma: float, height_std: float = 8 * LAM, dn: float = DN) -> float:
    sigma_px = sigma / GRID.dx
    return 2 * math.pi * dn * height_std / LAM / (2 * math.sqrt(math.pi) * sigma_px)


def _closed_form_L(sigma: float) -> float:
    """Fit exp(-π r²/L²) to the closed-form R(r) over 0.2 < R < 0.95 on the pixel radii."""
    s2 = _phase_std(sigma) ** 2
    r = np.arange(1, 200) * GRID.dx
    rho = np.exp(-r**2 / (4 * sigma**2))
    R = (np.exp(-s2 * (1 - rho)) - math.exp(-s2)) / (1 - math.exp(-s2))
    sel = (R > 0.2) & (R < 0.95)
    x = math.pi * r[sel] ** 2
    return 1 / math.sqrt(np.sum(x * -np.log(R[sel])) / np.sum(x * x))


def _draws(sigma, n, seed, **kw):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([random_diffuser(GRID, LAM, sigma=sigma, generator=g,
                                        dtype=torch.complex128, **kw) for _ in range(n)])


def test_phase_std_sigma_4lambda():
    g = torch.Generator().manual_seed(10)
    heights = torch.stack([diffuser_height(GRID, LAM, sigma=4 * LAM, generator=g) for _ in range(8)])
    phase = 2 * math.pi * DN * heights / LAM
    std = phase.std(dim=(-2, -1)).mean().item()
    expected = _phase_std(4 * LAM)  # 1.049 rad
    # per-draw std scatters ≈ 4 % (≈ 90 correlation areas of 2πσ² px² per 240² draw);
    # the mean of 8 draws ≈ 1.5 %: 6 % is four standard errors.
    assert std == pytest.approx(expected, rel=0.06)
    assert std == pytest.approx(1.1, rel=0.1)  # published "≈ 1.1 rad"
    mean_h = heights.mean().item()
    assert mean_h == pytest.approx(25 * LAM, abs=0.05 * LAM)  # unit-sum kernel keeps μ = 25λ
    t = random_diffuser(GRID, LAM, sigma=4 * LAM, generator=g)
    assert t.dtype == torch.complex64
    torch.testing.assert_close(t.abs(), torch.ones_like(t.abs()), atol=1e-6, rtol=0)


@pytest.mark.parametrize("sigma_lam", [4, 2])
def test_correlation_length_matches_closed_form(sigma_lam):
    # A 320² plane (a bit larger than the 240² eLight layers) for statistics: per-draw
    # scatter of L measured at 4.4 % (σ = 4λ; 8 % on 240²) and 2 % (σ = 2λ); the mean of 8
    # draws has ≈ 1.6 % standard error, so 6 % is ≈ 4 standard errors and also covers the
    # small negative bias of mean removal on a finite plane (≈ 1 % on 240²).
    grid = Grid((320, 320), GRID.pitch)
    g = torch.Generator().manual_seed(20 + sigma_lam)
    L = np.mean([correlation_length(random_diffuser(grid, LAM, sigma=sigma_lam * LAM, generator=g,
                                                    dtype=torch.complex128), grid)
                 for _ in range(8)]) / LAM
    expected = _closed_form_L(sigma_lam * LAM) / LAM  # 11.86 (σ=4λ), 3.59 (σ=2λ)
    assert L == pytest.approx(expected, rel=0.06)


def test_correlation_length_weak_screen_is_height_correlation():
    """For a weak phase screen t - <t> ≈ iφ, so R(r) = ρ(r) = exp(-r²/(4σ²)) and the fit
    returns L = 2√π σ exactly (a pure Gaussian, independent of the fit window)."""
    sigma = 2 * LAM
    g = torch.Generator().manual_seed(30)
    ts = torch.stack([random_diffuser(GRID, LAM, sigma=sigma, delta_n=1e-4, generator=g,
                                      dtype=torch.complex128) for _ in range(6)])
    L = correlation_length(ts, GRID)  # batch: one fit of the averaged correlation
    assert L == pytest.approx(2 * math.sqrt(math.pi) * sigma, rel=0.06)


def test_linear_not_circular_smoothing():
    """Opposite edges of a periodic (circular) smoothing would be as correlated as
    neighbouring pixels; with the padded linear convolution they are independent."""
    sigma = 4 * LAM
    g = torch.Generator().manual_seed(40)
    h = torch.stack([diffuser_height(GRID, LAM, sigma=sigma, generator=g) for _ in range(8)])
    h = h - h.mean(dim=(-2, -1), keepdim=True)

    def corr(a, b):
        return ((a * b).sum() / torch.sqrt((a * a).sum() * (b * b).sum())).item()

    assert corr(h[..., :, 0], h[..., :, 1]) > 0.9  # 1 px apart: exp(-1/(4·10²)) ≈ 1
    assert abs(corr(h[..., :, 0], h[..., :, -1])) < 0.2
    assert abs(corr(h[..., 0, :], h[..., -1, :])) < 0.2


def test_same_seed_same_diffuser_and_independent_draws():
    t1 = random_diffuser(GRID, LAM, sigma=4 * LAM, generator=torch.Generator().manual_seed(7))
    t2 = random_diffuser(GRID, LAM, sigma=4 * LAM, generator=torch.Generator().manual_seed(7))
    assert torch.equal(t1, t2)
    assert diffuser_correlation(t1, t2).abs().item() == pytest.approx(1.0, abs=1e-5)
    assert mean_abs_phase_difference(t1, t2).item() == 0.0
    ts = _draws(4 * LAM, 8, seed=8)
    rho = diffuser_correlation(ts[0::2], ts[1::2]).abs()
    # independent draws: |ρ| ~ (coherence area / area)^½ ≈ 0.05
    assert rho.shape == (4,) and (rho < 0.2).all()


def _wrap(x):
    return np.remainder(x + np.pi, 2 * np.pi) - np.pi


def test_pi_over_2_statistic_closed_form():
    """Reading "difference": E|wrap(φ1 - φ2)| with φ1 - φ2 ~ N(0, 2s²) (independent,
    unwrapped Gaussian phases). Reading "each": E|wrap(φ1) - wrap(φ2)| with φ ~ N(μ, s²),
    μ = 2πΔn·25λ/λ (≈ π mod 2π, so about half of the pixels wrap)."""
    ts = _draws(4 * LAM, 8, seed=9)
    s = _phase_std(4 * LAM)
    d = np.linspace(-12 * s, 12 * s, 200001)
    pdf = np.exp(-d**2 / (4 * s**2)) / math.sqrt(4 * math.pi * s**2)
    expected_diff = np.trapezoid(np.abs(_wrap(d)) * pdf, d)  # ≈ 1.16 rad
    got = mean_abs_phase_difference(ts[0::2], ts[1::2]).mean().item()
    assert got == pytest.approx(expected_diff, rel=0.05)
    assert got < math.pi / 2  # with this reading the eLight draws are NOT "different"

    mu = 2 * math.pi * DN * 25
    p = np.linspace(mu - 10 * s, mu + 10 * s, 4001)
    w = np.exp(-(p - mu) ** 2 / (2 * s**2))
    w /= w.sum()
    wp = _wrap(p)
    expected_each = np.sum(w[:, None] * w[None, :] * np.abs(wp[:, None] - wp[None, :]))
    got_each = mean_abs_phase_difference(ts[0::2], ts[1::2], wrap="each").mean().item()
    assert got_each == pytest.approx(expected_each, rel=0.05)
    assert got_each > math.pi / 2


def test_diffuser_errors():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="sigma"):
        random_diffuser(GRID, LAM, sigma=0.0, generator=g)
    with pytest.raises(ValueError, match="sigma"):
        random_diffuser(GRID, LAM, sigma=-1e-3, generator=g)
    with pytest.raises(ValueError, match="wavelength"):
        random_diffuser(GRID, 0.0, sigma=3e-3, generator=g)
    with pytest.raises(TypeError, match="generator"):
        random_diffuser(GRID, LAM, sigma=3e-3)
    with pytest.raises(TypeError, match="torch.Generator"):
        random_diffuser(GRID, LAM, sigma=3e-3, generator=1234)
    with pytest.raises(TypeError, match="dtype"):
        random_diffuser(GRID, LAM, sigma=3e-3, generator=g, dtype=torch.float32)
    with pytest.raises(ValueError, match="height_std"):
        random_diffuser(GRID, LAM, sigma=3e-3, generator=g, height_std=-1e-3)
    with pytest.raises(TypeError, match="Grid"):
        random_diffuser((240, 240), LAM, sigma=3e-3, generator=g)
    t = random_diffuser(Grid((16, 16), 0.3e-3), LAM, sigma=3e-4, generator=g)
    with pytest.raises(ValueError, match="fit_range"):
        correlation_length(t, Grid((16, 16), 0.3e-3), fit_range=(0.9, 0.2))
    with pytest.raises(ValueError, match="does not match grid"):
        correlation_length(t, GRID)


def test_diffuser_set_sends_every_field_through_every_diffuser():
    from optics import DiffuserSet, Field

    grid = Grid(8, 1e-3)
    g = torch.Generator().manual_seed(0)
    t = torch.polar(torch.ones(3, 8, 8), 2 * math.pi * torch.rand(3, 8, 8, generator=g))
    u = torch.rand(2, 8, 8, generator=g).to(torch.complex64)
    s = DiffuserSet(grid)
    assert s.n == 1 and torch.equal(s(Field(u, grid, 1e-3)).data, u[:, None])  # empty: the bare field
    out = s.set(t)(Field(u, grid, 1e-3)).data
    assert out.shape == (2, 3, 8, 8) and s.n == 3
    for b in range(2):
        for k in range(3):
            assert torch.equal(out[b, k], u[b] * t[k])
    other = t[:1].conj()
    with s.holding(other):
        assert torch.equal(s(Field(u, grid, 1e-3)).data, u[:, None] * other)
    assert torch.equal(s.transmittance, t)  # restored after the block
    assert not list(s.parameters()) and not s.state_dict()  # nothing learnable, nothing saved
    with pytest.raises(ValueError, match=r"complex \(n, 8, 8\)"):
        s.set(torch.ones(3, 8, 8))
    with pytest.raises(ValueError, match=r"complex \(n, 8, 8\)"):
        s.set(torch.ones(3, 4, 4, dtype=torch.complex64))
