"""CPU check of the kernels' arithmetic: a NumPy transcription of each CUDA kernel (forward
and hand-written backward, statement by statement, in the kernels' index math) against torch
autograd of the torch references. Catches wrong index maps, signs, conjugations and scale
factors of the backward derivations without a GPU; the GPU tests then compare the real
kernels with the same references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cupy_kernels.reference import filter_reference, mesh_columns_reference, phase_modulate_reference

TWO_PI = 2 * math.pi


def _crandn(gen, *shape):
    return torch.complex(torch.randn(*shape, generator=gen, dtype=torch.float64),
                         torch.randn(*shape, generator=gen, dtype=torch.float64))


# -- propagation: pad_copy, cuFFT (unnormalised both ways), tf_multiply, crop_copy -----------
def _ramp(my, mx, shift):
    """tf_multiply's shift ramp: FFT-ordered frequencies in cycles per padded sample."""
    if shift is None:
        return np.ones((my, mx))
    ky, kx = np.arange(my)[:, None], np.arange(mx)[None, :]
    fy = np.where(ky < (my + 1) // 2, ky, ky - my) / my
    fx = np.where(kx < (mx + 1) // 2, kx, kx - mx) / mx
    return np.exp(-1j * TWO_PI * (fy * shift[0] + fx * shift[1]))


def _emulate_filter(x, h, shift, conj):
    b, ny, nx = x.shape
    my, mx = h.shape
    buf = np.zeros((my, b, mx), complex)                   # pad_copy, layout (My, B, Mx)
    buf[:ny, :, :nx] = x.transpose(1, 0, 2)
    buf[:ny] = np.fft.fft(buf[:ny], axis=-1)               # pruned row pass (CUFFT_FORWARD)
    buf = np.fft.fft(buf, axis=0)                          # column pass
    spec = buf.transpose(1, 0, 2).copy()
    f = h * _ramp(my, mx, shift)                           # tf_multiply
    if conj:
        f = np.conj(f)
    buf = buf * (f / (my * mx))[:, None, :]
    buf = np.fft.ifft(buf, axis=0) * my                    # CUFFT_INVERSE (unnormalised): columns,
    buf[:ny] = np.fft.ifft(buf[:ny], axis=-1) * mx         # then only the rows the crop keeps
    return buf[:ny, :, :nx].transpose(1, 0, 2), spec       # crop_copy


@pytest.mark.parametrize("shift", [None, (1.7, -2.3)])
@pytest.mark.parametrize("shape", [((5, 7), (10, 14)), ((6, 6), (13, 11))])
def test_filter_kernel_arithmetic_matches_autograd(shift, shape, generator):
    (ny, nx), (my, mx) = shape
    x = _crandn(generator, 3, ny, nx).requires_grad_()
    h = _crandn(generator, my, mx).requires_grad_()
    g = _crandn(generator, 3, ny, nx)
    ref = filter_reference(x, h, shift)
    gx_ref, gh_ref = torch.autograd.grad(ref, (x, h), g)
    out, spec = _emulate_filter(x.detach().numpy(), h.detach().numpy(), shift, conj=False)
    np.testing.assert_allclose(out, ref.detach().numpy(), atol=1e-12)
    # backward: the same filter with conj(H R) on g; H̄ = Σ conj(R · spec) · F pad(g) / M
    gx, gspec = _emulate_filter(g.numpy(), h.detach().numpy(), shift, conj=True)
    ramp = _ramp(my, mx, shift)
    gh = (gspec * np.conj(spec * ramp)).sum(0) / (my * mx)
    np.testing.assert_allclose(gx, gx_ref.numpy(), atol=1e-12)
    np.testing.assert_allclose(gh, gh_ref.numpy(), atol=1e-12)


# -- phase modulation: phase_mod_fwd / phase_mod_bwd ------------------------------------------
def _applied_phase(phi, response, levels, gain, offset, lut):
    if not response:
        return phi, 1.0
    w = phi - TWO_PI * math.floor(phi / TWO_PI)
    if w >= TWO_PI:
        w -= TWO_PI
    if levels > 0:
        q = np.rint(w / TWO_PI * levels)
        q = q - levels * math.floor(q / levels)
        w = q * (TWO_PI / levels)
    out, d = gain * w + offset, gain
    k = len(lut)
    if k > 0:
        u = w / TWO_PI * k
        fl = math.floor(u)
        i0 = (int(fl) % k + k) % k
        i1 = (i0 + 1) % k
        frac = u - fl
        out += lut[i0] * (1 - frac) + lut[i1] * frac
        d += (lut[i1] - lut[i0]) * (k / TWO_PI)
    return out, d


def _transmittance(phase, y, x, oy, ox, block, resp):
    ay, ax = phase.shape
    py, px = y - oy, x - ox
    if py < 0 or py >= ay or px < 0 or px >= ax:
        return (0j if block else 1 + 0j), 0.0, None
    phi, d = _applied_phase(phase[py, px], *resp)
    return np.exp(1j * phi), d, (py, px)


def _emulate_phase(u, phase, g, oy, ox, block, resp):
    b, ny, nx = u.shape
    out = np.zeros_like(u)
    gu = np.zeros_like(u)
    gp = np.zeros(phase.shape)
    for y in range(ny):
        for x in range(nx):
            t, d, pidx = _transmittance(phase, y, x, oy, ox, block, resp)
            out[:, y, x] = u[:, y, x] * t
            gu[:, y, x] = g[:, y, x] * np.conj(t)
            if pidx is not None:
                v = np.conj(g[:, y, x]) * (u[:, y, x] * t)
                gp[pidx] = -v.imag.sum() * d
    return out, gu, gp


@pytest.mark.parametrize("block", [False, True])
@pytest.mark.parametrize("response", ["ideal", "quantized_lut"])
def test_phase_kernel_arithmetic_matches_autograd(block, response, generator):
    ny, nx, ay, ax, oy, ox = 7, 9, 4, 5, 2, 3
    u = _crandn(generator, 2, ny, nx).requires_grad_()
    phase = (torch.rand(ay, ax, generator=generator, dtype=torch.float64) * 14 - 5).requires_grad_()
    g = _crandn(generator, 2, ny, nx)
    if response == "ideal":
        kw = dict(levels=0, gain=1.0, offset=0.0, lut=None)
        resp = (0, 0, 1.0, 0.0, [])
    else:
        lut = torch.randn(6, generator=generator, dtype=torch.float64) * 0.3
        kw = dict(levels=16, gain=0.93, offset=0.2, lut=lut)
        resp = (1, 16, 0.93, 0.2, lut.tolist())
    ref = phase_modulate_reference(u, phase, origin=(oy, ox), outside="block" if block else "transmit", **kw)
    gu_ref, gp_ref = torch.autograd.grad(ref, (u, phase), g)
    out, gu, gp = _emulate_phase(u.detach().numpy(), phase.detach().numpy(), g.numpy(), oy, ox, block, resp)
    np.testing.assert_allclose(out, ref.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(gu, gu_ref.numpy(), atol=1e-12)
    np.testing.assert_allclose(gp, gp_ref.numpy(), atol=1e-10)


# -- mesh: mesh_fwd / mesh_bwd ----------------------------------------------------------------
def _emulate_mesh(state, t, g):
    b, n_pad = state.shape
    n_cols, pairs = t.shape[:2]
    saved = np.zeros((n_cols, b, n_pad), complex)
    out = state.copy()
    for s in range(b):                      # one shared-memory row per sample
        row = out[s]
        for col in range(n_cols):
            saved[col, s] = row
            odd = col & 1
            for m in range(pairs):
                a = 2 * m + odd
                c = 0 if a + 1 == n_pad else a + 1
                tb = t[col, m].reshape(4)
                xa, xc = row[a], row[c]
                row[a], row[c] = tb[0] * xa + tb[1] * xc, tb[2] * xa + tb[3] * xc
    grad = g.copy()
    gt = np.zeros((n_cols, pairs, 4), complex)
    for s in range(b):
        row = grad[s]
        for col in range(n_cols - 1, -1, -1):
            odd = col & 1
            for m in range(pairs):
                a = 2 * m + odd
                c = 0 if a + 1 == n_pad else a + 1
                tb = t[col, m].reshape(4)
                ga, gc = row[a], row[c]
                sa, sc = saved[col, s, a], saved[col, s, c]
                gt[col, m] += [ga * np.conj(sa), ga * np.conj(sc), gc * np.conj(sa), gc * np.conj(sc)]
                row[a] = np.conj(tb[0]) * ga + np.conj(tb[2]) * gc
                row[c] = np.conj(tb[1]) * ga + np.conj(tb[3]) * gc
    return out, grad, gt.reshape(n_cols, pairs, 2, 2)


@pytest.mark.parametrize("n_cols, pairs", [(5, 3), (6, 4), (1, 1)])
def test_mesh_kernel_arithmetic_matches_autograd(n_cols, pairs, generator):
    state = _crandn(generator, 3, 2 * pairs).requires_grad_()
    t = _crandn(generator, n_cols, pairs, 2, 2).requires_grad_()  # general blocks (errors, loss)
    g = _crandn(generator, 3, 2 * pairs)
    ref = mesh_columns_reference(state, t)
    gs_ref, gt_ref = torch.autograd.grad(ref, (state, t), g)
    out, gs, gt = _emulate_mesh(state.detach().numpy(), t.detach().numpy(), g.numpy())
    np.testing.assert_allclose(out, ref.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(gs, gs_ref.numpy(), atol=1e-12)
    np.testing.assert_allclose(gt, gt_ref.numpy(), atol=1e-12)
