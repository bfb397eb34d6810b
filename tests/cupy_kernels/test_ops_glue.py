"""CPU run of the custom operators in ``cupy_kernels.ops`` with the CuPy runtime replaced by
NumPy stand-ins: every launch is checked against the kernel's CUDA signature (parsed from
the source: argument count, pointer vs scalar, int vs long long vs the precision's float
type) and executed by a NumPy transcription of the kernel; cuFFT is ``numpy.fft``
(unnormalised both ways, in place). This exercises the operators' glue — argument order,
saved tensors, shapes, flags, the gradients they return — against the torch references,
including ``gradcheck``. The real kernels are compared on a GPU by test_gpu_kernels.py."""

from __future__ import annotations

import contextlib
import math
import re

import numpy as np
import pytest
import torch

from cupy_kernels import _runtime, _sources, ops
from cupy_kernels.reference import filter_reference, mesh_columns_reference, phase_modulate_reference

TWO_PI = 2 * math.pi


def _signature(group: str, name: str, prec: str) -> list[str]:
    src = _sources.source(group, prec)
    kname = _sources.kernel_name(name, prec)
    m = re.search(r'extern "C" __global__ void ' + kname + r"\((.*?)\)\s*\{", src, re.S)
    assert m, kname
    kinds = []
    for p in m.group(1).split(","):
        p = " ".join(p.split())
        if "*" in p:
            kinds.append("ptr")
        elif p.startswith("long long"):
            kinds.append("i64")
        elif p.startswith("int"):
            kinds.append("i32")
        elif p.startswith(("float", "double", "REAL")):  # REAL: the precision's float type
            kinds.append(p.split()[0].replace("REAL", _sources.PRECISIONS[prec][0]))
        else:
            raise AssertionError(f"unknown parameter {p!r} of {kname}")
    return kinds


def _check_args(group, name, prec, args):
    kinds = _signature(group, name, prec)
    assert len(args) == len(kinds), f"{name}: {len(args)} arguments for {len(kinds)} parameters"
    want = {"i32": np.int32, "i64": np.int64, "float": np.float32, "double": np.float64}
    for i, (a, k) in enumerate(zip(args, kinds)):
        if k == "ptr":
            assert isinstance(a, np.ndarray), f"{name} arg {i}: expected an array, got {type(a)}"
            assert a.flags["C_CONTIGUOUS"], f"{name} arg {i}: not contiguous"
        else:
            assert type(a) is want[k], f"{name} arg {i}: expected {want[k].__name__}, got {type(a).__name__}"


# -- NumPy transcriptions of the kernels (flat memory, as the CUDA code sees it) -----------------
def _fftfreq_signed(m):
    k = np.arange(m)
    return np.where(k < (m + 1) // 2, k, k - m) / m


def k_pad_copy(x, buf, b, ny, nx, my, mx):  # buf (My, B, Mx)
    v = buf.reshape(my, b, mx)
    v[...] = 0
    v[:ny, :, :nx] = x.reshape(b, ny, nx).transpose(1, 0, 2)


def k_crop_copy(buf, out, b, ny, nx, my, mx):
    out.reshape(b, ny, nx)[...] = buf.reshape(my, b, mx)[:ny, :, :nx].transpose(1, 0, 2)


def k_tf_multiply(spec, h, b, my, mx, sy, sx, use_ramp, conj, scale):
    f = h.reshape(my, mx).astype(spec.dtype)
    if use_ramp:
        f = f * np.exp(-1j * TWO_PI * (_fftfreq_signed(my)[:, None] * sy + _fftfreq_signed(mx)[None, :] * sx))
    if conj:
        f = np.conj(f)
    spec.reshape(my, b, mx)[...] *= (f * scale).astype(spec.dtype)[:, None, :]


def _applied(phi, response, levels, gain, offset, lut, k):
    if not response:
        return phi, np.ones_like(phi)
    w = phi - TWO_PI * np.floor(phi / TWO_PI)
    w = np.where(w >= TWO_PI, w - TWO_PI, w)
    if levels > 0:
        q = np.rint(w / TWO_PI * levels)
        q = q - levels * np.floor(q / levels)
        w = q * (TWO_PI / levels)
    out, d = gain * w + offset, np.full_like(w, gain)
    if k > 0:
        u = w / TWO_PI * k
        fl = np.floor(u)
        i0 = (fl.astype(int) % k + k) % k
        i1 = (i0 + 1) % k
        frac = u - fl
        out = out + lut[i0] * (1 - frac) + lut[i1] * frac
        d = d + (lut[i1] - lut[i0]) * (k / TWO_PI)
    return out, d


def _plane_t(phase, ny, nx, ay, ax, oy, ox, block, resp):
    phi, d = _applied(phase.reshape(ay, ax).astype(np.float64), *resp)
    t = np.full((ny, nx), 0j if block else 1 + 0j)
    dd = np.zeros((ny, nx))
    t[oy:oy + ay, ox:ox + ax] = np.exp(1j * phi)
    dd[oy:oy + ay, ox:ox + ax] = d
    return t, dd


def k_phase_mod_fwd(u, phase, out, b, ny, nx, ay, ax, oy, ox, block, response, levels, gain, offset, lut, k):
    t, _ = _plane_t(phase, ny, nx, ay, ax, oy, ox, block, (response, levels, gain, offset, lut, k))
    out.reshape(b, ny, nx)[...] = u.reshape(b, ny, nx) * t


def k_phase_mod_bwd(g, u, phase, gu, gphase, want_gu, want_gp, b, ny, nx, ay, ax, oy, ox, block, response, levels,
                    gain, offset, lut, k):
    t, d = _plane_t(phase, ny, nx, ay, ax, oy, ox, block, (response, levels, gain, offset, lut, k))
    g3 = g.reshape(b, ny, nx)
    if want_gu:
        gu.reshape(b, ny, nx)[...] = g3 * np.conj(t)
    if want_gp:
        v = np.conj(g3) * (u.reshape(b, ny, nx) * t)
        gphase.reshape(ay, ax)[...] = (-v.imag.sum(0) * d)[oy:oy + ay, ox:ox + ax]


def _pairs(col, pairs):
    a = 2 * np.arange(pairs) + (col & 1)
    return a, np.where(a + 1 == 2 * pairs, 0, a + 1)


def k_mesh_fwd(state, t, saved, save, b, pairs, c0, c1):
    s = state.reshape(b, 2 * pairs)
    tt = t.reshape(-1, pairs, 4)
    for col in range(c0, c1):
        if save:
            saved.reshape(-1, b, 2 * pairs)[col] = s
        a, c = _pairs(col, pairs)
        xa, xc = s[:, a].copy(), s[:, c].copy()
        s[:, a] = tt[col, :, 0] * xa + tt[col, :, 1] * xc
        s[:, c] = tt[col, :, 2] * xa + tt[col, :, 3] * xc


def k_mesh_bwd(grad, t, saved, gt, want_gt, b, pairs, c0, c1):
    g = grad.reshape(b, 2 * pairs)
    tt = t.reshape(-1, pairs, 4)
    if want_gt:
        gtc = gt.view(np.complex64 if gt.dtype == np.float32 else np.complex128).reshape(-1, pairs, 4)
        sv = saved.reshape(-1, b, 2 * pairs)
    for col in range(c1 - 1, c0 - 1, -1):
        a, c = _pairs(col, pairs)
        ga, gc = g[:, a].copy(), g[:, c].copy()
        if want_gt:
            sa, sc = sv[col][:, a], sv[col][:, c]
            gtc[col, :, 0] += (ga * np.conj(sa)).sum(0)
            gtc[col, :, 1] += (ga * np.conj(sc)).sum(0)
            gtc[col, :, 2] += (gc * np.conj(sa)).sum(0)
            gtc[col, :, 3] += (gc * np.conj(sc)).sum(0)
        g[:, a] = np.conj(tt[col, :, 0]) * ga + np.conj(tt[col, :, 2]) * gc
        g[:, c] = np.conj(tt[col, :, 1]) * ga + np.conj(tt[col, :, 3]) * gc


_KERNELS = {"pad_copy": k_pad_copy, "crop_copy": k_crop_copy, "tf_multiply": k_tf_multiply,
            "phase_mod_fwd": k_phase_mod_fwd, "phase_mod_bwd": k_phase_mod_bwd,
            "mesh_fwd": k_mesh_fwd, "mesh_bwd": k_mesh_bwd}


@pytest.fixture
def fake_runtime(monkeypatch):
    """Replace the CuPy side of cupy_kernels._runtime by NumPy on CPU tensors."""
    launches = []

    def kernel(group, name, prec, device):
        def launch(grid, block, args, shared_mem=0):
            _check_args(group, name, prec, args)
            launches.append((name, grid, block, shared_mem))
            _KERNELS[name](*[a.item() if isinstance(a, np.generic) else a for a in args])

        return launch

    def fft_pruned(buf, my, b, mx, ny, device, inverse):
        """What the two pruned cuFFT passes do to the (My, B, Mx) buffer."""
        assert buf.shape == (my, b, mx) and buf.flags["C_CONTIGUOUS"]
        if inverse:
            buf[...] = np.fft.ifft(buf, axis=0) * my
            buf[:ny] = np.fft.ifft(buf[:ny], axis=-1) * mx
            buf[ny:] = np.nan  # left half-transformed by the real pass: must never be read
        else:
            assert not buf[ny:].any(), "rows skipped by the row pass must be zero"
            buf[:ny] = np.fft.fft(buf[:ny], axis=-1)
            buf[...] = np.fft.fft(buf, axis=0)

    monkeypatch.setattr(_runtime, "kernel", kernel)
    monkeypatch.setattr(_runtime, "fft_pruned", fft_pruned)
    monkeypatch.setattr(_runtime, "as_cupy", lambda t: t.detach().numpy())
    monkeypatch.setattr(_runtime, "on_torch_stream", lambda device: contextlib.nullcontext(0))
    return launches


def _c(gen, *shape, dtype=torch.complex128):
    return torch.randn(*shape, generator=gen, dtype=dtype)


def _check_grads(fn, ref, inputs, gen, tol):
    a = [t.detach().clone().requires_grad_() for t in inputs]
    b = [t.detach().clone().requires_grad_() for t in inputs]
    out, expect = fn(*a), ref(*b)
    torch.testing.assert_close(out, expect, **tol)
    g = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    for x, y in zip(torch.autograd.grad(out, a, g), torch.autograd.grad(expect, b, g)):
        torch.testing.assert_close(x, y, **tol)


TOL = {torch.complex64: dict(atol=2e-4, rtol=2e-4), torch.complex128: dict(atol=1e-10, rtol=1e-10)}


@pytest.mark.parametrize("shift", [None, (1.5, -0.25)])
def test_filter_function_glue(fake_runtime, cdtype, shift, generator):
    x = _c(generator, 2, 3, 6, 5, dtype=cdtype)
    h = _c(generator, 12, 11, dtype=cdtype)
    _check_grads(lambda a, b: ops._filter(a, b, shift, None), lambda a, b: filter_reference(a, b, shift),
                 (x, h), generator, TOL[cdtype])
    names = [n for n, *_ in fake_runtime]
    assert names[:3] == ["pad_copy", "tf_multiply", "crop_copy"]


def test_filter_function_gradcheck_and_spectrum_check(fake_runtime, generator):
    x = _c(generator, 2, 4, 5).requires_grad_()
    h = _c(generator, 8, 9).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: ops._filter(a, b, (0.3, 0.7), None), (x, h))
    seen = []
    ops._filter(x.detach(), h.detach(), None, lambda s: seen.append(s.clone()))
    torch.testing.assert_close(seen[0], torch.fft.fft2(x.detach(), s=(8, 9)))


@pytest.mark.parametrize("case", ["ideal", "window_block", "quantized_lut"])
def test_phase_function_glue(fake_runtime, cdtype, case, generator):
    rdtype = torch.float32 if cdtype == torch.complex64 else torch.float64
    u = _c(generator, 2, 7, 8, dtype=cdtype)
    kw, shape = dict(origin=(0, 0), outside="transmit"), (7, 8)
    if case == "window_block":
        kw, shape = dict(origin=(2, 1), outside="block"), (4, 5)
    if case == "quantized_lut":
        kw.update(levels=8, gain=0.9, offset=0.2, lut=torch.randn(6, generator=generator, dtype=torch.float64) * 0.2)
    phase = (torch.rand(*shape, generator=generator, dtype=torch.float64) * 10 - 3).to(rdtype)
    # the public function refuses CPU tensors; past its device check it calls this
    call = lambda a, p: ops._phase(a, p, kw["origin"], kw["outside"], kw.get("levels", 0),  # noqa: E731
                                   kw.get("gain", 1.0), kw.get("offset", 0.0), kw.get("lut"))
    _check_grads(call,
                 lambda a, p: phase_modulate_reference(a, p, **kw), (u, phase), generator, TOL[cdtype])


def test_phase_function_gradcheck(fake_runtime, generator):
    u = _c(generator, 2, 5, 6).requires_grad_()
    p = torch.rand(3, 4, generator=generator, dtype=torch.float64).requires_grad_()
    lut = torch.randn(5, generator=generator, dtype=torch.float64) * 0.1
    assert torch.autograd.gradcheck(
        lambda a, q: torch.ops.onnsim.phase_modulate(a, q, lut, [1, 1], True, 0, 1.2, 0.1), (u, p))


@pytest.mark.parametrize("n_cols, pairs, batch", [(6, 3, 4), (1, 1, 2), (9, 5, 3)])
def test_mesh_function_glue(fake_runtime, cdtype, n_cols, pairs, batch, generator):
    state = _c(generator, batch, 2 * pairs, dtype=cdtype)
    t = _c(generator, n_cols, pairs, 2, 2, dtype=cdtype) / 2
    _check_grads(ops._mesh, mesh_columns_reference, (state, t), generator, TOL[cdtype])
    (name, grid, block, shared), = [ln for ln in fake_runtime if ln[0] == "mesh_fwd"][:1]
    assert grid[0] * block[1] >= batch and block[0] * block[1] <= 1024
    assert shared == block[1] * 2 * pairs * (8 if cdtype == torch.complex64 else 16)


def test_mesh_function_gradcheck(fake_runtime, generator):
    state = _c(generator, 3, 6).requires_grad_()
    t = _c(generator, 4, 3, 2, 2).requires_grad_()
    assert torch.autograd.gradcheck(ops._mesh, (state, t))


def test_partial_gradients_take_the_dummy_buffers(fake_runtime, generator):
    """Inputs that need no gradient: the operators pass 1-element placeholders and 0 flags."""
    u = _c(generator, 2, 5, 6).requires_grad_()
    p = torch.rand(5, 6, generator=generator, dtype=torch.float64)  # no grad
    out = ops._phase(u, p, (0, 0), "transmit", 0, 1.0, 0.0, None)
    g = _c(generator, 2, 5, 6)
    gu, = torch.autograd.grad(out, u, g)
    torch.testing.assert_close(gu, g * torch.polar(torch.ones_like(p), -p))
    state = _c(generator, 3, 8).requires_grad_()
    t = _c(generator, 5, 4, 2, 2)  # no grad: no saved states
    out = ops._mesh(state, t)
    gs, = torch.autograd.grad(out, state, g.new_ones(3, 8))
    ref = state.detach().clone().requires_grad_()
    gr, = torch.autograd.grad(mesh_columns_reference(ref, t), ref, g.new_ones(3, 8))
    torch.testing.assert_close(gs, gr)
    x = _c(generator, 2, 4, 4)
    h = _c(generator, 8, 8).requires_grad_()
    out = ops._filter(x, h, None, None)
    gh, = torch.autograd.grad(out, h, torch.ones_like(out))
    hr = h.detach().clone().requires_grad_()
    ghr, = torch.autograd.grad(filter_reference(x, hr), hr, torch.ones_like(out))
    torch.testing.assert_close(gh, ghr)
