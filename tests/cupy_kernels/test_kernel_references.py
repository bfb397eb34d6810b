"""The torch references in ``cupy_kernels.reference`` (what the GPU kernels are tested
against) agree with the library code they stand in for, on CPU."""

from __future__ import annotations

import math

import pytest
import torch

from cupy_kernels.reference import (applied_phase_reference, filter_reference, mesh_columns_reference,
                                    phase_modulate_reference, shift_ramp)
from hardware.diffractive import applied_phase
from hardware.errors import DiffractiveErrors
from optics import Field, FreeSpace, Grid, PhaseMask
from optics import _fft
from optics.functional import asm_transfer_function
from photonics import ClementsMesh, ReckMesh
from photonics import _engine
from photonics.errors import sample_mesh_errors


def _crandn(gen, *shape, dtype=torch.complex128):
    return torch.randn(*shape, generator=gen, dtype=dtype)


def test_filter_reference_equals_the_fft_seam_filter(cdtype, generator):
    x = _crandn(generator, 3, 12, 10, dtype=cdtype)
    h = _crandn(generator, 24, 20, dtype=cdtype)
    tol = 1e-5 if cdtype == torch.complex64 else 1e-12
    torch.testing.assert_close(filter_reference(x, h), _fft.filter2(x, h, backend="torch"), atol=tol, rtol=tol)


def test_filter_reference_equals_free_space(generator):
    grid = Grid(16, 0.4e-3)
    fs = FreeSpace(grid, 0.75e-3, 0.03, dtype=torch.complex128, check_sampling=False)
    x = _crandn(generator, 2, 16, 16)
    h = asm_transfer_function(grid, 0.75e-3, 0.03, dtype=torch.complex128)
    torch.testing.assert_close(filter_reference(x, h), fs(Field(x, grid, 0.75e-3)).data, atol=1e-12, rtol=0)


def test_shift_ramp_integer_shift_rolls_the_padded_plane(generator):
    """An integer shift (sy, sx) of the ramp equals torch.roll of the padded, filtered plane:
    the sign convention of optics.functional.shift (content moves towards +y, +x)."""
    x = _crandn(generator, 2, 6, 7)
    h = _crandn(generator, 12, 14)
    padded = torch.fft.ifft2(torch.fft.fft2(x, s=(12, 14)) * h)
    expect = torch.roll(padded, (3, -2), dims=(-2, -1))[..., :6, :7]
    torch.testing.assert_close(filter_reference(x, h, shift=(3, -2)), expect, atol=1e-12, rtol=0)
    r = shift_ramp((12, 14), 0.3, 0.7, dtype=torch.complex128)
    torch.testing.assert_close(r.abs(), torch.ones(12, 14, dtype=torch.float64))


@pytest.mark.parametrize("outside", ["transmit", "block"])
@pytest.mark.parametrize("active", [None, (5, 3)])
def test_phase_reference_equals_phase_mask(outside, active, cdtype, generator):
    grid = Grid((9, 8), 1e-5)
    mask = PhaseMask(grid, active_shape=active, init="uniform", outside=outside, generator=generator)
    u = _crandn(generator, 2, 9, 8, dtype=cdtype)
    origin = (mask._sy.start or 0, mask._sx.start or 0)
    ref = phase_modulate_reference(u, mask.phase, origin=origin, outside=outside)
    tol = 1e-6 if cdtype == torch.complex64 else 1e-6  # PhaseMask computes t in float32
    torch.testing.assert_close(ref, mask(Field(u, grid, 5e-7)).data, atol=tol, rtol=tol)


def test_applied_phase_reference_equals_hardware_response(generator):
    """Quantization (straight-through), gain, offset and LUT as hardware.diffractive applies them."""
    lut = torch.randn(1, 12, generator=generator, dtype=torch.float64) * 0.2
    errors = DiffractiveErrors(torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, dtype=torch.float64),
                               torch.zeros(1, dtype=torch.float64), torch.tensor([0.95], dtype=torch.float64),
                               torch.tensor([0.3], dtype=torch.float64), lut, torch.zeros(2, dtype=torch.float64),
                               phase_bits=4)
    phase = (torch.rand(7, 6, generator=generator, dtype=torch.float64) * 20 - 7).requires_grad_()
    hw = applied_phase(phase, errors, 0)
    ref = applied_phase_reference(phase, levels=16, gain=0.95, offset=0.3, lut=lut[0])
    torch.testing.assert_close(ref, hw, atol=1e-12, rtol=0)
    g = torch.randn(7, 6, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(torch.autograd.grad(ref, phase, g)[0], torch.autograd.grad(hw, phase, g)[0])
    assert applied_phase_reference(phase) is phase  # ideal response: the phase itself


@pytest.mark.parametrize("mesh_cls, n", [(ClementsMesh, 6), (ClementsMesh, 7), (ReckMesh, 5)])
def test_mesh_reference_equals_engine_and_mesh_matrix(mesh_cls, n, generator):
    mesh = mesh_cls(n, generator=generator, dtype=torch.float64)
    errors = sample_mesh_errors(mesh, bs_sigma=0.05, ps_sigma=0.02, loss_db=0.1, generator=generator,
                                dtype=torch.float64)
    t = mesh.transfers(errors)
    n_pad = 2 * t.shape[1]
    x = _crandn(generator, 4, n_pad)
    torch.testing.assert_close(mesh_columns_reference(x, t), _engine.apply_columns(x.T, t).T, atol=1e-12, rtol=0)
    eye = torch.eye(n_pad, dtype=torch.complex128)
    u = mesh_columns_reference(eye, t).T[:n, :n] * torch.polar(torch.ones(n, dtype=torch.float64),
                                                               mesh.input_phases.detach())
    torch.testing.assert_close(u, mesh.matrix(errors).detach(), atol=1e-12, rtol=0)
    # a partial sweep composes: columns [0, k) then [k, L)
    k = t.shape[0] // 2
    torch.testing.assert_close(mesh_columns_reference(mesh_columns_reference(x, t, 0, k), t, k),
                               mesh_columns_reference(x, t), atol=1e-12, rtol=0)
    assert math.isclose(float(mesh_columns_reference(x, t[:0]).sub(x).abs().max()), 0.0)
