"""Torch references of the fused kernels (plain differentiable torch; CPU or GPU).

These define what each kernel computes; the GPU tests compare the kernels with them, and the
CPU tests compare them with the library code they stand in for (``optics._fft.filter2``,
``optics.PhaseMask``, ``hardware.diffractive.applied_phase``, ``photonics._engine``).
No CuPy here, and nothing from the rest of the project (docs/design.md#dependency-direction).
"""

from __future__ import annotations

import math

import torch

__all__ = ["shift_ramp", "filter_reference", "applied_phase_reference", "phase_modulate_reference",
           "mesh_columns_reference"]


def _fft_index(m: int, device) -> torch.Tensor:
    k = torch.arange(m, device=device, dtype=torch.float64)
    return torch.where(k < (m + 1) // 2, k, k - m) / m


def shift_ramp(shape, sy: float, sx: float, *, dtype=torch.complex64, device=None) -> torch.Tensor:
    """exp(−i2π(fy·sy + fx·sx)) on an ``(My, Mx)`` FFT-ordered grid; ``sy, sx`` in padded
    pixels (a shift of the padded, periodic plane towards +y/+x)."""
    my, mx = shape
    fy = _fft_index(my, device)[:, None]
    fx = _fft_index(mx, device)[None, :]
    ph = -2 * math.pi * (fy * float(sy) + fx * float(sx))
    return torch.polar(torch.ones_like(ph), ph).to(dtype)


def filter_reference(x: torch.Tensor, h: torch.Tensor, shift=None) -> torch.Tensor:
    """``crop(ifft2(h · R · fft2(pad(x))))``: zero padding at the end of each axis to ``h``'s
    shape, optional shift ramp ``R`` (:func:`shift_ramp`, ``shift=(sy, sx)`` padded pixels)."""
    ny, nx = x.shape[-2:]
    if shift is not None:
        h = h * shift_ramp(tuple(h.shape[-2:]), *shift, dtype=h.dtype, device=h.device)
    spec = torch.fft.fft2(x, s=tuple(h.shape[-2:]))
    return torch.fft.ifft2(spec * h)[..., :ny, :nx]


def applied_phase_reference(phase: torch.Tensor, *, levels: int = 0, gain: float = 1.0, offset: float = 0.0,
                            lut: torch.Tensor | None = None) -> torch.Tensor:
    """Modulator response: identity when ideal (no quantization, gain 1, offset 0, no LUT);
    else φ wrapped to [0, 2π), quantized to ``levels`` (straight-through gradient), then
    ``gain·φ + offset + lut(φ)`` with periodic linear interpolation of the LUT samples."""
    ideal = levels == 0 and gain == 1 and offset == 0 and (lut is None or lut.numel() == 0)
    if ideal:
        return phase
    two_pi = 2 * math.pi
    phi = torch.remainder(phase, two_pi)
    if levels:
        q = torch.remainder(torch.round(phi / two_pi * levels), levels) * (two_pi / levels)
        phi = phi + (q - phi).detach()
    out = gain * phi + offset
    if lut is not None and lut.numel():
        lut = lut.to(phi.device, phi.dtype)
        k = lut.shape[0]
        u = phi / two_pi * k
        i0 = torch.floor(u).long() % k
        w = u - torch.floor(u)
        out = out + lut[i0] * (1 - w) + lut[(i0 + 1) % k] * w
    return out


def phase_modulate_reference(u: torch.Tensor, phase: torch.Tensor, *, origin=(0, 0), outside: str = "transmit",
                             levels: int = 0, gain: float = 1.0, offset: float = 0.0,
                             lut: torch.Tensor | None = None) -> torch.Tensor:
    """``u · t`` with ``t = exp(iφ')`` on the window of ``phase`` ``(ay, ax)`` placed at
    ``origin = (oy, ox)`` in the field's ``(ny, nx)`` plane, 1 (``"transmit"``) or 0
    (``"block"``) elsewhere; φ' = :func:`applied_phase_reference`."""
    ny, nx = u.shape[-2:]
    ay, ax = phase.shape
    oy, ox = origin
    rdtype = u.real.dtype
    phi = applied_phase_reference(phase.to(rdtype), levels=levels, gain=gain, offset=offset, lut=lut)
    t_in = torch.polar(torch.ones_like(phi), phi)
    fill = 0.0 if outside == "block" else 1.0
    t = torch.full((ny, nx), fill, dtype=u.dtype, device=u.device)
    t = t.index_put((torch.arange(oy, oy + ay, device=u.device)[:, None],
                     torch.arange(ox, ox + ax, device=u.device)[None, :]), t_in.to(u.dtype))
    return u * t


def mesh_columns_reference(state: torch.Tensor, t: torch.Tensor, c0: int = 0, c1: int | None = None) -> torch.Tensor:
    """Apply MZI columns ``c0 .. c1-1`` of ``t`` ``(L, P, 2, 2)`` to states ``(B, 2P)``: column
    ``l`` maps modes ``a = 2m + l%2``, ``c = (a + 1) mod 2P`` by ``[y_a, y_c] = t[l, m] [x_a, x_c]``."""
    pairs = t.shape[1]
    n_pad = 2 * pairs
    c1 = t.shape[0] if c1 is None else c1
    m = torch.arange(pairs, device=state.device)
    for col in range(c0, c1):
        a = 2 * m + col % 2
        c = (a + 1) % n_pad
        xa, xc = state[:, a], state[:, c]
        blk = t[col]
        ya = blk[:, 0, 0] * xa + blk[:, 0, 1] * xc
        yc = blk[:, 1, 0] * xa + blk[:, 1, 1] * xc
        state = state.index_copy(1, a, ya).index_copy(1, c, yc)
    return state
