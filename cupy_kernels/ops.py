"""The fused GPU operations, registered as torch custom operators (``torch.library``).

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

Custom operators (namespace ``onnsim``; each has a fake implementation, so ``torch.compile``
traces through it without a graph break, and the forward ops an autograd formula):

* ``onnsim::filter2(x, h, shift, conj, want_spectrum) -> (y, spectrum)`` — the filter with
  ``H`` or ``conj(H)``; ``spectrum`` is the padded ``F pad(x)`` in the ``(My, B, Mx)``
  layout when ``want_spectrum`` (needed for the gradient w.r.t. ``h`` and by a spectrum
  check), else empty. Its backward is the same operator with ``conj`` flipped, plus torch
  ops for ``h̄``.
* ``onnsim::phase_modulate(u, phase, lut, origin, block, levels, gain, offset) -> y`` and
  ``onnsim::phase_modulate_backward(...) -> (ū, φ̄)``.
* ``onnsim::mesh_columns(state, t, save_states) -> (out, states)`` and
  ``onnsim::mesh_columns_backward(grad, t, states) -> (s̄, T̄)``.

Gradients that are not wanted come back as empty tensors from the backward operators. The
backward is not differentiable again (double backward raises), as before. Calling the
operators needs CuPy only when they actually run (CUDA tensors); the CPU tests run them
with NumPy standing in for the CuPy runtime (tests/cupy_kernels/test_ops_glue.py), which
is how ``torch.library.opcheck`` checks them without a GPU.

Conventions (PyTorch's conjugate-Wirtinger gradients, for real losses L and complex z the
incoming gradient is g = ∂L/∂Re z + i ∂L/∂Im z; for a C-linear map y = A x the VJP is
x̄ = A^H ȳ):

* filter:  x̄ = crop(F⁻¹(conj(H R) · F pad(ȳ))),  H̄ = Σ_batch conj(R · F pad(x)) · F pad(ȳ) / M
* phase:   ū = ȳ · conj(t),  φ̄ = Σ_batch Re(conj(ȳ) · i · u · t) · dφ'/dφ
* mesh:    s̄_l = T_l^H s̄_{l+1},  T̄_l = Σ_batch s̄_{l+1} s_l^H (restricted to each 2×2 pair)

All inputs of the public functions must be CUDA tensors; dispatching (and the torch
fallback) is in :func:`cupy_kernels.use_cupy` and the library call sites.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import _runtime as R
from .reference import shift_ramp

__all__ = ["filter2", "phase_modulate", "mesh_columns", "filter_unsupported", "mesh_unsupported",
           "mesh_shape_unsupported", "OPS"]

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


def _run_filter(src: torch.Tensor, h: torch.Tensor, shift, conj: bool, keep_spec: bool):
    """The fused filter on contiguous ``src`` (B, ny, nx); returns (out, copy of the padded
    spectrum ``F pad(src)`` in the (My, B, Mx) layout, or None)."""
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
    spec = buf.clone() if keep_spec else None
    sy, sx = (0.0, 0.0) if not shift else shift
    out = torch.empty(b, ny, nx, dtype=src.dtype, device=src.device)
    with R.on_torch_stream(src.device) as dev:
        grid, block = _blocks(my * mx)
        R.kernel("propagation", "tf_multiply", prec, dev)(
            grid, block, (buf_cp, R.as_cupy(h), _i64(b), _i32(my), _i32(mx), _real(sy, prec), _real(sx, prec),
                          _i32(bool(shift)), _i32(conj), _real(1.0 / (my * mx), prec)))
        R.fft_pruned(buf_cp, my, b, mx, ny, dev, inverse=True)
        grid, block = _blocks(out.numel())
        R.kernel("propagation", "crop_copy", prec, dev)(
            grid, block, (buf_cp, R.as_cupy(out), _i64(b), _i32(ny), _i32(nx), _i32(my), _i32(mx)))
    return out, spec


def _flat_batch(x: torch.Tensor):
    n = 1
    for d in x.shape[:-2]:
        n = n * d
    return n


@torch.library.custom_op("onnsim::filter2", mutates_args=(),
                         schema="(Tensor x, Tensor h, float[]? shift, bool conj, bool want_spectrum) -> (Tensor, Tensor)")
def _filter_op(x, h, shift, conj, want_spectrum):
    """``(crop(F⁻¹(H' · F pad(x))), F pad(x) or empty)`` with ``H' = H·R`` (``conj(H·R)``
    when ``conj``); ``shift``: ``[sy, sx]`` of the ramp ``R``, or None/[] for none."""
    ny, nx = x.shape[-2:]
    src = R.contiguous(x).view(-1, ny, nx)
    out, spec = _run_filter(src, R.contiguous(h), _shift_pair(shift), conj, want_spectrum)
    return out.view(x.shape), (spec if spec is not None else x.new_empty(0))


@_filter_op.register_fake
def _filter_fake(x, h, shift, conj, want_spectrum):
    out = x.new_empty(x.shape)
    spec = x.new_empty(h.shape[0], _flat_batch(x), h.shape[1]) if want_spectrum else x.new_empty(0)
    return out, spec


def _shift_pair(shift):
    return None if not shift else (float(shift[0]), float(shift[1]))


def _filter_setup(ctx, inputs, output):
    x, h, shift, conj, want_spectrum = inputs
    spec = output[1]
    ctx.mark_non_differentiable(spec)
    want_h = ctx.needs_input_grad[1]
    if want_h and (conj or not want_spectrum):
        raise RuntimeError("onnsim::filter2: a gradient w.r.t. h needs conj=False and want_spectrum=True")
    ctx.shift, ctx.conj = shift, conj
    ctx.save_for_backward(h, spec if want_h else None)


@once_differentiable
def _filter_backward(ctx, g, _g_spectrum):
    h, spec = ctx.saved_tensors
    want_h = ctx.needs_input_grad[1]
    gx, gspec = torch.ops.onnsim.filter2(g, h, ctx.shift, not ctx.conj, want_h)
    gh = None
    if want_h:  # H̄ = Σ_batch conj(R · F pad(x)) · F pad(ȳ) / M, both spectra (My, B, Mx)
        my, mx = h.shape
        shift = _shift_pair(ctx.shift)
        fwd = spec if shift is None else spec * shift_ramp((my, mx), *shift, dtype=spec.dtype,
                                                            device=spec.device)[:, None, :]
        gh = (gspec * fwd.conj()).sum(1) / (my * mx)
    return (gx if ctx.needs_input_grad[0] else None), gh, None, None, None


_filter_op.register_autograd(_filter_backward, setup_context=_filter_setup)


def filter2(x: torch.Tensor, h: torch.Tensor, *, shift=None, spectrum_check=None) -> torch.Tensor:
    """``crop(ifft2(h · R · fft2(x, s=h.shape)))`` on the GPU; same result as
    :func:`cupy_kernels.reference.filter_reference` (and ``optics._fft.filter2``).

    Args:
        x: complex CUDA tensor ``(*batch, ny, nx)``.
        h: transfer function ``(My, Mx)`` (FFT order, same dtype/device), ``My ≥ ny``, ``Mx ≥ nx``;
            differentiable too.
        shift: optional ``(sy, sx)`` in padded pixels: multiplies by the shift ramp
            :func:`cupy_kernels.reference.shift_ramp` (translation of the padded plane).
        spectrum_check: called with the padded spectrum ``(B, My, Mx)`` (batch flattened; a
            torch view, not for gradients). The operator then returns the spectrum as a
            second output: one more padded buffer, freed after the check unless ``h``
            needs a gradient.
    """
    why = filter_unsupported(x, h)
    if why:
        raise ValueError(f"cupy_kernels.filter2 {why}")
    return _filter(x, h, shift, spectrum_check)


def _filter(x, h, shift, spectrum_check):
    """:func:`filter2` after validation (the CPU tests call it with a NumPy runtime)."""
    shift = None if shift is None else [float(shift[0]), float(shift[1])]
    want = spectrum_check is not None or (h.requires_grad and torch.is_grad_enabled())
    out, spec = torch.ops.onnsim.filter2(x, h, shift, False, want)
    if spectrum_check is not None:
        spectrum_check(spec.detach().transpose(0, 1))  # (B, My, Mx), as torch.fft.fft2 would give it
    return out


# ======================================================================================
# phase modulation
# ======================================================================================
def _response(levels: int, gain: float, offset: float, lut) -> tuple:
    """Kernel arguments (response on, levels, gain, offset, K) of the modulator response."""
    k = int(lut.numel()) if lut is not None else 0
    on = not (levels == 0 and gain == 1 and offset == 0 and k == 0)
    return int(on), int(levels), float(gain), float(offset), k


def _phase_launch(name, prec, n_pix, head, geom, resp, lut, like):
    on, levels, gain, offset, k = resp
    lc = R.contiguous(lut) if k else like.new_zeros(1, dtype=like.real.dtype)  # dummy pointer when K = 0
    with R.on_torch_stream(like.device) as dev:
        grid, block = _blocks(n_pix)
        R.kernel("modulation", name, prec, dev)(
            grid, block, (*head, *_geom_args(geom), _i32(on), _i32(levels), _real(gain, prec), _real(offset, prec),
                          R.as_cupy(lc), _i32(k)))


def _geometry(phase, origin, block) -> tuple:
    ay, ax = phase.shape
    return ay, ax, int(origin[0]), int(origin[1]), int(block)


@torch.library.custom_op(
    "onnsim::phase_modulate", mutates_args=(),
    schema="(Tensor u, Tensor phase, Tensor? lut, int[] origin, bool block, int levels, float gain, float offset) -> Tensor")
def _phase_op(u, phase, lut, origin, block, levels, gain, offset):
    """``u · t`` (see :func:`phase_modulate`); ``phase`` in ``u``'s real dtype, ``lut`` (K,)
    or None, ``block``: zero transmission outside the window."""
    ny, nx = u.shape[-2:]
    uc, pc = R.contiguous(u), R.contiguous(phase)
    out = torch.empty_like(uc)
    prec = R.precision_of(uc.dtype)
    head = (R.as_cupy(uc), R.as_cupy(pc), R.as_cupy(out), _i64(uc.numel() // (ny * nx)), _i32(ny), _i32(nx))
    _phase_launch("phase_mod_fwd", prec, ny * nx, head, _geometry(phase, origin, block),
                  _response(levels, gain, offset, lut), lut, uc)
    return out


@_phase_op.register_fake
def _phase_fake(u, phase, lut, origin, block, levels, gain, offset):
    return torch.empty_like(u, memory_format=torch.contiguous_format)


@torch.library.custom_op(
    "onnsim::phase_modulate_backward", mutates_args=(),
    schema="(Tensor grad, Tensor? u, Tensor phase, Tensor? lut, int[] origin, bool block, int levels, float gain, "
           "float offset, bool want_u, bool want_phase) -> (Tensor, Tensor)")
def _phase_backward_op(grad, u, phase, lut, origin, block, levels, gain, offset, want_u, want_phase):
    """``(ū or empty, φ̄ or empty)``; ``u`` (the forward input) is needed for ``φ̄`` only."""
    if want_phase and u is None:
        raise ValueError("onnsim::phase_modulate_backward: the phase gradient needs the forward input u")
    gc, pc = R.contiguous(grad), R.contiguous(phase)
    ny, nx = gc.shape[-2:]
    prec = R.precision_of(gc.dtype)
    gu = torch.empty_like(gc) if want_u else gc.new_empty(1)  # 1-element placeholders: never written
    gp = torch.empty_like(pc) if want_phase else pc.new_empty(1)
    u_arg = R.contiguous(u) if want_phase else gc  # not read unless want_phase
    head = (R.as_cupy(gc), R.as_cupy(u_arg), R.as_cupy(pc), R.as_cupy(gu), R.as_cupy(gp), _i32(want_u),
            _i32(want_phase), _i64(gc.numel() // (ny * nx)), _i32(ny), _i32(nx))
    _phase_launch("phase_mod_bwd", prec, ny * nx, head, _geometry(phase, origin, block),
                  _response(levels, gain, offset, lut), lut, gc)
    return (gu if want_u else gc.new_empty(0)), (gp if want_phase else pc.new_empty(0))


@_phase_backward_op.register_fake
def _phase_backward_fake(grad, u, phase, lut, origin, block, levels, gain, offset, want_u, want_phase):
    gu = torch.empty_like(grad, memory_format=torch.contiguous_format) if want_u else grad.new_empty(0)
    gp = torch.empty_like(phase, memory_format=torch.contiguous_format) if want_phase else phase.new_empty(0)
    return gu, gp


def _phase_setup(ctx, inputs, output):
    u, phase, lut, origin, block, levels, gain, offset = inputs
    ctx.args = (origin, block, levels, gain, offset)
    ctx.save_for_backward(u if ctx.needs_input_grad[1] else None, phase, lut)


@once_differentiable
def _phase_backward(ctx, g):
    u, phase, lut = ctx.saved_tensors
    want_u, want_p = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    gu, gp = torch.ops.onnsim.phase_modulate_backward(g, u, phase, lut, *ctx.args, want_u, want_p)
    return (gu if want_u else None), (gp if want_p else None), None, None, None, None, None, None


_phase_op.register_autograd(_phase_backward, setup_context=_phase_setup)


def _geom_args(geom):
    ay, ax, oy, ox, block = geom
    return _i32(ay), _i32(ax), _i32(oy), _i32(ox), _i32(block)


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
    return _phase(u, phase, origin, outside, levels, gain, offset, lut)


def _phase(u, phase, origin, outside, levels, gain, offset, lut):
    """:func:`phase_modulate` after the device checks (the CPU tests call it with a NumPy runtime)."""
    return torch.ops.onnsim.phase_modulate(u, *_phase_arguments(u, phase, origin, outside, levels, gain, offset, lut))


def _phase_arguments(u, phase, origin, outside, levels, gain, offset, lut):
    """Validated ``(phase in the field's real dtype, lut or None, origin, block, levels, gain,
    offset)``: the operator's arguments after ``u``."""
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
    lut_t = lut.detach().to(u.device, rdtype).reshape(-1) if has_lut else None
    return phase.to(rdtype), lut_t, [oy, ox], outside == "block", levels, float(gain), float(offset)


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


@torch.library.custom_op("onnsim::mesh_columns", mutates_args=(),
                         schema="(Tensor state, Tensor t, bool save_states) -> (Tensor, Tensor)")
def _mesh_op(state, t, save_states):
    """``(state after all columns, the state before each column (L, B, 2P) or empty)``."""
    b, n_pad = state.shape
    n_cols, pairs = t.shape[:2]
    tc = R.contiguous(t)
    out = R.contiguous(state).clone()
    saved = out.new_empty(n_cols, b, n_pad) if save_states else out.new_empty(1)  # placeholder: never written
    block, shared = _mesh_launch(n_pad, out.dtype)
    grid = (math.ceil(b / block[1]),)
    prec = R.precision_of(out.dtype)
    with R.on_torch_stream(out.device) as dev:
        R.kernel("mesh", "mesh_fwd", prec, dev)(
            grid, block, (R.as_cupy(out), R.as_cupy(tc), R.as_cupy(saved), _i32(save_states), _i32(b), _i32(pairs),
                          _i32(0), _i32(n_cols)), shared_mem=shared)
    return out, (saved if save_states else out.new_empty(0))


@_mesh_op.register_fake
def _mesh_fake(state, t, save_states):
    out = state.new_empty(state.shape)
    saved = state.new_empty(t.shape[0], state.shape[0], state.shape[1]) if save_states else state.new_empty(0)
    return out, saved


@torch.library.custom_op("onnsim::mesh_columns_backward", mutates_args=(),
                         schema="(Tensor grad, Tensor t, Tensor? states) -> (Tensor, Tensor)")
def _mesh_backward_op(grad, t, states):
    """``(s̄, T̄ or empty)``: the adjoint sweep; ``T̄`` needs the saved ``states``."""
    tc = R.contiguous(t)
    want_t = states is not None
    g = R.contiguous(grad).clone()
    b, n_pad = g.shape
    n_cols, pairs = tc.shape[:2]
    gt = torch.zeros_like(tc) if want_t else tc.new_zeros(1)
    block, shared = _mesh_launch(n_pad, g.dtype)
    grid = (math.ceil(b / block[1]),)
    prec = R.precision_of(g.dtype)
    with R.on_torch_stream(g.device) as dev:
        R.kernel("mesh", "mesh_bwd", prec, dev)(
            grid, block, (R.as_cupy(g), R.as_cupy(tc), R.as_cupy(R.contiguous(states) if want_t else g),
                          R.as_cupy(torch.view_as_real(gt)), _i32(want_t), _i32(b), _i32(pairs), _i32(0),
                          _i32(n_cols)), shared_mem=shared)
    return g, (gt if want_t else tc.new_empty(0))


@_mesh_backward_op.register_fake
def _mesh_backward_fake(grad, t, states):
    gt = t.new_empty(t.shape) if states is not None else t.new_empty(0)
    return grad.new_empty(grad.shape), gt


def _mesh_setup(ctx, inputs, output):
    state, t, save_states = inputs
    ctx.mark_non_differentiable(output[1])
    want_t = ctx.needs_input_grad[1]
    if want_t and not save_states:
        raise RuntimeError("onnsim::mesh_columns: a gradient w.r.t. t needs save_states=True")
    ctx.save_for_backward(t, output[1] if want_t else None)


@once_differentiable
def _mesh_backward(ctx, g, _g_states):
    t, states = ctx.saved_tensors
    gs, gt = torch.ops.onnsim.mesh_columns_backward(g, t, states)
    return (gs if ctx.needs_input_grad[0] else None), (gt if ctx.needs_input_grad[1] else None), None


_mesh_op.register_autograd(_mesh_backward, setup_context=_mesh_setup)


def mesh_columns(state: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """All columns of ``t`` ``(L, P, 2, 2)`` applied to ``state`` ``(B, 2P)`` in one launch;
    same result as :func:`cupy_kernels.reference.mesh_columns_reference` (and
    ``photonics._engine.apply_columns`` on the transposed state). Differentiable in both."""
    why = mesh_unsupported(state, t)
    if why:
        raise ValueError(f"cupy_kernels.mesh_columns {why}")
    return _mesh(state, t)


def _mesh(state, t):
    """:func:`mesh_columns` after validation (the CPU tests call it with a NumPy runtime)."""
    save = t.requires_grad and torch.is_grad_enabled()
    return torch.ops.onnsim.mesh_columns(state, t, save)[0]


#: The custom operators registered here (``torch.ops.onnsim.<name>``).
OPS = ("filter2", "phase_modulate", "phase_modulate_backward", "mesh_columns", "mesh_columns_backward")
