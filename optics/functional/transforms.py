"""Differentiable in-plane translations and rotations: the mechanism of misalignment.

Conventions (pinned by ``tests/optics/test_transforms.py``):

* Coordinates are those of :class:`~optics.grid.Grid`: ``x`` along columns (last axis),
  ``y`` along rows (second-to-last axis), both increasing with the index, pixel centres
  symmetric about the optical axis.
* :func:`shift` by ``(dy, dx)`` metres moves content towards ``+y`` / ``+x``:
  ``out(x, y) = in(x - dx, y - dy)``. In the Fourier domain (shift theorem, e.g. Goodman,
  *Introduction to Fourier Optics*, 3rd ed., Table 2.1) this multiplies the spectrum by
  ``exp(-i 2π (fy·dy + fx·dx))``. The grid is periodic: content leaving one edge enters at
  the opposite one, and an integer-pixel shift equals ``torch.roll`` exactly.
* :func:`rotate` by ``angle`` θ radians is counter-clockwise in the ``(x, y)`` plane:
  content at ``(x, y)`` moves to ``(x cos θ - y sin θ, x sin θ + y cos θ)``, so ``+x`` turns
  towards ``+y`` (towards larger row index; on a display with row 0 at the top this looks
  clockwise). A rotation by +90° equals ``torch.rot90(x, k=1, dims=(-1, -2))``.

Nyquist bin. For even sizes the bin ``f = -1/(2d)`` has no partner; the ramp used there is
``exp(-i2π f s)`` like every other bin, which keeps the shift unitary and makes shifts
compose exactly (``shift(a)∘shift(b) = shift(a+b)``); for an integer shift it is ``(-1)^s``,
which is what makes the integer shift equal ``torch.roll``. A *real* input returns the real
part of the shifted result, which is the same as giving the Nyquist bin the Hermitian
ramp ``cos(2π f s)`` (so real in, real out). Band-limited inputs (no Nyquist content) are
not affected by this choice.

One-dimensional transforms (the shears of :func:`rotate`) call ``torch.fft.fft`` /
``torch.fft.ifft`` directly because the FFT seam (:mod:`optics._fft`) is two-dimensional;
2-D shifts go through the seam.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import _fft
from .._checks import complex_dtype_of, real_dtype_of
from ..field import Field
from ..grid import Grid

__all__ = ["shift", "rotate"]


# -- input handling ----------------------------------------------------------------------
def _unpack(x, grid, fname: str):
    """Return ``(data, grid, rebuild)`` where ``rebuild(data)`` gives the output type."""
    if isinstance(x, Field):
        if grid is not None and grid != x.grid:
            raise ValueError(f"{fname}: grid= {grid!r} differs from the Field's grid {x.grid!r}; "
                             "leave grid=None for a Field")
        return x.data, x.grid, lambda data: x.replace(data=data)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fname}: x must be an optics.Field or a torch.Tensor (*batch, ny, nx), "
                        f"got {type(x).__name__}")
    if grid is None:
        raise ValueError(f"{fname}: a tensor input needs grid= (an optics.Grid giving the pitch "
                         "in metres); a Field carries its own grid")
    if not isinstance(grid, Grid):
        raise TypeError(f"{fname}: grid must be an optics.Grid, got {type(grid).__name__}")
    if x.dim() < 2 or tuple(x.shape[-2:]) != grid.shape:
        raise ValueError(f"{fname}: tensor shape {tuple(x.shape)} does not match grid.shape "
                         f"{grid.shape}; the last two dimensions must be (ny, nx)")
    if not (x.is_complex() or x.is_floating_point()):
        raise TypeError(f"{fname}: x must be a floating-point or complex tensor, got {x.dtype}")
    return x, grid, lambda data: data


def _as_real_param(value, name: str, unit: str, fname: str, like: torch.Tensor) -> torch.Tensor:
    """A float or tensor parameter as a finite real tensor on ``like``'s device."""
    dtype = real_dtype_of(like.dtype)
    if isinstance(value, torch.Tensor):
        if value.is_complex() or not (value.is_floating_point() or value.dtype in (
                torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
            raise TypeError(f"{fname}: {name} must be real (in {unit}), got a {value.dtype} tensor")
        t = value.to(device=like.device, dtype=torch.promote_types(value.dtype, dtype)
                     if value.is_floating_point() else dtype)
        with torch.no_grad():  # a tensor's values are read back (a host synchronisation on a GPU)
            if t.numel() and not bool(torch.isfinite(t).all()):
                raise ValueError(f"{fname}: {name} must be finite (in {unit}), got {value!r}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):  # checked on the host: no read-back, no graph break under torch.compile
            raise ValueError(f"{fname}: {name} must be finite (in {unit}), got {value!r}")
        # filled on the device: torch.tensor(value, device=...) would copy from the host and wait
        t = torch.full((), float(value), dtype=torch.float64, device=like.device).to(dtype)
    else:
        raise TypeError(f"{fname}: {name} must be a float or a real tensor (in {unit}), "
                        f"got {type(value).__name__}")
    batch = like.shape[:-2]
    try:
        torch.broadcast_shapes(t.shape, batch)
    except RuntimeError:
        raise ValueError(f"{fname}: {name} of shape {tuple(t.shape)} does not broadcast to the "
                         f"batch shape {tuple(batch)} of the input") from None
    return t


def _ramp(freqs: torch.Tensor, s: torch.Tensor, cdtype) -> torch.Tensor:
    """exp(-i 2π f s) with ``s`` of shape (*b,) and ``f`` (n,) -> (*b, n)."""
    phase = -2 * math.pi * s.unsqueeze(-1) * freqs.to(s.dtype)
    return torch.polar(torch.ones_like(phase), phase).to(cdtype)


# -- shift -------------------------------------------------------------------------------
def shift(x, dy, dx, *, grid: Grid | None = None):
    """Translate a field by ``(dy, dx)`` metres with the Fourier shift theorem (periodic).

    ``out(x, y) = in(x - dx, y - dy)``, computed as
    ``IFFT2[ FFT2[in] · exp(-i2π(fy·dy + fx·dx)) ]`` (see the module docstring for the
    Nyquist-bin convention). Exact for band-limited periodic content; an integer number of
    pixels equals ``torch.roll(in, (dy/dy_pitch, dx/dx_pitch), dims=(-2, -1))``.
    Differentiable with respect to ``x``, ``dy`` and ``dx``.

    Args:
        x: an :class:`~optics.field.Field`, or a real or complex tensor ``(*batch, ny, nx)``
            together with ``grid``.
        dy: shift along y (rows) in metres; a float or a real tensor broadcastable to the
            batch shape (per-sample shifts).
        dx: shift along x (columns) in metres; as ``dy``.
        grid: the sampling of a tensor input (must be None or equal for a Field).

    Returns:
        A Field for a Field input, else a tensor of the input's dtype (real stays real).

    Shape:
        ``(*batch, ny, nx) -> (*broadcast(batch, dy.shape, dx.shape), ny, nx)``.
    """
    data, g, rebuild = _unpack(x, grid, "shift")
    ty = _as_real_param(dy, "dy", "m", "shift", data)
    tx = _as_real_param(dx, "dx", "m", "shift", data)
    cdtype = data.dtype if data.is_complex() else complex_dtype_of(data.dtype)
    fy, fx = g.freqs(dtype=torch.float64, device=data.device)
    ramp_y = _ramp(fy, ty, cdtype).unsqueeze(-1)  # (*b, ny, 1)
    ramp_x = _ramp(fx, tx, cdtype).unsqueeze(-2)  # (*b, 1, nx)
    out = _fft.ifft2(_fft.fft2(data.to(cdtype)) * ramp_y * ramp_x)
    if not data.is_complex():
        out = out.real
    return rebuild(out)


# -- rotate ------------------------------------------------------------------------------
def _shear(data: torch.Tensor, amount: torch.Tensor, coord: torch.Tensor, pitch: float,
           dim: int) -> torch.Tensor:
    """Shift every line along ``dim`` by ``amount * coord`` metres (1-D Fourier shifts).

    ``data``: complex ``(*b, ny, nx)``; ``amount``: real ``(*b,)`` (dimensionless shear);
    ``coord``: coordinates (m) of the *other* axis. ``dim`` is -1 (x-shear: row y shifted
    along x by amount·y) or -2 (y-shear: column x shifted along y by amount·x).
    """
    n = data.shape[dim]
    f = torch.fft.fftfreq(n, d=pitch, dtype=torch.float64, device=data.device).to(amount.dtype)
    s = amount[..., None] * coord.to(amount.dtype)  # (*b, m): shift (m) of each line
    phase = -2 * math.pi * s[..., :, None] * f  # (*b, m, n)
    ramp = torch.polar(torch.ones_like(phase), phase).to(data.dtype)
    if dim == -2:
        ramp = ramp.transpose(-1, -2)  # (*b, n=ny, m=nx)
    return torch.fft.ifft(torch.fft.fft(data, dim=dim) * ramp, dim=dim)


def _rotate_fourier(data: torch.Tensor, theta: torch.Tensor, g: Grid) -> torch.Tensor:
    # Reduce θ to [-π/2, π/2] with an exact 180° turn (a flip of both axes on the symmetric
    # pixel-centre grid) so that |tan(θ/2)| ≤ 1 (Larkin et al. 1997, Sec. 3).
    with torch.no_grad():
        wrapped = torch.remainder(theta + math.pi, 2 * math.pi) - math.pi  # [-π, π)
        k = torch.round((theta - wrapped) / (2 * math.pi))
        turn = wrapped.abs() > math.pi / 2
        offset = 2 * math.pi * k + torch.where(turn, math.pi * torch.sign(wrapped),
                                               torch.zeros_like(wrapped))
    theta = theta - offset
    turn_b = turn.expand(data.shape[:-2]) if turn.dim() else turn
    data = torch.where(turn_b[..., None, None], torch.flip(data, dims=(-2, -1)), data)
    # R(θ) = Sx(-tan θ/2) · Sy(sin θ) · Sx(-tan θ/2)   (Larkin, Oldfield & Klemm,
    # Opt. Commun. 139, 99 (1997), Eq. (3)); Sx(a): (x, y) -> (x + a y, y).
    a = -torch.tan(theta / 2)
    b = torch.sin(theta)
    y, x = g.coords(dtype=torch.float64, device=data.device)
    data = _shear(data, a, y, g.dx, dim=-1)
    data = _shear(data, b, x, g.dy, dim=-2)
    return _shear(data, a, y, g.dx, dim=-1)


def _rotate_bilinear(data: torch.Tensor, theta: torch.Tensor, g: Grid) -> torch.Tensor:
    batch = data.shape[:-2]
    ny, nx = g.shape
    rdtype = real_dtype_of(data.dtype)
    y, x = g.meshgrid(dtype=rdtype, device=data.device)
    c = torch.cos(theta).to(rdtype)[..., None, None]
    s = torch.sin(theta).to(rdtype)[..., None, None]
    # out(r) = in(R(-θ) r): source point of every output pixel.
    xs = c * x + s * y
    ys = -s * x + c * y
    # grid_sample with align_corners=False: -1/+1 are the outer pixel edges, so a pixel
    # centre at x maps to x / (nx·dx/2) (the grid is symmetric about the axis).
    sample = torch.stack((xs / (nx * g.dx / 2), ys / (ny * g.dy / 2)), dim=-1)
    sample = sample.expand(*batch, ny, nx, 2).reshape(-1, ny, nx, 2)
    if data.is_complex():
        chans = torch.view_as_real(data).movedim(-1, -3)  # (*b, 2, ny, nx)
    else:
        chans = data.unsqueeze(-3)
    chans = chans.reshape(-1, chans.shape[-3], ny, nx)
    out = F.grid_sample(chans, sample, mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    out = out.reshape(*batch, -1, ny, nx)
    if data.is_complex():
        return torch.view_as_complex(out.movedim(-3, -1).contiguous())
    return out.squeeze(-3)


def rotate(x, angle, *, grid: Grid | None = None, mode: str = "fourier"):
    """Rotate a field in its plane by ``angle`` radians about the optical axis.

    Counter-clockwise in the ``(x, y)`` plane: content at ``(x, y)`` moves to
    ``(x cos θ - y sin θ, x sin θ + y cos θ)`` (``+x`` turns towards ``+y``, i.e. towards
    larger row index), so ``out(r) = in(R(-θ) r)``.

    Modes:
        ``"fourier"``: three successive shears x-y-x, each a set of 1-D Fourier shifts
        (Larkin, Oldfield & Klemm, Opt. Commun. 139, 99 (1997)). Norm-preserving and exact
        for content that stays band-limited under the shears; periodic (content sheared
        past an edge wraps), so keep the pattern away from the edges. Angles are first
        reduced to ``[-π/2, π/2]`` by an exact 180° turn (flip of both axes). Physical
        coordinates are used, so non-square pixels are handled.
        ``"bilinear"``: ``torch.nn.functional.grid_sample`` (bilinear, zeros outside the
        grid). Smooths, not norm-preserving, but local and non-periodic.

    Args:
        x: a Field, or a real or complex tensor ``(*batch, ny, nx)`` with ``grid``.
        angle: rotation angle θ in radians; a float or a real tensor broadcastable to the
            batch shape (per-sample angles). Differentiable.
        grid: the sampling of a tensor input.
        mode: ``"fourier"`` (default) or ``"bilinear"``.

    Returns:
        A Field for a Field input, else a tensor of the input's dtype.

    Shape:
        ``(*batch, ny, nx) -> (*broadcast(batch, angle.shape), ny, nx)``.
    """
    if mode not in ("fourier", "bilinear"):
        raise ValueError(f"rotate: mode must be 'fourier' or 'bilinear', got {mode!r}")
    data, g, rebuild = _unpack(x, grid, "rotate")
    theta = _as_real_param(angle, "angle", "rad", "rotate", data)
    batch = torch.broadcast_shapes(theta.shape, data.shape[:-2])
    data = data.expand(*batch, *g.shape)
    theta = theta.expand(batch)
    if mode == "bilinear":
        return rebuild(_rotate_bilinear(data, theta, g))
    cdtype = data.dtype if data.is_complex() else complex_dtype_of(data.dtype)
    out = _rotate_fourier(data.to(cdtype), theta, g)
    if not data.is_complex():
        out = out.real
    return rebuild(out)
