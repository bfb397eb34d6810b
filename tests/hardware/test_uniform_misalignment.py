"""Uniform ("vaccination") misalignment draws of DiffractiveErrorModel (Mengu et al. 2020):
bounded by ±Δ, variance Δ²/3, reproducible, and no change to the Gaussian draws."""

import math

import pytest
import torch

from hardware import DiffractiveErrorModel, diffractive_error_model


def _g(seed):
    return torch.Generator().manual_seed(seed)


def test_uniform_shifts_and_gaps_are_bounded_with_variance_delta_sq_over_3():
    d, dz = 4e-4, 1.5e-3
    e = DiffractiveErrorModel(shift_max=d, gap_max=dz).sample(20000, generator=_g(0))
    for v, half in ((e.layer_shift, d), (e.gap_error, dz)):
        assert float(v.abs().max()) <= half
        # the extremes are approached (a Gaussian of the same variance would exceed Δ 8% of the time)
        assert float(v.abs().max()) > 0.999 * half
        n = v.numel()
        # var of U(−Δ, Δ) is Δ²/3; the std of the sample variance is Δ²·sqrt(4/45/n)
        assert float(v.var()) == pytest.approx(half**2 / 3, abs=5 * half**2 * math.sqrt(4 / 45 / n))
        assert abs(float(v.mean())) < 5 * half / math.sqrt(3 * n)
        # flat histogram: each quarter of [−Δ, Δ] holds a quarter of the draws
        counts = torch.histc(v.flatten(), bins=4, min=-half, max=half)
        assert torch.allclose(counts / n, torch.full((4,), 0.25, dtype=counts.dtype), atol=0.02)
    # x and y are independent draws
    assert abs(float(torch.corrcoef(e.layer_shift.T)[0, 1])) < 0.03
    # only the asked-for components move
    assert not e.layer_rotation.any() and not e.input_shift.any() and torch.all(e.phase_gain == 1)


def test_uniform_draws_are_reproducible_and_seed_dependent():
    m = DiffractiveErrorModel(shift_max=1e-4, gap_max=2e-4)
    a, b, c = (m.sample(5, generator=_g(s)) for s in (3, 3, 4))
    assert torch.equal(a.layer_shift, b.layer_shift) and torch.equal(a.gap_error, b.gap_error)
    assert not torch.equal(a.layer_shift, c.layer_shift)


def test_adding_uniform_terms_keeps_the_gaussian_draws():
    base = DiffractiveErrorModel(shift_std=1e-4, gap_std=1e-4, phase_offset_std=0.1)
    both = DiffractiveErrorModel(shift_std=1e-4, gap_std=1e-4, phase_offset_std=0.1, shift_max=2e-4, gap_max=3e-4)
    a, b = base.sample(6, generator=_g(7)), both.sample(6, generator=_g(7))
    assert torch.equal(a.phase_offset, b.phase_offset) and torch.equal(a.input_shift, b.input_shift)
    diff = b.layer_shift - a.layer_shift  # the uniform part alone
    assert float(diff.abs().max()) <= 2e-4 and float(diff.abs().max()) > 0
    assert float((b.gap_error - a.gap_error).abs().max()) <= 3e-4


@pytest.mark.parametrize("kw,match", [
    (dict(shift_max=-1e-4), "shift_max must be a finite number ≥ 0"),
    (dict(gap_max=float("nan")), "gap_max must be a finite number ≥ 0"),
    (dict(shift_max="1mm"), "shift_max must be a finite number ≥ 0"),
])
def test_bad_uniform_magnitudes_are_rejected(kw, match):
    with pytest.raises(ValueError, match=match):
        DiffractiveErrorModel(**kw)


def test_preset_string_conveniences_for_uniform_half_widths():
    m = diffractive_error_model("shift_max_px=2,gap_max_rel=0.05", pitch=4e-4, gap=0.03)
    assert m.shift_max == pytest.approx(8e-4) and m.gap_max == pytest.approx(1.5e-3)
    assert m.shift_std == 0 and m.gap_std == 0
