"""``torch.library.opcheck`` of every ``onnsim::`` custom operator on CPU, with NumPy standing
in for the CuPy runtime (the ``fake_runtime`` fixture of test_ops_glue.py): schema
(no hidden mutation or aliasing), autograd registration, fake (meta) implementations
against the real outputs, and AOT dispatch with dynamic shapes (forward and backward traced
through the fake implementations, then run and compared with eager). Plus: a function that
calls the operators compiles without graph breaks, and its gradients equal the torch
references. The GPU variants (``-m gpu``) run the same checks on the real kernels."""

from __future__ import annotations

import pytest
import torch

import cupy_kernels
from cupy_kernels import ops
from cupy_kernels.reference import filter_reference, mesh_columns_reference, phase_modulate_reference
from test_ops_glue import fake_runtime  # noqa: F401  (fixture)

OPCHECK_TESTS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


def _c(gen, *shape, dtype=torch.complex128, device="cpu", grad=False):
    return torch.randn(*shape, generator=gen, dtype=dtype).to(device).requires_grad_(grad)


def _r(gen, *shape, dtype=torch.float64, device="cpu", grad=False, scale=1.0):
    return (torch.rand(*shape, generator=gen, dtype=dtype) * scale).to(device).requires_grad_(grad)


def samples(gen, device="cpu"):
    """(operator name, args) covering each operator's flags, both precisions."""
    out = []
    for cd, rd in ((torch.complex128, torch.float64), (torch.complex64, torch.float32)):
        kw = dict(dtype=cd, device=device)
        x, h = _c(gen, 2, 3, 6, 5, grad=True, **kw), _c(gen, 12, 11, grad=True, **kw)
        out += [
            ("filter2", (x, h, [1.5, -0.25], False, True)),  # x and h gradients, shift ramp
            ("filter2", (x, h.detach(), None, False, False)),  # x gradient only: no spectrum kept
            ("filter2", (x.detach(), h.detach(), [0.5, 2.0], True, True)),  # the adjoint (backward's call)
        ]
        u = _c(gen, 2, 7, 8, grad=True, **kw)
        lut = _r(gen, 6, dtype=rd, device=device, scale=0.2)
        p_win = _r(gen, 4, 5, dtype=rd, device=device, grad=True, scale=10.0)
        p_full = _r(gen, 7, 8, dtype=rd, device=device, grad=True, scale=10.0)
        g = _c(gen, 2, 7, 8, **kw)
        out += [
            ("phase_modulate", (u, p_win, lut, [2, 1], True, 8, 0.9, 0.2)),  # window, block, quantized, LUT
            ("phase_modulate", (u, p_full, None, [0, 0], False, 0, 1.0, 0.0)),  # ideal response
            ("phase_modulate", (u, p_full.detach(), None, [0, 0], False, 0, 1.0, 0.0)),  # field gradient only
            ("phase_modulate_backward", (g, u.detach(), p_win.detach(), lut, [2, 1], True, 8, 0.9, 0.2, True, True)),
            ("phase_modulate_backward", (g, None, p_full.detach(), None, [0, 0], False, 0, 1.0, 0.0, True, False)),
            ("phase_modulate_backward", (g, u.detach(), p_full.detach(), lut, [0, 0], False, 3, 1.1, 0.0, False,
                                         True)),
        ]
        state, t = _c(gen, 4, 6, grad=True, **kw), (_c(gen, 5, 3, 2, 2, **kw) / 2).requires_grad_()
        states = _c(gen, 5, 4, 6, **kw)
        out += [
            ("mesh_columns", (state, t, True)),
            ("mesh_columns", (state, t.detach(), False)),
            ("mesh_columns_backward", (_c(gen, 4, 6, **kw), t.detach(), states)),
            ("mesh_columns_backward", (_c(gen, 4, 6, **kw), t.detach(), None)),
        ]
    return out


def _ids():
    names = [n for n, _ in samples(torch.Generator().manual_seed(0))]
    return [f"{n}-{i}" for i, n in enumerate(names)]


def test_every_operator_is_covered():
    assert {n for n, _ in samples(torch.Generator().manual_seed(0))} == set(ops.OPS)
    for name in ops.OPS:
        assert getattr(torch.ops.onnsim, name).default._schema.name == f"onnsim::{name}"


@pytest.mark.parametrize("index", range(len(_ids())), ids=_ids())
def test_opcheck_cpu_standin(fake_runtime, index):  # noqa: F811
    name, args = samples(torch.Generator().manual_seed(index))[index]
    torch.library.opcheck(getattr(torch.ops.onnsim, name), args, test_utils=OPCHECK_TESTS)


def _chain(x, h, phase, lut, state, t):
    """Filter → phase modulation (window, quantized LUT response) → filter, and a mesh."""
    y = ops._filter(x, h, (0.5, -1.0), None)
    y = ops._phase(y, phase, (1, 2), "block", 8, 0.9, 0.1, lut)
    y = ops._filter(y, h, None, None)
    return y, ops._mesh(state, t)


def _chain_reference(x, h, phase, lut, state, t):
    y = filter_reference(x, h, (0.5, -1.0))
    y = phase_modulate_reference(y, phase, origin=(1, 2), outside="block", levels=8, gain=0.9, offset=0.1, lut=lut)
    return filter_reference(y, h), mesh_columns_reference(state, t)


def _chain_inputs(gen, device="cpu"):
    return (_c(gen, 3, 6, 7, grad=True, device=device), _c(gen, 12, 14, grad=True, device=device),
            _r(gen, 4, 3, grad=True, scale=7.0, device=device), _r(gen, 5, scale=0.2, device=device),
            _c(gen, 4, 8, grad=True, device=device), (_c(gen, 5, 4, 2, 2, device=device) / 2).requires_grad_())


def _loss(outs):
    return sum((o.abs() ** 2).sum() + o.real.sum() for o in outs)


def _compiled_matches_reference(inputs, tol, backend="aot_eager"):
    import torch._dynamo as dynamo

    torch._dynamo.reset()
    explain = dynamo.explain(_chain)(*inputs)
    assert explain.graph_break_count == 0, [b.reason for b in explain.break_reasons]
    assert explain.graph_count == 1
    compiled = torch.compile(_chain, backend=backend, fullgraph=True, dynamic=False)
    a = [v.detach().clone().requires_grad_(v.requires_grad) for v in inputs]
    b = [v.detach().clone().requires_grad_(v.requires_grad) for v in inputs]
    out, ref = compiled(*a), _chain_reference(*b)
    for o, r in zip(out, ref):
        torch.testing.assert_close(o, r, **tol)
    wants = [i for i, v in enumerate(inputs) if v.requires_grad]
    ga = torch.autograd.grad(_loss(out), [a[i] for i in wants])
    gb = torch.autograd.grad(_loss(ref), [b[i] for i in wants])
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, **tol)


def test_compiled_operators_have_no_graph_breaks_and_reference_gradients(fake_runtime, generator):  # noqa: F811
    """Dynamo traces through the operators (fake implementations) in one graph; AOTAutograd
    traces their backward; the compiled function's values and gradients equal the torch
    references."""
    _compiled_matches_reference(_chain_inputs(generator), dict(atol=1e-10, rtol=1e-10))
    assert {name for name, *_ in fake_runtime} >= {"pad_copy", "phase_mod_fwd", "phase_mod_bwd", "mesh_fwd",
                                                   "mesh_bwd"}


@pytest.mark.slow  # inductor's code generation: about 45 s on the 2-core CI machine
def test_inductor_compiled_operators_have_reference_gradients(fake_runtime, generator):  # noqa: F811
    """The same chain through inductor (the default backend; the operators become extern
    calls in the generated code)."""
    _compiled_matches_reference(_chain_inputs(generator), dict(atol=1e-10, rtol=1e-10), backend="inductor")


def test_backward_is_not_differentiable_again(fake_runtime, generator):  # noqa: F811
    """As with the former autograd Functions (once_differentiable): differentiating a
    gradient again raises instead of silently missing terms."""
    x, h = _c(generator, 2, 4, 5, grad=True), _c(generator, 8, 9, grad=True)
    u, p = _c(generator, 2, 5, 6, grad=True), _r(generator, 5, 6, grad=True)
    state, t = _c(generator, 3, 6, grad=True), _c(generator, 4, 3, 2, 2, grad=True)
    for out, inputs in ((ops._filter(x, h, None, None), (x, h)),
                        (ops._phase(u, p, (0, 0), "transmit", 0, 1.0, 0.0, None), (u, p)),
                        (ops._mesh(state, t), (state, t))):
        grads = torch.autograd.grad((out.abs() ** 2).sum(), inputs, create_graph=True)
        with pytest.raises(RuntimeError, match="differentiate twice"):
            sum(g.abs().sum() for g in grads).backward()


def test_availability_probe_is_a_constant_to_dynamo():
    """Dispatch asks ``is_available()`` under ``torch.compile`` too (CUDA tensors): dynamo
    must take the probe's result as a constant, not trace ``import cupy`` (a graph break)."""
    import torch._dynamo as dynamo

    def f(x):
        return x + 1 if cupy_kernels.is_available() else x - 1

    dynamo.reset()
    x = torch.ones(3)
    out = torch.compile(f, backend="eager", fullgraph=True)(x)
    torch.testing.assert_close(out, x + 1 if cupy_kernels.is_available() else x - 1)
    dynamo.reset()


# -- GPU: the same checks on the real kernels ----------------------------------------------
def _needs_cupy():
    if not cupy_kernels.is_available():
        pytest.skip(f"CuPy kernels unavailable: {cupy_kernels.why_unavailable()}")


@pytest.mark.gpu
@pytest.mark.parametrize("index", range(len(_ids())), ids=_ids())
def test_opcheck_gpu(index):
    _needs_cupy()
    name, args = samples(torch.Generator().manual_seed(index), device="cuda")[index]
    torch.library.opcheck(getattr(torch.ops.onnsim, name), args, test_utils=OPCHECK_TESTS)


@pytest.mark.gpu
def test_compiled_operators_gpu(generator):
    _needs_cupy()
    _compiled_matches_reference(_chain_inputs(generator, "cuda"), dict(atol=1e-9, rtol=1e-9))


@pytest.mark.gpu
def test_compiled_d2nn_step_on_the_kernels_gpu(generator):
    """A D2NN step with every PhaseMask/FreeSpace on the CuPy kernels compiles into one graph
    (custom operators, no break) and matches the eager torch path."""
    _needs_cupy()
    import torch._dynamo as dynamo
    from optics import Field, FreeSpace, Grid, OpticalSystem, PhaseMask

    grid = Grid(32, 0.4e-3)

    def build(backend):
        g = torch.Generator().manual_seed(0)
        layers = []
        for i in range(3):
            layers += [PhaseMask(grid, active_shape=(24, 20), init="uniform", generator=g, backend=backend),
                       FreeSpace(grid, 0.75e-3, 0.02 + 0.005 * i, backend=backend, validate=False)]
        return OpticalSystem(*layers).cuda()

    x = _c(generator, 4, 32, 32, dtype=torch.complex64, device="cuda")
    target = torch.rand(4, 32, 32, generator=generator).cuda()
    grads = []
    for backend, compile_it in (("cupy", True), ("torch", False)):
        model = build(backend)

        def step(x, target):
            return ((model(Field(x, grid, 0.75e-3)).intensity() - target) ** 2).mean()

        if compile_it:
            dynamo.reset()
            explain = dynamo.explain(step)(x, target)
            assert explain.graph_break_count == 0, [b.reason for b in explain.break_reasons]
            dynamo.reset()
            step = torch.compile(step, backend="aot_eager", fullgraph=True)
        loss = step(x, target)
        loss.backward()
        grads.append((loss.detach(), [p.grad for p in model.parameters()]))
    (l1, g1), (l2, g2) = grads
    torch.testing.assert_close(l1, l2, atol=1e-5, rtol=1e-4)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
