"""Exact phases that intensity-only checks cannot see: the thin-lens phase against −πr²/(λf)
(and the focus it makes), and the exp(ikz) factor of the Fresnel transfer function at a
distance where it is not 1."""

import math

import numpy as np
import pytest
import torch

from optics import Field, Grid
from optics.functional import asm_propagate, fresnel_propagate, thin_lens, thin_lens_phase
from optics.functional.propagation import fresnel_transfer_function


def _coords(n, d):
    # pixel centres symmetric about the axis, written out independently of Grid
    return (np.arange(n) - (n - 1) / 2) * d


@pytest.mark.parametrize("f", [0.2e-3, -0.37e-3])
def test_thin_lens_phase_is_minus_pi_r2_over_lambda_f(f):
    lam, grid = 0.633e-6, Grid((40, 64), (1.1e-6, 0.9e-6))
    y, x = _coords(40, 1.1e-6), _coords(64, 0.9e-6)
    expected = -np.pi * (y[:, None] ** 2 + x[None, :] ** 2) / (lam * f)
    got = thin_lens_phase(grid, lam, f).numpy()
    # a 1 % error in f changes the corner phase by ≈ 0.01·|φ| ≫ 1e-9 rad
    assert np.abs(expected).max() > 10
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # the lens applied to a plane wave carries exactly this phase
    out = thin_lens(Field.plane_wave(grid, lam, dtype=torch.complex128), f)
    np.testing.assert_allclose(out.data.numpy(), np.exp(1j * expected), rtol=0, atol=1e-12)


def _on_axis_closed_form(z, f, a, lam):
    """Fresnel on-axis intensity behind a uniformly lit thin lens of focal length f and pupil
    radius a (unit input): U(0, z) = e^{ikz}/(iλz) ∫0^a exp(iπr²q/λ) 2πr dr with q = 1/z − 1/f,
    so I(z) = 4 sin²(πa²q/(2λ)) / (z q)² (→ (πa²/(λf))² at z = f)."""
    q = 1 / z - 1 / f
    with np.errstate(invalid="ignore", divide="ignore"):
        return 4 * np.sin(np.pi * a**2 * q / (2 * lam)) ** 2 / (z * q) ** 2


def _parabola_peak(zs, values):
    i = int(np.argmax(values))
    assert 0 < i < len(zs) - 1
    c = np.polyfit(zs[i - 1:i + 2], values[i - 1:i + 2], 2)
    return -c[1] / (2 * c[0])


def test_thin_lens_focus_matches_the_closed_form_to_a_fraction_of_a_percent():
    # Fresnel number N = a²/(λf) ≈ 8.3: the on-axis maximum sits ≈ 1.8 % before f (focal
    # shift); the simulated maximum must match the closed form's to 0.3 %, so a 1 % error in
    # the lens's focal length is caught
    lam, n, d = 1e-6, 256, 1e-6
    f, a = 1.2e-3, 100e-6
    field = thin_lens(Field.plane_wave(Grid(n, d), lam, dtype=torch.complex128), f, aperture_radius=a)
    zs = f * np.linspace(0.95, 1.02, 15)
    sim = np.array([float(asm_propagate(field, float(z)).intensity()[n // 2 - 1:n // 2 + 1,
                                                                     n // 2 - 1:n // 2 + 1].mean()) for z in zs])
    fine = f * np.linspace(0.95, 1.02, 7001)
    ref_peak = fine[np.nanargmax(_on_axis_closed_form(fine, f, a, lam))]  # (0/0 at z = f exactly)
    assert 0.975 < ref_peak / f < 0.99  # the focal shift is real, and of the size expected
    assert abs(_parabola_peak(zs, sim) / ref_peak - 1) < 0.003
    # and the peak intensity is the closed form's (pixelated pupil: a few percent)
    assert sim.max() == pytest.approx(_on_axis_closed_form(ref_peak, f, a, lam), rel=0.05)


def test_fresnel_transfer_function_carries_exp_ikz_at_dc():
    lam, grid = 1e-6, Grid(32, 2e-6)
    z = 200.37 * lam  # kz mod 2π = 0.37·2π: exp(ikz) is far from 1; z < M d²/λ = 256 λ
    h = fresnel_transfer_function(grid, lam, z, dtype=torch.complex128)
    m = grid.padded_shape(2)
    fy = np.fft.fftfreq(m[0], d=2e-6)[:, None]
    fx = np.fft.fftfreq(m[1], d=2e-6)[None, :]
    expected = np.exp(1j * 2 * np.pi * z / lam) * np.exp(-1j * np.pi * lam * z * (fx**2 + fy**2))
    np.testing.assert_allclose(h.numpy(), expected, rtol=0, atol=1e-9)
    assert abs(complex(h[0, 0]) - 1) > 1  # the DC value is exp(ikz), not 1


def test_fresnel_and_angular_spectrum_agree_as_complex_fields_in_the_paraxial_regime():
    # a smooth Gaussian (waist 20λ) over z/λ = 200.3 (< M d²/λ = 256): paraxial error ~ (θ²)²·kz/8 ≪ 1e-2, and
    # the common factor exp(ikz) (phase 0.3·2π) must be there in both
    lam, grid = 1e-6, Grid(128, 1e-6)
    field = Field.gaussian(grid, lam, 20e-6, dtype=torch.complex128)
    z = 200.3 * lam
    a = asm_propagate(field, z).data
    b = fresnel_propagate(field, z).data
    rel = float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(a))
    assert rel < 1e-2, rel
    # without exp(ikz) the two would differ by |1 − exp(i 0.6π)| ≈ 1.6
    assert float(torch.linalg.vector_norm(a - b * np.exp(-2j * np.pi * 200.3)) /
                 torch.linalg.vector_norm(a)) > 0.5
