"""The CuPy kernels against their torch references on a GPU: forward and gradients in
complex64 and complex128, ``gradcheck`` in float64, the adjoint identity of the propagation
backward, the dispatch through the library (``backend="cupy"`` vs ``"torch"``), torch streams.

Marked ``gpu``: opt in with ``-m gpu``; skipped without CUDA or CuPy
(``pip install -e .[gpu]``)."""

from __future__ import annotations

import pytest
import torch

import cupy_kernels
from cupy_kernels.reference import filter_reference, mesh_columns_reference, phase_modulate_reference

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.skipif(not cupy_kernels.is_available(),
                       reason=f"needs CuPy on a CUDA device: {cupy_kernels.why_unavailable()}"),
]

CUDA = torch.device("cuda")


def _tol(dtype):
    return dict(atol=2e-5, rtol=2e-5) if dtype == torch.complex64 else dict(atol=1e-11, rtol=1e-11)


def _crandn(gen, *shape, dtype=torch.complex128):
    return torch.randn(*shape, generator=gen, dtype=dtype).to(CUDA)


def _grads(fn, inputs, g):
    inputs = [t.detach().clone().requires_grad_() for t in inputs]
    out = fn(*inputs)
    return out.detach(), torch.autograd.grad(out, inputs, g)


def _assert_close_scaled(a, b, dtype):
    """Sums over the batch/FFT length scale the error: compare relative to the largest entry."""
    scale = float(b.abs().max()) or 1.0
    tol = 5e-5 if dtype == torch.complex64 else 1e-11
    torch.testing.assert_close(a / scale, b / scale, atol=tol, rtol=0)


# -- propagation filter ---------------------------------------------------------------------
@pytest.mark.parametrize("shift", [None, (1.5, -2.25)])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_filter_matches_reference(cdtype, batch, shift, generator):
    x = _crandn(generator, *batch, 20, 24, dtype=cdtype)
    h = _crandn(generator, 40, 47, dtype=cdtype)
    g = _crandn(generator, *batch, 20, 24, dtype=cdtype)
    out, (gx, gh) = _grads(lambda a, b: cupy_kernels.filter2(a, b, shift=shift), (x, h), g)
    ref, (rx, rh) = _grads(lambda a, b: filter_reference(a, b, shift), (x, h), g)
    _assert_close_scaled(out, ref, cdtype)
    _assert_close_scaled(gx, rx, cdtype)
    _assert_close_scaled(gh, rh, cdtype)


def test_filter_gradcheck(generator):
    x = _crandn(generator, 2, 5, 6).requires_grad_()
    h = _crandn(generator, 10, 11).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: cupy_kernels.filter2(a, b, shift=(0.4, 1.3)), (x, h))
    assert torch.autograd.gradcheck(lambda a: cupy_kernels.filter2(a, h.detach()), (x,))


@pytest.mark.parametrize("shift", [None, (2.5, 0.75)])
def test_filter_backward_is_the_adjoint(shift, generator):
    """<A x, y> = <x, A^H y> with A^H y from the hand-written backward, and A^H is the same
    filter with conj(H) and the opposite shift."""
    x = _crandn(generator, 3, 16, 18)
    y = _crandn(generator, 3, 16, 18)
    h = _crandn(generator, 32, 36)
    xr = x.clone().requires_grad_()
    ax = cupy_kernels.filter2(xr, h, shift=shift)
    ahy, = torch.autograd.grad(ax, xr, y)
    lhs = torch.vdot(y.flatten(), ax.detach().flatten())
    rhs = torch.vdot(ahy.flatten(), x.flatten())
    assert abs(complex(lhs - rhs)) <= 1e-10 * abs(complex(lhs))
    back = None if shift is None else (-shift[0], -shift[1])
    torch.testing.assert_close(ahy, cupy_kernels.filter2(y, h.conj(), shift=back), atol=1e-12, rtol=1e-12)


def test_filter_spectrum_check_sees_the_padded_spectrum_and_odd_inputs_work(generator):
    base = _crandn(generator, 2, 12, 9, dtype=torch.complex64)
    x = base.transpose(-1, -2).conj()  # non-contiguous, conj bit set
    h = _crandn(generator, 17, 25, dtype=torch.complex64)
    seen = []
    out = cupy_kernels.filter2(x, h, spectrum_check=lambda s: seen.append(s.clone()))
    torch.testing.assert_close(seen[0], torch.fft.fft2(x, s=(17, 25)), atol=1e-4, rtol=1e-4)
    _assert_close_scaled(out, filter_reference(x, h), torch.complex64)


def test_asm_propagate_and_free_space_dispatch(cdtype, generator):
    from optics import Field, FreeSpace, Grid
    from optics.functional import asm_propagate

    grid = Grid(32, 0.4e-3)
    x = _crandn(generator, 4, 32, 32, dtype=cdtype)
    f = Field(x, grid, 0.75e-3)
    for z in (0.02, -0.01):
        a = asm_propagate(f, z, backend="cupy", check_sampling=False).data
        b = asm_propagate(f, z, backend="torch", check_sampling=False).data
        _assert_close_scaled(a, b, cdtype)
        c = asm_propagate(f, z, backend="auto", check_sampling=False).data
        assert torch.equal(a, c)  # auto takes the kernel for CUDA tensors
    fs = FreeSpace(grid, 0.75e-3, 0.02, dtype=cdtype, check_sampling=False, backend="cupy").to(CUDA)
    ft = FreeSpace(grid, 0.75e-3, 0.02, dtype=cdtype, check_sampling=False, backend="torch").to(CUDA)
    _assert_close_scaled(fs(f).data, ft(f).data, cdtype)


def test_differentiable_distance_goes_through_the_kernel(generator):
    from optics import Field, Grid
    from optics.functional import asm_propagate

    grid = Grid(16, 0.4e-3)
    f = Field(_crandn(generator, 2, 16, 16), grid, 0.75e-3)
    grads = []
    for backend in ("cupy", "torch"):
        z = torch.tensor(0.02, dtype=torch.float64, device=CUDA, requires_grad=True)
        asm_propagate(f, z, backend=backend, check_sampling=False).intensity().sum().backward()
        grads.append(z.grad)
    torch.testing.assert_close(grads[0], grads[1], atol=0, rtol=1e-9)


# -- phase modulation -----------------------------------------------------------------------
@pytest.mark.parametrize("case", ["ideal_full", "window_transmit", "window_block", "quantized_lut"])
def test_phase_modulate_matches_reference(cdtype, case, generator):
    ny, nx = 24, 20
    rdtype = torch.float32 if cdtype == torch.complex64 else torch.float64
    kw = dict(origin=(0, 0), outside="transmit")
    shape = (ny, nx)
    if case.startswith("window"):
        shape, kw = (11, 13), dict(origin=(5, 4), outside=case.split("_")[1])
    if case == "quantized_lut":
        kw.update(levels=8, gain=0.9, offset=0.1,
                  lut=(torch.randn(16, generator=generator, dtype=torch.float64) * 0.2).to(CUDA))
    u = _crandn(generator, 3, ny, nx, dtype=cdtype)
    phase = (torch.rand(*shape, generator=generator, dtype=torch.float64) * 12 - 4).to(CUDA, rdtype)
    g = _crandn(generator, 3, ny, nx, dtype=cdtype)
    out, (gu, gp) = _grads(lambda a, p: cupy_kernels.phase_modulate(a, p, **kw), (u, phase), g)
    ref, (ru, rp) = _grads(lambda a, p: phase_modulate_reference(a, p, **kw), (u, phase), g)
    tol = _tol(cdtype)
    torch.testing.assert_close(out, ref, **tol)
    torch.testing.assert_close(gu, ru, **tol)
    _assert_close_scaled(gp, rp, cdtype)


def test_phase_modulate_gradcheck(generator):
    u = _crandn(generator, 2, 6, 7).requires_grad_()
    phase = torch.rand(4, 5, generator=generator, dtype=torch.float64).to(CUDA).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, p: cupy_kernels.phase_modulate(a, p, origin=(1, 2), outside="block"), (u, phase))
    lut = torch.randn(8, generator=generator, dtype=torch.float64).to(CUDA) * 0.1
    assert torch.autograd.gradcheck(
        lambda a, p: cupy_kernels.phase_modulate(a, p, origin=(1, 1), gain=1.1, offset=0.2, lut=lut), (u, phase))


def test_phase_mask_dispatch(cdtype, generator):
    from optics import Field, Grid, PhaseMask

    grid = Grid((20, 18), 1e-5)
    u = _crandn(generator, 2, 20, 18, dtype=cdtype)
    grads = {}
    outs = {}
    for backend in ("cupy", "torch"):
        m = PhaseMask(grid, active_shape=(12, 10), init="uniform", outside="block",
                      generator=torch.Generator().manual_seed(5), backend=backend).to(CUDA)
        out = m(Field(u, grid, 5e-7)).data
        out.abs().square().mul(torch.linspace(0, 1, 18, device=CUDA)).sum().backward()
        outs[backend], grads[backend] = out.detach(), m.phase.grad
    torch.testing.assert_close(outs["cupy"], outs["torch"], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(grads["cupy"], grads["torch"], atol=1e-4, rtol=1e-4)


# -- mesh columns ---------------------------------------------------------------------------
@pytest.mark.parametrize("n_cols, pairs, batch", [(8, 4, 5), (64, 32, 300), (7, 3, 1), (3, 200, 17)])
def test_mesh_columns_match_reference(cdtype, n_cols, pairs, batch, generator):
    state = _crandn(generator, batch, 2 * pairs, dtype=cdtype)
    t = _crandn(generator, n_cols, pairs, 2, 2, dtype=cdtype) / 2
    g = _crandn(generator, batch, 2 * pairs, dtype=cdtype)
    out, (gs, gt) = _grads(cupy_kernels.mesh_columns, (state, t), g)
    ref, (rs, rt) = _grads(mesh_columns_reference, (state, t), g)
    _assert_close_scaled(out, ref, cdtype)
    _assert_close_scaled(gs, rs, cdtype)
    _assert_close_scaled(gt, rt, cdtype)


def test_mesh_columns_gradcheck(generator):
    state = _crandn(generator, 3, 6).requires_grad_()
    t = _crandn(generator, 5, 3, 2, 2).requires_grad_()
    # the block gradients are summed over the batch with atomics: order-dependent last bits
    assert torch.autograd.gradcheck(cupy_kernels.mesh_columns, (state, t), nondet_tol=1e-12)


@pytest.mark.parametrize("n", [64, 7])
def test_mesh_forward_dispatch_with_errors(n, generator):
    from photonics import ClementsMesh
    from photonics.errors import sample_mesh_errors

    mesh = ClementsMesh(n, generator=generator, dtype=torch.float64, output_phases=True).to(CUDA)
    errors = sample_mesh_errors(mesh, bs_sigma=0.05, ps_sigma=0.02, loss_db=0.1, crosstalk=0.01,
                                generator=generator, dtype=torch.float64)
    x = _crandn(generator, 2, 9, n)
    results = {}
    for key, kw in {"cupy": dict(method="columns", backend="cupy"),
                    "columns": dict(method="columns", backend="torch"), "matrix": {}}.items():
        mesh.zero_grad()
        y = mesh(x, errors, **kw)
        y.abs().square().sum().backward()
        results[key] = (y.detach(), mesh.theta.grad.clone(), mesh.phi.grad.clone(), mesh.input_phases.grad.clone())
    for a, b in zip(results["cupy"], results["columns"]):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(results["cupy"][0], results["matrix"][0], atol=1e-10, rtol=1e-10)


# -- streams --------------------------------------------------------------------------------
def test_kernels_run_on_torchs_current_stream(generator):
    """Work queued on a side stream is ordered with torch ops on that stream (no race)."""
    x = _crandn(generator, 8, 64, 64, dtype=torch.complex64)
    h = _crandn(generator, 128, 128, dtype=torch.complex64)
    expect = filter_reference(x, h)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        y = x * 2  # queued on the side stream just before the kernel reads it
        out = cupy_kernels.filter2(y, h) / 2
    torch.cuda.current_stream().wait_stream(side)
    _assert_close_scaled(out, expect, torch.complex64)
