"""Invariants of propagation: Parseval, ±z round trip, composition, adjoint, agreement of
independent propagators, Fraunhofer far field."""

import math

import numpy as np
import pytest
import torch

from optics import Field, FreeSpace, Grid
from optics.functional import (asm_propagate, fraunhofer_propagate, fresnel_propagate, rectangular_aperture,
                               rs_propagate)
from optics.testing import assert_power_conserved, relative_l2

C128 = torch.complex128
LAM = 1e-6


def _gaussian(grid, w0, dtype=C128, center=(0.0, 0.0), tilt=0.0):
    yy, xx = grid.meshgrid()
    u = torch.exp(-((yy - center[0]) ** 2 + (xx - center[1]) ** 2) / w0**2) * torch.exp(
        1j * 2 * math.pi * tilt * xx)
    return Field(u.to(dtype), grid, LAM)


def _random_field(grid, generator, dtype=C128, batch=()):
    re = torch.randn(*batch, *grid.shape, generator=generator, dtype=torch.float64)
    im = torch.randn(*batch, *grid.shape, generator=generator, dtype=torch.float64)
    return Field(torch.complex(re, im).to(dtype), grid, LAM)


@pytest.mark.parametrize("method", ["asm", "fresnel", "rs"])
def test_power_conserved_for_band_limited_field(method, cdtype):
    # A Gaussian (w0 = 10 µm, λ = 1 µm) well inside a 128 µm window carries all its power in
    # propagating, in-band waves: every propagator must conserve ∑|u|²dA. Tolerance: 1e-6 in
    # complex128 (required bound; we see ~1e-12), 1e-5 in complex64 (float32 sums of 65k terms).
    grid = Grid(256, 0.5e-6)
    field = _gaussian(grid, 10e-6, dtype=cdtype)
    fn = {"asm": asm_propagate, "fresnel": fresnel_propagate, "rs": rs_propagate}[method]
    out = fn(field, 100e-6)
    assert out.dtype == cdtype
    tol = 1e-6 if cdtype == C128 else 1e-5
    if method == "rs":
        tol = max(tol, 2e-4)  # sampled RS kernel: midpoint quadrature of a 1/r² peak
    assert_power_conserved(field, out, rtol=tol)


def test_round_trip_plus_minus_z():
    # Backward propagation inverts forward propagation on the kept band (H(−z) = conj H(z)).
    grid = Grid(128, 1e-6)
    field = _gaussian(grid, 8e-6, tilt=5e4)
    back = asm_propagate(asm_propagate(field, 150e-6), -150e-6)
    assert relative_l2(back.data, field.data) <= 1e-10


def test_composition_z1_plus_z2():
    grid = Grid(128, 1e-6)
    field = _gaussian(grid, 10e-6, center=(5e-6, -8e-6))
    two_steps = asm_propagate(asm_propagate(field, 70e-6), 130e-6)
    one_step = asm_propagate(field, 200e-6)
    assert relative_l2(two_steps.data, one_step.data) <= 1e-10


def test_adjoint_identity_and_autograd(generator):
    # A = crop ∘ IFFT ∘ H ∘ FFT ∘ pad has adjoint crop ∘ IFFT ∘ conj(H) ∘ FFT ∘ pad, and on
    # the propagating band conj(H(z)) = H(−z): <A u, v> = <u, A(−z) v> for ANY u, v (not
    # band-limited, random), to rounding. Autograd's vector-Jacobian product must equal A^H v.
    grid = Grid((48, 40), 0.7e-6)
    u = _random_field(grid, generator)
    v = _random_field(grid, generator)
    z = 30e-6
    au = asm_propagate(u, z, check_sampling=False).data
    ahv = asm_propagate(v, -z, check_sampling=False).data
    lhs = torch.vdot(v.data.flatten(), au.flatten())
    rhs = torch.vdot(ahv.flatten(), u.data.flatten())
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)
    x = u.data.clone().requires_grad_(True)
    out = asm_propagate(Field(x, grid, LAM), z, check_sampling=False).data
    (grad,) = torch.autograd.grad(out, x, grad_outputs=v.data)
    assert relative_l2(grad, ahv) <= 1e-12


def test_rayleigh_sommerfeld_agrees_with_angular_spectrum():
    # Both are exact scalar solutions for the given plane, computed independently (a sampled
    # impulse response vs a sampled transfer function). By Poisson summation the DFT of the
    # sampled RS kernel is the ASM transfer function plus aliases H(f + n/d); with pitch
    # d = λ/4 those are evanescent, damped by exp(−2π√15 z/λ) at z = 40 λ, and the Gaussian
    # (w0 = 4 λ) stays inside the window: agreement to rounding (measured 3e-14).
    grid = Grid(192, 0.25e-6)
    field = _gaussian(grid, 4e-6)
    a = asm_propagate(field, 40e-6).data
    r = rs_propagate(field, 40e-6).data
    assert relative_l2(r, a) <= 1e-9


def test_fresnel_agrees_with_angular_spectrum_in_paraxial_regime():
    # w0 = 50 λ: paraxial error ~ (λ/(π w0))² ≈ 4e-5 (measured 8e-6).
    grid = Grid(256, 4e-6)
    field = _gaussian(grid, 50e-6)
    a = asm_propagate(field, 5e-3).data
    f = fresnel_propagate(field, 5e-3).data
    assert relative_l2(f, a) <= 1e-3


def _fraunhofer_square_error(pitch, n, half_width, z, pad):
    grid = Grid(n, pitch)
    field = Field(rectangular_aperture(grid, 2 * half_width).to(C128), grid, LAM)
    out = fraunhofer_propagate(field, z, pad_factor=pad)
    yo, xo = out.grid.coords()
    k = 2 * math.pi / LAM
    lobe = LAM * z / (2 * half_width)
    roi_y, roi_x = yo.abs() <= 2 * lobe, xo.abs() <= 2 * lobe
    yy, xx = torch.meshgrid(yo[roi_y], xo[roi_x], indexing="ij")
    # U = exp(ikz) exp(ik r²/2z)/(iλz) · (2a)² sinc(2a x/(λz)) sinc(2a y/(λz)) (Goodman §4.4.1)
    ref = (torch.exp(1j * k * (z + (xx**2 + yy**2) / (2 * z))) / (1j * LAM * z) * (2 * half_width) ** 2
           * torch.sinc(2 * half_width * xx / (LAM * z)) * torch.sinc(2 * half_width * yy / (LAM * z)))
    got = out.data[roi_y][:, roi_x]
    return relative_l2(got, ref)


def test_fraunhofer_square_aperture_is_sinc():
    # a = 20 pixels: the DFT is a midpoint-rule quadrature with endpoint error ≈
    # (π x·2a/(λz))²/(24 m²)·… ≈ 1e-3 within two lobes.
    assert _fraunhofer_square_error(1e-6, 64, 20e-6, 0.05, 8) <= 2e-3  # measured 8e-4


def test_fraunhofer_converges_quadratically_with_pitch():
    # Same aperture and output region, pitch halved: the midpoint error must drop ≈ 4×.
    e1 = _fraunhofer_square_error(1e-6, 64, 20e-6, 0.05, 8)
    e2 = _fraunhofer_square_error(0.5e-6, 128, 20e-6, 0.05, 8)
    slope = math.log(e1 / e2) / math.log(2)
    assert 1.7 <= slope <= 2.3, (e1, e2, slope)


def test_fraunhofer_grid_pitch():
    grid = Grid((32, 48), (1e-6, 2e-6))
    field = Field(torch.ones(grid.shape, dtype=C128), grid, LAM)
    out = fraunhofer_propagate(field, 0.1, pad_factor=2)
    assert out.grid.shape == (64, 96)
    assert out.grid.pitch == pytest.approx((LAM * 0.1 / (64 * 1e-6), LAM * 0.1 / (96 * 2e-6)))


def test_freespace_module_matches_functional_and_caches(cdtype):
    grid = Grid(64, 0.5e-6)
    field = _gaussian(grid, 4e-6, dtype=cdtype)
    for method, fn in (("asm", asm_propagate), ("fresnel", fresnel_propagate), ("rs", rs_propagate)):
        layer = FreeSpace(grid, LAM, 20e-6, method=method, dtype=cdtype)
        assert "transfer" not in layer.state_dict()  # non-persistent buffer
        assert torch.equal(layer(field).data, fn(field, 20e-6).data)
    # a field in the other precision rebuilds the transfer function in that precision
    other = torch.complex128 if cdtype == torch.complex64 else torch.complex64
    layer = FreeSpace(grid, LAM, 20e-6, dtype=cdtype)
    assert layer(field.to(other)).dtype == other


def test_batched_equals_looped(generator):
    grid = Grid(32, 1e-6)
    fields = _random_field(grid, generator, batch=(3, 2))
    out = asm_propagate(fields, 20e-6, check_sampling=False).data
    for i in range(3):
        for j in range(2):
            single = asm_propagate(Field(fields.data[i, j], grid, LAM), 20e-6, check_sampling=False).data
            assert torch.allclose(out[i, j], single, atol=1e-12)


def test_differentiable_distance_gradient_matches_finite_difference():
    grid = Grid(48, 1e-6)
    field = _gaussian(grid, 6e-6)
    z0 = 40e-6

    def loss(z):
        out = asm_propagate(field, z).data
        return (out.real[20:28, 20:28] ** 2).sum()  # depends on the propagation phase

    z = torch.tensor(z0, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(loss(z), z)
    h = 1e-10
    fd = (loss(z0 + h) - loss(z0 - h)) / (2 * h)
    assert float(g) == pytest.approx(float(fd), rel=1e-5)


def test_transfer_function_cache_is_not_corrupted_by_callers():
    from optics.functional import asm_transfer_function
    grid = Grid(16, 1e-6)
    h1 = asm_transfer_function(grid, LAM, 10e-6)
    h1.zero_()
    h2 = asm_transfer_function(grid, LAM, 10e-6)
    assert h2.abs().max() > 0.5
    np.testing.assert_allclose(h2.abs().max().item(), 1.0, rtol=1e-6)


def test_empty_batch_propagates_to_an_empty_batch():
    grid = Grid(16, 0.5e-6)
    out = asm_propagate(Field(torch.zeros(0, 16, 16, dtype=torch.complex64), grid, LAM), 2e-6)
    assert out.data.shape == (0, 16, 16)
