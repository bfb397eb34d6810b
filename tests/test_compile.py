"""``torch.compile`` of the simulator on CPU: the FFT seam's ``"auto"`` takes torch.fft while
dynamo traces, and a D2NN training step (PhaseMask/FreeSpace layers, loss, backward),
ideal and under the diffractive error model, compiles into one graph: no graph breaks
(``torch._dynamo.explain``), values and gradients equal to eager. The GPU variant (CuPy
custom operators inside the compiled step) is in tests/cupy_kernels/test_custom_ops.py.

The step compiled is forward + loss; ``loss.backward()`` then runs the backward graph that
AOTAutograd compiled with it (dynamo does not trace a ``.backward()`` call itself)."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo as dynamo

from optics import _fft


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    dynamo.reset()
    yield
    dynamo.reset()


def test_auto_fft_backend_is_torch_while_compiling(monkeypatch, generator):
    """Without the check the forced CPU backend (a numpy/FFTW call) breaks the graph and
    ``fullgraph=True`` raises."""
    monkeypatch.setenv(_fft.ENV_VAR, "scipy")
    x = torch.randn(4, 6, 5, dtype=torch.complex128, generator=generator)
    h = torch.randn(12, 10, dtype=torch.complex128, generator=generator)
    assert _fft.resolve_backend("auto", x, (12, 10), op="filter") == "scipy"  # eager: the CPU backend

    def f(x, h):
        return _fft.filter2(x, h), _fft.fft2(x, (12, 10)), _fft.ifft2(h)

    out = torch.compile(f, backend="eager", fullgraph=True)(x, h)
    expect = (torch.fft.ifft2(torch.fft.fft2(x, s=(12, 10)) * h)[..., :6, :5], torch.fft.fft2(x, s=(12, 10)),
              torch.fft.ifft2(h))
    for o, e in zip(out, expect):
        torch.testing.assert_close(o, e, atol=1e-12, rtol=0)


# -- a D2NN training step ------------------------------------------------------------------
LAM, PITCH, N = 0.75e-3, 0.4e-3, 16


def _d2nn(generator, *, n_layers=3, dtype=torch.complex128):
    from optics import FreeSpace, Grid, OpticalSystem, PhaseMask

    grid = Grid(N, PITCH)
    rdtype = torch.float64 if dtype == torch.complex128 else torch.float32
    layers = []
    for i in range(n_layers):
        layers += [PhaseMask(grid, active_shape=(12, 10), init="uniform", generator=generator, dtype=rdtype,
                             outside="block" if i == 1 else "transmit"),
                   FreeSpace(grid, LAM, 0.02 + 0.005 * i, dtype=dtype, validate=False)]
    return OpticalSystem(*layers)


def _inputs(generator, dtype=torch.complex128):
    x = torch.randn(3, N, N, generator=generator, dtype=dtype)
    target = torch.rand(3, N, N, generator=generator, dtype=torch.float64).to(x.real.dtype)
    return x, target


def _explain_and_compile(step, args):
    explain = dynamo.explain(step)(*args)
    assert explain.graph_break_count == 0, [b.reason for b in explain.break_reasons]
    assert explain.graph_count == 1
    dynamo.reset()
    return torch.compile(step, backend="aot_eager", fullgraph=True)


def test_d2nn_step_compiles_into_one_graph_with_reference_loss_and_gradients(generator):
    """Forward + loss traced by dynamo into one graph (no break: FFT seam on torch.fft, no host
    reads), the backward compiled by AOTAutograd; loss and phase gradients equal an
    independent torch formulation (the kernels' references: phase modulation, then the
    zero-padded transfer-function filter per layer)."""
    from cupy_kernels.reference import filter_reference, phase_modulate_reference
    from optics import Field, FreeSpace, PhaseMask
    from optics.functional import asm_transfer_function

    model = _d2nn(generator)
    grid = model[0].grid
    x, target = _inputs(generator)

    def step(x, target):
        out = model(Field(x, grid, LAM))
        return ((out.intensity() - target) ** 2).mean()

    compiled = _explain_and_compile(step, (x, target))
    loss = compiled(x, target)
    loss.backward()
    masks = [m for m in model.layers if isinstance(m, PhaseMask)]
    got = [m.phase.grad.clone() for m in masks]

    phases = [m.phase.detach().clone().requires_grad_() for m in masks]
    y = x
    for layer in model.layers:
        if isinstance(layer, PhaseMask):
            y = phase_modulate_reference(y, phases[masks.index(layer)], outside=layer.outside,
                                         origin=(layer._sy.start, layer._sx.start))
        else:
            assert isinstance(layer, FreeSpace)
            y = filter_reference(y, asm_transfer_function(grid, LAM, layer.distance, dtype=torch.complex128))
    ref = ((y.real ** 2 + y.imag ** 2 - target) ** 2).mean()
    torch.testing.assert_close(loss.detach(), ref.detach(), atol=1e-12, rtol=1e-10)
    for g, r in zip(got, torch.autograd.grad(ref, phases)):
        torch.testing.assert_close(g, r, atol=1e-12, rtol=1e-10)


@pytest.mark.slow  # about 25 s of tracing on the 2-core CI machine
def test_d2nn_step_under_the_error_model_compiles_into_one_graph(generator):
    """The same step through DiffractivePhysics with every diffractive error on (shifts,
    rotations, gaps, quantized gain/offset/LUT response, crosstalk, fill factor, input
    shift): no graph break, and the compiled loss and gradients equal eager DiffractivePhysics."""
    from hardware.diffractive import DiffractivePhysics
    from hardware.errors import DiffractiveErrorModel
    from optics import Field, PhaseMask

    model = _d2nn(generator, dtype=torch.complex64)
    grid = model[0].grid
    em = DiffractiveErrorModel(shift_std=0.3 * PITCH, rotation_std=0.02, gap_std=1e-3, phase_gain_std=0.05,
                               phase_offset_std=0.1, lut_nonlinearity=0.1, phase_bits=4, crosstalk_px=0.7,
                               fill_factor=0.9, input_shift_std=0.2 * PITCH)
    physics = DiffractivePhysics(model, em.sample(3, generator=generator))
    x, target = _inputs(generator, torch.complex64)

    def step(x, target):
        out, _ = physics.forward(Field(x, grid, LAM))
        return ((out.intensity() - target) ** 2).mean()

    compiled = _explain_and_compile(step, (x, target))
    masks = [m for m in model.layers if isinstance(m, PhaseMask)]
    results = []
    for fn in (compiled, step):
        for m in masks:
            m.phase.grad = None
        loss = fn(x, target)
        loss.backward()
        results.append((loss.detach(), [m.phase.grad.clone() for m in masks]))
    (lc, gc), (le, ge) = results
    torch.testing.assert_close(lc, le, atol=1e-6, rtol=1e-5)
    for a, b in zip(gc, ge):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
