"""The fused GPU operations: ``torch.autograd.Function`` s with hand-written backwards.

* :func:`filter2` — ``crop(ifft2(H · R · fft2(pad(x))))`` (angular-spectrum propagation and
  every other transfer-function filter; optional shift ramp ``R``): pad-copy kernel into a
  ``(My, B, Mx)`` buffer, in-place cuFFT pruned for the zero padding (row pass on the ``ny``
  data rows only, then the column pass; inverse: columns, then only the rows the crop
  keeps; 1-D plans cached per shape, :func:`cupy_kernels._runtime.fft_pruned`), one fused
  multiply (transfer function, ramp and the 1/M of the inverse transform), crop-copy
  kernel. Only the transfer function is saved for the backward, which is the same filter
  with ``conj(H·R)``.
* :func:`phase_modulate` — ``u · exp(iφ')`` with the phase window placed in the plane
  (padding of the parameter), optional quantization and response curve; one kernel
  forward, one backward (which crops the phase gradient back to the window).
* :func:`mesh_columns` — MZI columns applied in one launch per call with the states in
  shared memory (each column is one ``__syncthreads`` step); the backward is the adjoint
  sweep with the block gradients accumulated by atomics.

Conventions (PyTorch's conjugate-Wirtinger gradients, for real losses L and complex z the
incoming gradient is g = ∂L/∂Re z + i ∂L/∂Im z; for a C-linear map y = A x the VJP is
x̄ = A^H ȳ):

* filter:  x̄ = crop(F⁻¹(conj(H R) · F pad(ȳ))),  H̄ = Σ_batch conj(R · F pad(x)) · F pad(ȳ) / M
* phase:   ū = ȳ · conj(t),  φ̄ = Σ_batch Re(conj(ȳ) · i · u · t) · dφ'/dφ
* mesh:    s̄_l = T_l^H s̄_{l+1},  T̄_l = Σ_batch s̄_{l+1} s_l^H (restricted to each 2×2 pair)

All inputs must be CUDA tensors; dispatching (and the torch fallback) is in
:func:`cupy_kernels.use_cupy` and the library call sites.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from . import _runtime as R
from .reference import shift_ramp

__all__ = ["filter2", "phase_modulate", "mesh_columns", "filter_unsupported", "mesh_unsupported",
           "mesh_shape_unsupported"]

_SHARED_LIMIT = 48 * 1024  # bytes of dynamic shared memory a block may use without opt-in


def _i32(v) -> np.int32:
    return np.int32(int(v))


def _i64(v) -> np.int64:
    return np.int64(int(v))


def _real(v, prec):
    return np.float32(v) if prec == "f32" else np.float64(v)


def _blocks(n: int):
    return R.grid_for(n), R.THREADS


# ======================================================================================
# propagation filter
# ======================================================================================
def filter_unsupported(x: torch.Tensor, h: torch.Tensor) -> str | None:
    """Why :func:`filter2` cannot take these inputs (None when it can)."""
    if not (x.is_cuda and h.is_cuda and x.device == h.device):
        return f"needs x and h on the same CUDA device, got {x.device} and {h.device}"
    if x.dtype not in (torch.complex64, torch.complex128) or h.dtype != x.dtype:
        return f"needs complex64/complex128 x and h of the same dtype, got {x.dtype} and {h.dtype}"
    if h.dim() != 2 or x.dim() < 2:
        return f"needs x (*batch, ny, nx) and a 2-D h (My, Mx), got {tuple(x.shape)} and {tuple(h.shape)}"
    if h.shape[0] < x.shape[-2] or h.shape[1] < x.shape[-1]:
        return f"h {tuple(h.shape)} must be at least as large as the field {tuple(x.shape[-2:])}"
    if x.numel() == 0:
        return "empty input"
    return None


def _run_filter(src: torch.Tensor, h: torch.Tensor, shift, conj: bool, check=None, keep_spec=False,
                grad_h_from=None):
    """The fused filter on contiguous ``src`` (B, ny, nx); returns (out, spectrum copy or None,
    grad_h or None). ``grad_h_from``: the saved forward spectrum, to form H̄ from this
    (backward) pass's padded spectrum before it is filtered."""
    b, ny, nx = src.shape
    my, mx = h.shape
    prec = R.precision_of(src.dtype)
    buf = torch.empty(my, b, mx, dtype=src.dtype, device=src.device)  # (My, B, Mx): see fft_pruned
    with R.on_torch_stream(src.device) as dev:
        buf_cp = R.as_cupy(buf)
        grid, block = _blocks(buf.numel())
        R.kernel("propagation", "pad_copy", prec, dev)(
            grid, block, (R.as_cupy(src), buf_cp, _i64(b), _i32(ny), _i32(nx), _i32(my), _i32(mx)))
        R.fft_pruned(buf_cp, my, b, mx, ny, dev, inverse=False)
    if check is not None:
        check(buf.transpose(0, 1))  # (B, My, Mx), as torch.fft.fft2 would give it
    spec = buf.clone() if keep_spec else None
    grad_h = None
    if grad_h_from is not None:
        fwd = grad_h_from
        if shift is not None:
            fwd = fwd * shift_ramp((my, mx), *shift, dtype=fwd.dtype, device=fwd.device)[:, None, :]
        grad_h = (buf * fwd.conj()).sum(1) / (my * mx)
    sy, sx = (0.0, 0.0) if shift is None else shift
    out = torch.empty(b, ny, nx, dtype=src.dtype, device=src.device)
    with R.on_torch_stream(src.device) as dev:
        grid, block = _blocks(my * mx)
        R.kernel("propagation", "tf_multiply", prec, dev)(
            grid, block, (buf_cp, R.as_cupy(h), _i64(b), _i32(my), _i32(mx), _real(sy, prec), _real(sx, prec),
                          _i32(shift is not None), _i32(conj), _real(1.0 / (my * mx), prec)))
        R.fft_pruned(buf_cp, my, b, mx, ny, dev, inverse=True)
        grid, block = _blocks(out.numel())
        R.kernel("propagation", "crop_copy", prec, dev)(
            grid, block, (buf_cp, R.as_cupy(out), _i64(b), _i32(ny), _i32(nx), _i32(my), _i32(mx)))
    return out, spec, grad_h


class _Filter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h, shift, check):
        batch, (ny, nx) = x.shape[:-2], x.shape[-2:]
        hc = R.contiguous(h)
        src = R.contiguous(x).view(-1, ny, nx)
        out, spec, _ = _run_filter(src, hc, shift, False, check, keep_spec=ctx.needs_input_grad[1])
        ctx.shift, ctx.batch = shift, tuple(batch)
        ctx.save_for_backward(hc, spec) if spec is not None else ctx.save_for_backward(hc)
        return out.view(*batch, ny, nx)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        h = ctx.saved_tensors[0]
        spec = ctx.saved_tensors[1] if ctx.needs_input_grad[1] else None
        ny, nx = g.shape[-2:]
        src = R.contiguous(g).view(-1, ny, nx)
        gx, _, gh = _run_filter(src, h, ctx.shift, True, grad_h_from=spec)
        gx = gx.view(*ctx.batch, ny, nx) if ctx.needs_input_grad[0] else None
        return gx, gh, None, None


def filter2(x: torch.Tensor, h: torch.Tensor, *, shift=None, spectrum_check=None) -> torch.Tensor:
    """``crop(ifft2(h · R · fft2(x, s=h.shape)))`` on the GPU; same result as
    :func:`cupy_kernels.reference.filter_reference` (and ``optics._fft.filter2``).

    Args:
        x: complex CUDA tensor ``(*batch, ny, nx)``.
        h: transfer function ``(My, Mx)`` (FFT order, same dtype/device), ``My ≥ ny``, ``Mx ≥ nx``;
            differentiable too.
        shift: optional ``(sy, sx)`` in padded pixels: multiplies by the shift ramp
            :func:`cupy_kernels.reference.shift_ramp` (translation of the padded plane).
        spectrum_check: called with the padded spectrum (a torch view, not for gradients).
    """
    why = filter_unsupported(x, h)
    if why:
        raise ValueError(f"cupy_kernels.filter2 {why}")
    if shift is not None:
        shift = (float(shift[0]), float(shift[1]))
    return _Filter.apply(x, h, shift, spectrum_check)


# ======================================================================================
# phase modulation
# ======================================================================================
class _PhaseModulate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, phase, geom, response, lut):
        ny, nx = u.shape[-2:]
        uc = R.contiguous(u)
        pc = R.contiguous(phase)
        lc = R.contiguous(lut)
        out = torch.empty_like(uc)
        b = uc.numel() // (ny * nx)
        prec = R.precision_of(uc.dtype)
        with R.on_torch_stream(uc.device) as dev:
            grid, block = _blocks(ny * nx)
            R.kernel("modulation", "phase_mod_fwd", prec, dev)(
                grid, block, (R.as_cupy(uc), R.as_cupy(pc), R.as_cupy(out), _i64(b), _i32(ny), _i32(nx),
                              *_geom_args(geom), *_response_args(response, prec), R.as_cupy(lc), _i32(_k(lc, response))))
        ctx.geom, ctx.response = geom, response
        ctx.save_for_backward(uc if ctx.needs_input_grad[1] else None, pc, lc)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        uc, pc, lc = ctx.saved_tensors
        want_u, want_p = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gc = R.contiguous(g)
        ny, nx = gc.shape[-2:]
        b = gc.numel() // (ny * nx)
        prec = R.precision_of(gc.dtype)
        gu = torch.empty_like(gc) if want_u else gc.new_empty(1)
        gp = torch.empty_like(pc) if want_p else pc.new_empty(1)
        u_arg = uc if uc is not None else gc  # not read unless want_p
        with R.on_torch_stream(gc.device) as dev:
            grid, block = _blocks(ny * nx)
            R.kernel("modulation", "phase_mod_bwd", prec, dev)(
                grid, block, (R.as_cupy(gc), R.as_cupy(u_arg), R.as_cupy(pc), R.as_cupy(gu), R.as_cupy(gp),
                              _i32(want_u), _i32(want_p), _i64(b), _i32(ny), _i32(nx), *_geom_args(ctx.geom),
                              *_response_args(ctx.response, prec), R.as_cupy(lc), _i32(_k(lc, ctx.response))))
        return (gu if want_u else None), (gp if want_p else None), None, None, None


def _geom_args(geom):
    ay, ax, oy, ox, block = geom
    return _i32(ay), _i32(ax), _i32(oy), _i32(ox), _i32(block)


def _response_args(response, prec):
    on, levels, gain, offset, _has_lut = response
    return _i32(on), _i32(levels), _real(gain, prec), _real(offset, prec)


def _k(lut, response) -> int:
    return int(lut.numel()) if response[4] else 0


def phase_modulate(u: torch.Tensor, phase: torch.Tensor, *, origin=(0, 0), outside: str = "transmit",
                   levels: int = 0, gain: float = 1.0, offset: float = 0.0,
                   lut: torch.Tensor | None = None) -> torch.Tensor:
    """Fused ``u · t`` as :func:`cupy_kernels.reference.phase_modulate_reference`.

    Args:
        u: complex CUDA field ``(*batch, ny, nx)``.
        phase: real ``(ay, ax)`` phase window in radians (differentiable; converted to the
            field's real dtype), placed at ``origin = (oy, ox)``.
        outside: ``"transmit"`` (t = 1) or ``"block"`` (t = 0) outside the window.
        levels, gain, offset, lut: modulator response (quantization with a straight-through
            gradient, linear response, periodic LUT of K samples over [0, 2π), rad); not
            differentiable.
    """
    if not (u.is_cuda and phase.device == u.device):
        raise ValueError(f"cupy_kernels.phase_modulate needs u and phase on the same CUDA device, got "
                         f"{u.device} and {phase.device}")
    if u.numel() == 0:
        from .reference import phase_modulate_reference

        return phase_modulate_reference(u, phase, origin=origin, outside=outside, levels=levels, gain=gain,
                                        offset=offset, lut=lut)
    return _PhaseModulate.apply(u, *_phase_arguments(u, phase, origin, outside, levels, gain, offset, lut))


def _phase_arguments(u, phase, origin, outside, levels, gain, offset, lut):
    """Validated ``(phase in the field's real dtype, geom, response, lut)`` for the Function."""
    if u.dtype not in (torch.complex64, torch.complex128) or u.dim() < 2:
        raise ValueError(f"cupy_kernels.phase_modulate needs complex64/complex128 u (*batch, ny, nx), got "
                         f"{u.dtype} {tuple(u.shape)}")
    if phase.is_complex() or phase.dim() != 2:
        raise ValueError(f"phase must be a real (ay, ax) tensor, got {phase.dtype} {tuple(phase.shape)}")
    if outside not in ("transmit", "block"):
        raise ValueError(f"outside must be 'transmit' or 'block', got {outside!r}")
    ny, nx = u.shape[-2:]
    ay, ax = phase.shape
    oy, ox = (int(v) for v in origin)
    if not (0 <= oy and 0 <= ox and oy + ay <= ny and ox + ax <= nx):
        raise ValueError(f"phase window {(ay, ax)} at {(oy, ox)} does not fit the plane {(ny, nx)}")
    levels = int(levels)
    if levels < 0:
        raise ValueError(f"levels must be ≥ 0 (0 = no quantization), got {levels}")
    rdtype = u.real.dtype
    has_lut = lut is not None and lut.numel() > 0
    lut_t = (lut.detach().to(u.device, rdtype).reshape(-1) if has_lut else torch.zeros(1, dtype=rdtype, device=u.device))
    on = not (levels == 0 and gain == 1 and offset == 0 and not has_lut)
    response = (int(on), levels, float(gain), float(offset), bool(has_lut))
    geom = (ay, ax, oy, ox, int(outside == "block"))
    return phase.to(rdtype), geom, response, lut_t


# ======================================================================================
# MZI mesh columns
# ======================================================================================
def _mesh_launch(n_pad: int, dtype: torch.dtype):
    """(block (tx, S), shared bytes per block) for states of ``n_pad`` modes."""
    itemsize = 8 if dtype == torch.complex64 else 16
    per_state = n_pad * itemsize
    tx = min(256, max(32, 32 * math.ceil((n_pad // 2) / 32)))
    s = max(1, min(256 // tx, _SHARED_LIMIT // per_state))
    return (tx, s), s * per_state


def mesh_unsupported(state: torch.Tensor, t: torch.Tensor) -> str | None:
    """Why :func:`mesh_columns` cannot take these inputs (None when it can)."""
    if not (state.is_cuda and t.is_cuda and state.device == t.device):
        return f"needs state and blocks on the same CUDA device, got {state.device} and {t.device}"
    if state.dtype not in (torch.complex64, torch.complex128) or t.dtype != state.dtype:
        return f"needs complex64/complex128 state and blocks of the same dtype, got {state.dtype} and {t.dtype}"
    if state.dim() != 2 or t.dim() != 4 or tuple(t.shape[2:]) != (2, 2) or state.shape[1] != 2 * t.shape[1]:
        return f"needs state (B, 2P) and blocks (L, P, 2, 2), got {tuple(state.shape)} and {tuple(t.shape)}"
    if t.shape[0] == 0:
        return "no columns"
    return mesh_shape_unsupported(state.dtype, state.shape[0], state.shape[1])


def mesh_shape_unsupported(dtype: torch.dtype, batch: int, n_pad: int) -> str | None:
    """Why states ``(batch, n_pad)`` of ``dtype`` do not fit the column kernel (None if they do)."""
    if dtype not in (torch.complex64, torch.complex128):
        return f"needs complex64/complex128 states, got {dtype}"
    itemsize = 8 if dtype == torch.complex64 else 16
    if n_pad * itemsize > _SHARED_LIMIT:
        return (f"{n_pad} modes of {dtype} exceed the kernel's shared memory "
                f"({_SHARED_LIMIT // itemsize} modes at most)")
    if batch == 0 or batch > 65535 * 256:
        return f"batch of {batch} states is empty or too large"
    return None


class _MeshColumns(torch.autograd.Function):
    @staticmethod
    def forward(ctx, state, t):
        b, n_pad = state.shape
        n_cols, pairs = t.shape[:2]
        tc = R.contiguous(t)
        out = R.contiguous(state).clone()
        save = ctx.needs_input_grad[1]
        saved = out.new_empty(n_cols, b, n_pad) if save else out.new_empty(1)
        block, shared = _mesh_launch(n_pad, out.dtype)
        grid = (math.ceil(b / block[1]),)
        prec = R.precision_of(out.dtype)
        with R.on_torch_stream(out.device) as dev:
            R.kernel("mesh", "mesh_fwd", prec, dev)(
                grid, block, (R.as_cupy(out), R.as_cupy(tc), R.as_cupy(saved), _i32(save), _i32(b), _i32(pairs),
                              _i32(0), _i32(n_cols)), shared_mem=shared)
        ctx.save_for_backward(tc, saved if save else None)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        tc, saved = ctx.saved_tensors
        want_t = ctx.needs_input_grad[1]
        grad = R.contiguous(g).clone()
        b, n_pad = grad.shape
        n_cols, pairs = tc.shape[:2]
        gt = torch.zeros_like(tc) if want_t else tc.new_zeros(1)
        block, shared = _mesh_launch(n_pad, grad.dtype)
        grid = (math.ceil(b / block[1]),)
        prec = R.precision_of(grad.dtype)
        with R.on_torch_stream(grad.device) as dev:
            R.kernel("mesh", "mesh_bwd", prec, dev)(
                grid, block, (R.as_cupy(grad), R.as_cupy(tc), R.as_cupy(saved if want_t else grad),
                              R.as_cupy(torch.view_as_real(gt)), _i32(want_t), _i32(b), _i32(pairs), _i32(0),
                              _i32(n_cols)), shared_mem=shared)
        return (grad if ctx.needs_input_grad[0] else None), (gt if want_t else None)


def mesh_columns(state: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """All columns of ``t`` ``(L, P, 2, 2)`` applied to ``state`` ``(B, 2P)`` in one launch;
    same result as :func:`cupy_kernels.reference.mesh_columns_reference` (and
    ``photonics._engine.apply_columns`` on the transposed state). Differentiable in both."""
    why = mesh_unsupported(state, t)
    if why:
        raise ValueError(f"cupy_kernels.mesh_columns {why}")
    return _MeshColumns.apply(state, t)
