"""The FFT seam's CPU backends are twins of torch.fft: values and gradients agree.

No timing thresholds here; speed is measured in bench/ (docs/performance.md).
"""

from __future__ import annotations

import pytest
import torch

from optics import Field, FreeSpace, Grid, _fft
from optics.functional import asm_propagate, asm_transfer_function, fresnel_propagate, rs_propagate

CPU_BACKENDS = [b for b in ("scipy", "pyfftw") if _fft.is_available(b)[0]]
DTYPES = [torch.complex64, torch.complex128]
SHAPES = [((3, 8, 8), None), ((2, 1, 7, 9), (14, 18)), ((5, 6), (11, 13)), ((4, 5, 12), (5, 12))]
LAM, PITCH = 0.75e-3, 0.4e-3


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == torch.complex64 else dict(rtol=1e-10, atol=1e-10)


def _rand(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, dtype=dtype, generator=g)


def _grads(fn, *inputs):
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    w = _rand(out.shape, out.dtype, seed=9)
    (out * w.conj()).real.sum().backward()
    return out.detach(), [t.grad for t in leaves]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,s", SHAPES)
def test_fft2_matches_torch(backend, dtype, shape, s):
    x = _rand(shape, dtype)
    ref, (gref,) = _grads(lambda t: _fft.fft2(t, s=s, backend="torch"), x)
    out, (g,) = _grads(lambda t: _fft.fft2(t, s=s, backend=backend), x)
    assert out.dtype == dtype and g.dtype == dtype
    torch.testing.assert_close(out, ref, **_tol(dtype))
    torch.testing.assert_close(g, gref, **_tol(dtype))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,s", SHAPES)
def test_ifft2_matches_torch(backend, dtype, shape, s):
    x = _rand(shape, dtype)
    ref, (gref,) = _grads(lambda t: _fft.ifft2(t, backend="torch"), x)
    out, (g,) = _grads(lambda t: _fft.ifft2(t, backend=backend), x)
    assert out.dtype == dtype
    torch.testing.assert_close(out, ref, **_tol(dtype))
    torch.testing.assert_close(g, gref, **_tol(dtype))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,s", [(sh, s) for sh, s in SHAPES if s is not None] + [((2, 8, 8), (8, 8))])
def test_filter_matches_torch_values_and_gradients(backend, dtype, shape, s):
    x, h = _rand(shape, dtype), _rand(s, dtype, seed=1)
    ref, gref = _grads(lambda a, b: _fft.filter2(a, b, backend="torch"), x, h)
    out, g = _grads(lambda a, b: _fft.filter2(a, b, backend=backend), x, h)
    assert out.dtype == dtype and out.shape == x.shape
    torch.testing.assert_close(out, ref, **_tol(dtype))
    for a, b in zip(g, gref):
        torch.testing.assert_close(a, b, **_tol(dtype))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_filter_gradient_without_transfer_grad(backend):
    x, h = _rand((2, 5, 6), torch.complex128), _rand((10, 12), torch.complex128, seed=1)
    xr = x.clone().requires_grad_(True)
    xf = x.clone().requires_grad_(True)
    (_fft.filter2(xr, h, backend="torch").abs() ** 2).sum().backward()
    (_fft.filter2(xf, h, backend=backend).abs() ** 2).sum().backward()
    torch.testing.assert_close(xf.grad, xr.grad)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_gradcheck_complex128(backend):
    x = _rand((2, 4, 5), torch.complex128).requires_grad_(True)
    h = _rand((7, 9), torch.complex128, seed=1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: _fft.filter2(a, b, backend=backend), (x, h))
    assert torch.autograd.gradcheck(lambda a: _fft.fft2(a, s=(6, 7), backend=backend), (x,))
    assert torch.autograd.gradcheck(lambda a: _fft.ifft2(a, backend=backend), (x,))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_real_input_and_noncontiguous_and_conj(backend):
    x = torch.randn(3, 6, 10, dtype=torch.float64)
    torch.testing.assert_close(_fft.fft2(x, s=(8, 12), backend=backend), torch.fft.fft2(x, s=(8, 12)))
    z = _rand((3, 10, 6), torch.complex64).transpose(-1, -2).conj()  # strided view with conj bit
    torch.testing.assert_close(_fft.ifft2(z, backend=backend), torch.fft.ifft2(z), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_propagators_match_torch_backend(backend, dtype):
    grid = Grid((24, 20), PITCH)
    x = _rand((2, 24, 20), dtype)
    for prop, z in ((asm_propagate, 0.004), (fresnel_propagate, 0.004), (rs_propagate, 0.004)):
        kw = dict(check_sampling=False)
        ref, (gref,) = _grads(lambda t: prop(Field(t, grid, LAM), z, fft_backend="torch", **kw).data, x)
        out, (g,) = _grads(lambda t: prop(Field(t, grid, LAM), z, fft_backend=backend, **kw).data, x)
        torch.testing.assert_close(out, ref, **_tol(dtype))
        torch.testing.assert_close(g, gref, **_tol(dtype))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_distance_gradient_matches_torch(backend):
    grid = Grid(16, PITCH)
    x = _rand((2, 16, 16), torch.complex128)

    def grad(b):
        z = torch.tensor(0.01, dtype=torch.float64, requires_grad=True)
        asm_propagate(Field(x, grid, LAM), z, fft_backend=b).intensity().sum().backward()
        return z.grad

    torch.testing.assert_close(grad(backend), grad("torch"))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_freespace_module_backend(backend):
    grid = Grid(32, PITCH)
    x = _rand((3, 32, 32), torch.complex64)
    ref = FreeSpace(grid, LAM, 0.02, check_sampling=False, fft_backend="torch")(Field(x, grid, LAM)).data
    out = FreeSpace(grid, LAM, 0.02, check_sampling=False, fft_backend=backend)(Field(x, grid, LAM)).data
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_auto_resolution_and_env_override(monkeypatch):
    x = torch.zeros(2, 2, dtype=torch.complex64)
    monkeypatch.delenv(_fft.ENV_VAR, raising=False)
    assert _fft.resolve_backend("auto", x) == "torch"  # small: per-call overhead dominates
    big = torch.zeros(_fft.AUTO_MIN_BATCH, 1, 1, dtype=torch.complex64)
    assert _fft.resolve_backend("auto", big, s=(1024, 1024)) == "scipy"  # bare transform
    planned = "pyfftw" if _fft.is_available("pyfftw")[0] else "scipy"
    assert _fft.resolve_backend("auto", big, s=(1024, 1024), op="filter") == planned
    assert _fft.resolve_backend("auto", big[:1], s=(1 << 12, 1 << 12)) == "torch"  # one transform
    assert _fft.resolve_backend("auto", big.to("meta"), s=(1024, 1024)) == "torch"  # not CPU
    assert _fft.resolve_backend("torch", x) == "torch"
    monkeypatch.setenv(_fft.ENV_VAR, "torch")
    assert _fft.resolve_backend("auto", big, s=(1024, 1024)) == "torch"
    monkeypatch.setenv(_fft.ENV_VAR, "scipy")
    assert _fft.resolve_backend("auto", x) == "scipy"
    assert _fft.resolve_backend("scipy", x) == "scipy"  # explicit choice wins over the variable
    monkeypatch.setenv(_fft.ENV_VAR, "fftw3")
    with pytest.raises(ValueError, match="ONNSIM_FFT_BACKEND.*choose one of"):
        _fft.resolve_backend("auto", x)


def test_auto_uses_the_cpu_backend_for_large_transforms(monkeypatch):
    monkeypatch.delenv(_fft.ENV_VAR, raising=False)
    monkeypatch.setattr(_fft, "AUTO_MIN_ELEMENTS", 64)
    monkeypatch.setattr(_fft, "AUTO_FILTER_MIN_ELEMENTS", 64)
    monkeypatch.setattr(_fft, "AUTO_MIN_BATCH", 2)
    x = _rand((2, 4, 4), torch.complex128).requires_grad_(True)
    h = _rand((8, 8), torch.complex128, seed=1)
    fn = _fft.filter2(x, h).grad_fn.__class__.__name__
    assert fn.startswith("_ChunkedFilter" if _fft.is_available("pyfftw")[0] else "_Filter"), fn
    if _fft.is_available("pyfftw")[0]:  # the planned filter serves a single field too
        assert _fft.filter2(x[:1], h).grad_fn.__class__.__name__.startswith("_ChunkedFilter")
    assert _fft.fft2(x, s=(8, 8)).grad_fn.__class__.__name__.startswith("_FFT2")
    torch.testing.assert_close(_fft.filter2(x, h), _fft.filter2(x, h, backend="torch"))


def test_unknown_backend_is_a_clear_error():
    x = torch.zeros(2, 4, 4, dtype=torch.complex64)
    with pytest.raises(ValueError, match="unknown FFT backend 'mkl'.*choose one of"):
        _fft.fft2(x, backend="mkl")
    with pytest.raises(ValueError, match="unknown FFT backend"):
        FreeSpace(Grid(4, PITCH), LAM, 0.01, fft_backend="mkl")
    with pytest.raises(ValueError, match="unknown FFT backend"):
        asm_propagate(Field(x, Grid(4, PITCH), LAM), 0.001, fft_backend="numpy")


def test_unavailable_backend_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(_fft._MISSING, "pyfftw", "pyfftw is not installed (test)")
    monkeypatch.delitem(_fft._IMPLS, "pyfftw", raising=False)
    assert _fft.is_available("pyfftw") == (False, "pyfftw is not installed (test)")
    assert "pyfftw" not in _fft.available()
    x = torch.zeros(2, 4, 4, dtype=torch.complex64)
    with pytest.raises(RuntimeError, match="'pyfftw' is unavailable.*choose one of"):
        _fft.filter2(x, torch.ones(8, 8, dtype=torch.complex64), backend="pyfftw")
    with pytest.raises(RuntimeError, match="unavailable"):
        FreeSpace(Grid(4, PITCH), LAM, 0.01, fft_backend="pyfftw")


def test_bad_thread_count():
    x = torch.zeros(2, 4, 4, dtype=torch.complex64)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        _fft.fft2(x, backend="scipy", threads=0)
    torch.testing.assert_close(_fft.fft2(x + 1, backend="scipy", threads=1), torch.fft.fft2(x + 1))


def test_empty_batch_and_dtype_mismatch_fall_back_to_torch():
    h = asm_transfer_function(Grid(4, PITCH), LAM, 0.001)
    empty = torch.zeros(0, 4, 4, dtype=torch.complex64)
    assert _fft.filter2(empty, h, backend="scipy").shape == (0, 4, 4)
    x = _rand((2, 4, 4), torch.complex128)
    torch.testing.assert_close(_fft.filter2(x, h, backend="scipy"), _fft.filter2(x, h, backend="torch"))


@pytest.mark.skipif(not _fft.is_available("pyfftw")[0], reason="pyfftw not installed")
def test_planned_workspaces_never_alias_results():
    """The planned FFTW filter reuses one workspace per shape: results must be fresh tensors,
    and a chain of layers sharing the workspace must equal the torch chain (values, grads)."""
    x = _rand((3, 16, 12), torch.complex128, seed=3).requires_grad_(True)
    hs = [_rand((32, 24), torch.complex128, seed=s) for s in (4, 5, 6)]
    y1 = _fft.filter2(x, hs[0], backend="pyfftw")
    first = y1.detach().clone()
    y2 = _fft.filter2(x, hs[1], backend="pyfftw")  # same shape: same workspace
    torch.testing.assert_close(y1.detach(), first, rtol=0, atol=0)
    assert y2.data_ptr() != y1.data_ptr()

    def chain(backend):
        u = x
        for h in hs:
            u = _fft.filter2(u * (1 + 0.5j), h, backend=backend)
        return u
    a, b = chain("pyfftw"), chain("torch")
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    g = _rand(a.shape, torch.complex128, seed=7)
    (ga,) = torch.autograd.grad(a, x, g)
    (gb,) = torch.autograd.grad(b, x, g)
    torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-10)
