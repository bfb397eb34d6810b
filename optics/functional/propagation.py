"""Free-space propagation of scalar fields between parallel planes.

All propagators here are linear, shift-invariant filters applied on a zero-padded grid:

    u_out = crop( IFFT2[ H(fy, fx) · FFT2[ pad(u_in) ] ] )

with padding at the end of each axis to ``ceil(pad_factor · n)`` samples (linear rather than
circular convolution needs ``pad_factor ≥ 2`` when the light fills the window) and the
result cropped back to the input grid. They differ in the transfer function ``H``:

* :func:`asm_transfer_function` — angular spectrum, H = exp(i 2π z sqrt(1/λ² − fx² − fy²)),
  evanescent waves removed, band-limited after Matsushima & Shimobaba, Opt. Express 17,
  19662 (2009), Eq. (13): |f| ≤ 1/(λ sqrt((2 Δf z)² + 1)) per axis, Δf = 1/(padded width).
* :func:`fresnel_transfer_function` — paraxial, H = exp(ikz) exp(−iπ λ z (fx² + fy²))
  (Goodman, *Introduction to Fourier Optics*, 3rd ed., Eq. 4-21).
* :func:`rs_transfer_function` — the DFT of the sampled first Rayleigh–Sommerfeld impulse
  response h = z/(2π r²) (1/r − i k) exp(i k r) (Goodman Eq. 3-74 without approximation;
  FFT convolution after Shen & Wang, Appl. Opt. 45, 1102 (2006)).

:func:`fraunhofer_propagate` is different: a far-field Fourier transform onto a new grid.

Conventions: exp(−iωt) time dependence, so forward propagation (z > 0) multiplies by
exp(+i k_z z); arrays are indexed [y, x]. Transfer functions are computed in float64 (the
phase k z reaches 10⁶ rad in practical set-ups) and cast to the field's dtype.

Sampling is checked: an aliased transfer function or impulse response raises
:class:`~optics.SamplingError` naming what would be valid; the band-limited angular spectrum
raises, for ``pad_factor < 2``, when its band limit would remove more than ``sampling_tol``
of the field's power and says which ``pad_factor`` would keep it; with ``pad_factor ≥ 2``
the removed light would land outside the output window (the in-window result is exact), so
a :class:`~optics.SamplingWarning` reports the loss instead.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from .._checks import SamplingError, check_finite, finite_float, fraction, positive_float
from .. import _fft
from ..field import Field
from ..grid import Grid
from . import _bandloss as _bl

__all__ = [
    "asm_propagate",
    "fresnel_propagate",
    "fraunhofer_propagate",
    "rs_propagate",
    "asm_transfer_function",
    "fresnel_transfer_function",
    "rs_transfer_function",
    "band_limit_frequency",
    "apply_transfer_function",
]

_CACHE_SIZE = 8


# --------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------
def _check_field(field) -> None:
    if not isinstance(field, Field):
        raise TypeError(
            f"expected an optics.Field, got {type(field).__name__}; wrap a complex tensor as "
            "Field(data, grid, wavelength)"
        )
    check_finite(field.data, "Field data")


def _distance(distance, *, allow_tensor: bool = True):
    """Validate a propagation distance in metres; keeps a tensor that requires grad."""
    if isinstance(distance, torch.Tensor) and allow_tensor and distance.requires_grad:
        if distance.numel() != 1:
            raise ValueError(f"distance must be a scalar, got shape {tuple(distance.shape)}")
        if not torch.isfinite(distance.detach()).all():
            raise ValueError(f"distance must be finite (in m), got {distance.item()!r}")
        return distance.reshape(())
    return finite_float(distance, "distance")


def _padded(grid: Grid, pad_factor) -> tuple[int, int]:
    return grid.padded_shape(pad_factor)


def band_limit_frequency(grid: Grid, wavelength: float, distance: float,
                         pad_factor: float = 2) -> tuple[float, float]:
    """Matsushima's band limit ``(fy_lim, fx_lim)`` in cycles/m for a padded grid.

    f_lim = 1 / (λ sqrt((2 Δf |z|)² + 1)) with Δf = 1/(M d) the frequency spacing of the
    padded grid (Matsushima & Shimobaba 2009, Eq. 13). Beyond it the sampled transfer
    function aliases; physically, light at those angles leaves the padded window.
    """
    lam = positive_float(wavelength, "wavelength")
    z = abs(finite_float(distance, "distance"))
    return _bl.band_limit_frequency(grid, lam, z, pad_factor)


def _band_edge(grid: Grid, wavelength: float) -> tuple[float, float]:
    """Highest frequency that matters per axis: min(Nyquist, 1/λ)."""
    return (min(grid.nyquist[0], 1 / wavelength), min(grid.nyquist[1], 1 / wavelength))


# --------------------------------------------------------------------------------------
# transfer functions
# --------------------------------------------------------------------------------------
def _asm_tf(grid, wavelength, distance, pad_factor, band_limit, dtype, device, taper=0.0):
    shape = _padded(grid, pad_factor)
    fy, fx = _bl.padded_freqs(grid, shape, device)
    w2 = 1.0 / wavelength**2 - fy**2 - fx**2
    kz = 2 * math.pi * torch.sqrt(torch.clamp(w2, min=0.0))
    amplitude = (w2 > 0).to(torch.float64)  # evanescent waves removed
    if band_limit:
        z_abs = abs(float(distance.detach())) if isinstance(distance, torch.Tensor) else abs(distance)
        fy_lim, fx_lim = band_limit_frequency(grid, wavelength, z_abs, pad_factor)
        amplitude = amplitude * _bl.edge_window(fy, fy_lim, taper) * _bl.edge_window(fx, fx_lim, taper)
    if isinstance(distance, torch.Tensor):
        phase = kz * distance.to(device=device, dtype=torch.float64)
    else:
        phase = kz * distance
    return torch.polar(amplitude, phase).to(dtype)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _asm_tf_cached(grid, wavelength, distance, pad_factor, band_limit, dtype, device, taper):
    return _asm_tf(grid, wavelength, distance, pad_factor, band_limit, dtype, device, taper)


def asm_transfer_function(grid: Grid, wavelength: float, distance, *, pad_factor: float = 2,
                          band_limit: bool = True, taper: float = 0.0, dtype=torch.complex64,
                          device=None) -> torch.Tensor:
    """Angular-spectrum transfer function on the padded grid, FFT order.

    Args:
        grid: input sampling.
        wavelength: vacuum wavelength λ in metres (> 0).
        distance: propagation distance z in metres (negative = backwards); a scalar tensor
            that requires grad is kept differentiable (and not cached).
        pad_factor: zero padding per axis (≥ 1).
        band_limit: apply Matsushima's band limit (recommended; without it the sampled
            transfer function aliases beyond the critical distance).

    Returns:
        Complex tensor of shape ``(ceil(pad_factor·ny), ceil(pad_factor·nx))``.
    """
    lam = positive_float(wavelength, "wavelength")
    z = _distance(distance)
    grid.padded_shape(pad_factor)  # validates pad_factor
    device = torch.device(device) if device is not None else torch.device("cpu")
    return _asm_tf_shared(grid, lam, z, pad_factor, band_limit, dtype, device, taper).clone()


def _check_taper(taper) -> float:
    if isinstance(taper, bool) or not isinstance(taper, (int, float)) or not 0 <= taper < 1:
        raise ValueError(f"taper must be a fraction in [0, 1), got {taper!r}")
    return float(taper)


def _asm_tf_shared(grid, lam, z, pad_factor, band_limit, dtype, device, taper=0.0):
    """Cached transfer function (shared object: never modify it in place)."""
    taper = _check_taper(taper)
    if isinstance(z, torch.Tensor):
        return _asm_tf(grid, lam, z, pad_factor, band_limit, dtype, device, taper)
    return _asm_tf_cached(grid, lam, z, float(pad_factor), bool(band_limit), dtype, device, taper)


def fresnel_transfer_function(grid: Grid, wavelength: float, distance, *, pad_factor: float = 2,
                              dtype=torch.complex64, device=None, check_sampling: bool = True
                              ) -> torch.Tensor:
    """Paraxial (Fresnel) transfer function exp(ikz)·exp(−iπλz(fx²+fy²)), padded, FFT order.

    Raises:
        SamplingError: when the chirp is under-sampled in frequency, i.e. |z| > M d²/λ
            along an axis (Voelz & Roggemann, Appl. Opt. 48, 6132 (2009)).
    """
    lam = positive_float(wavelength, "wavelength")
    z = _distance(distance)
    shape = _padded(grid, pad_factor)
    device = torch.device(device) if device is not None else torch.device("cpu")
    z_val = float(z.detach()) if isinstance(z, torch.Tensor) else z
    if check_sampling:
        for axis, m, d in (("y", shape[0], grid.dy), ("x", shape[1], grid.dx)):
            z_max = m * d * d / lam
            if abs(z_val) > z_max:
                raise SamplingError(
                    f"Fresnel transfer function is under-sampled along {axis}: |z| = {abs(z_val):.4g} m "
                    f"exceeds M·d²/λ = {z_max:.4g} m (M = {m} padded samples, pitch d = {d:.4g} m). "
                    f"Valid: pad_factor ≥ {abs(z_val) * lam / (m / pad_factor * d * d):.3g}, or "
                    "asm_propagate (band-limited), or fraunhofer_propagate in the far field"
                )
    fy, fx = _bl.padded_freqs(grid, shape, device)
    z64 = z.to(device=device, dtype=torch.float64) if isinstance(z, torch.Tensor) else z
    phase = 2 * math.pi / lam * z64 - math.pi * lam * z64 * (fy**2 + fx**2)
    return torch.polar(torch.ones_like(phase), phase).to(dtype)


def _lags(n: int, m: int, d: float, device) -> torch.Tensor:
    """Lags (metres) of a length-m circular kernel: 0, d, 2d, ..., then negative lags."""
    idx = torch.arange(m, device=device, dtype=torch.float64)
    return torch.where(idx < m - (n - 1), idx, idx - m) * d


def rs_transfer_function(grid: Grid, wavelength: float, distance: float, *, pad_factor: float = 2,
                         dtype=torch.complex64, device=None, check_sampling: bool = True) -> torch.Tensor:
    """DFT of the sampled Rayleigh–Sommerfeld (first kind) impulse response, padded, FFT order.

    h(x, y) = z / (2π r²) · (1/r − i k) · exp(i k r),  r = sqrt(x² + y² + z²),
    sampled at the lags of a linear convolution and multiplied by the cell area, so that
    ``IFFT[H · FFT[pad(u)]]`` is the Riemann sum ∑ u(x') h(x − x') dx dy.

    Raises:
        ValueError: z ≤ 0 (Rayleigh–Sommerfeld here propagates forwards only) or a padding
            too small for linear convolution (needs pad_factor·n ≥ 2n − 1).
        SamplingError: the impulse response is aliased at the largest lag needed, i.e. its
            local frequency W / (λ sqrt(W² + z²)) exceeds the Nyquist frequency 1/(2d).
    """
    lam = positive_float(wavelength, "wavelength")
    z = positive_float(distance, "Rayleigh–Sommerfeld distance")
    my, mx = _padded(grid, pad_factor)
    for axis, n, m in (("y", grid.ny, my), ("x", grid.nx, mx)):
        if m < 2 * n - 1:
            raise ValueError(
                f"rs_propagate needs a linear convolution: padded size {m} along {axis} is < 2n − 1 = "
                f"{2 * n - 1}; use pad_factor ≥ 2 (got {pad_factor})"
            )
    if check_sampling:
        for axis, n, d in (("y", grid.ny, grid.dy), ("x", grid.nx, grid.dx)):
            w = (n - 1) * d
            f_local = w / (lam * math.sqrt(w * w + z * z))
            if f_local > 0.5 / d * (1 + 1e-9):
                z_min = w * math.sqrt((2 * d / lam) ** 2 - 1)
                d_max = lam * math.sqrt(w * w + z * z) / (2 * w)
                raise SamplingError(
                    f"Rayleigh–Sommerfeld impulse response is aliased along {axis}: at the largest lag "
                    f"W = {w:.4g} m its local frequency W/(λ·r) = {f_local:.4g} cycles/m exceeds the "
                    f"Nyquist frequency 1/(2d) = {0.5 / d:.4g} cycles/m (pitch d = {d:.4g} m, z = {z:.4g} m). "
                    f"Valid: pitch ≤ {d_max:.4g} m, or distance ≥ {z_min:.4g} m, or asm_propagate "
                    "(band-limited angular spectrum)"
                )
    device = torch.device(device) if device is not None else torch.device("cpu")
    k = 2 * math.pi / lam
    y = _lags(grid.ny, my, grid.dy, device)[:, None]
    x = _lags(grid.nx, mx, grid.dx, device)[None, :]
    r = torch.sqrt(x**2 + y**2 + z * z)
    h = (z / (2 * math.pi * r**2)) * torch.complex(1 / r, -k * torch.ones_like(r)) * torch.polar(
        torch.ones_like(r), k * r)
    h = h * grid.cell_area
    return torch.fft.fft2(h).to(dtype)


# --------------------------------------------------------------------------------------
# application
# --------------------------------------------------------------------------------------
def apply_transfer_function(data: torch.Tensor, transfer: torch.Tensor, *, spectrum_check=None,
                            fft_backend: str = "auto", backend: str = "auto") -> torch.Tensor:
    """Filter ``(*batch, ny, nx)`` data by a padded transfer function ``(My, Mx)``.

    Zero-pads at the end of each axis to ``transfer.shape`` (inside the FFT), multiplies,
    transforms back and crops to ``(ny, nx)``. Returns a tensor of ``data``'s shape.
    ``spectrum_check(spectrum)``, if given, sees the padded spectrum before filtering.
    ``fft_backend`` picks the FFT implementation (:mod:`optics._fft`: ``"auto"``,
    ``"torch"``, ``"scipy"``, ``"pyfftw"``); on CPU the whole filter is one fused Function.
    ``backend``: ``"auto"`` (the fused CuPy kernel :func:`cupy_kernels.filter2` for CUDA
    tensors when CuPy works, else the torch path), ``"torch"`` or ``"cupy"`` (see
    :func:`cupy_kernels.use_cupy`); the CuPy kernel does its own cuFFT, so ``fft_backend``
    only applies to the torch path.
    """
    import cupy_kernels  # lazily: optional GPU kernels (docs/design.md#dependency-direction)

    if cupy_kernels.use_cupy(backend, data, transfer, what="apply_transfer_function",
                             unsupported=lambda: _cupy_filter_unsupported(data, transfer)):
        return cupy_kernels.filter2(data, transfer, spectrum_check=spectrum_check)
    return _fft.filter2(data, transfer, backend=fft_backend, spectrum_check=spectrum_check)


def _cupy_filter_unsupported(data, transfer):
    from cupy_kernels import ops

    return ops.filter_unsupported(data, transfer)


def _check_asm_setup(field: Field, z: float, pad_factor, band_limit: bool) -> None:
    """Without band limit, raise when the transfer function aliases within the grid's band."""
    if band_limit:
        return
    lim = band_limit_frequency(field.grid, field.wavelength, z, pad_factor)
    edge = _band_edge(field.grid, field.wavelength)
    if lim[0] < edge[0] or lim[1] < edge[1]:
        raise SamplingError(
            f"angular-spectrum transfer function without band limit is aliased over z = {z:.4g} m: "
            f"it is adequately sampled only up to ({lim[0]:.4g}, {lim[1]:.4g}) cycles/m (y, x), below the "
            f"grid's band ({edge[0]:.4g}, {edge[1]:.4g}). Valid: band_limit=True, a larger pad_factor, "
            "or a shorter distance"
        )


def _band_loss_check(field: Field, z: float, pad_factor, taper: float, tol: float):
    """A spectrum check (:class:`_bandloss.LossCheck`) for apply_transfer_function, or None when
    nothing is removed or the set-up has already been warned about. Call its ``finish()``
    after the filter."""
    if _bl.warned(field.grid, field.wavelength, z, float(pad_factor)):
        return None
    weights = _bl.loss_weights(field.grid, field.wavelength, abs(z), float(pad_factor), taper, field.device)
    if weights is None:
        return None
    return _bl.LossCheck(weights, field.data, field.grid, field.wavelength, z, pad_factor, tol)


def _check_finite_result(out: torch.Tensor, data: torch.Tensor) -> None:
    """Raise the clear non-finite-input error when the filtered ``out`` says there was one.

    A NaN or inf anywhere in a field reaches every frequency of its padded spectrum and from
    there every output sample (0·inf and inf − inf are NaN), so the first output sample of
    each field tells: a check of ``B`` values instead of ``B·ny·nx``. A finite input that
    overflowed in the transform is told apart by the exact check, which then passes."""
    o = out.detach()
    if o.device.type == "cpu" and not o.is_conj():  # numpy: a few µs instead of torch dispatches
        if np.isfinite(o.numpy()[..., 0, 0]).all():
            return
    elif bool(torch.isfinite(o[..., 0, 0]).all()):
        return
    check_finite(data, "Field data")


def asm_propagate(field: Field, distance, *, pad_factor: float = 2, band_limit: bool = True,
                  taper: float = 0.0, check_sampling: bool = True, sampling_tol: float = 1e-2,
                  fft_backend: str = "auto", backend: str = "auto") -> Field:
    """Propagate by the band-limited angular spectrum method.

    Exact for scalar fields whose spectrum lies inside the band limit (evanescent waves are
    removed); linear convolution through zero padding (``pad_factor``); see module docstring.

    Args:
        field: input field, data ``(*batch, ny, nx)``.
        distance: z in metres; negative propagates backwards (exactly inverts forwards on
            the kept band). A scalar tensor that requires grad stays differentiable.
        pad_factor: zero padding per axis (≥ 1; 2 gives linear convolution).
        band_limit: Matsushima's band limit. With ``band_limit=False`` beyond the critical
            distance the transfer function aliases and a SamplingError is raised.
        taper: raised-cosine roll-off inside the band limit (see asm_transfer_function).
        check_sampling: check sampling (see Raises).
        sampling_tol: largest fraction of the field's power the band limit may remove.
        fft_backend: FFT implementation, see :func:`apply_transfer_function`.
        backend: ``"auto"``, ``"torch"`` or ``"cupy"``: the fused GPU kernel for CUDA fields
            (``"auto"`` uses it when CuPy works; CPU fields always take the torch path),
            see :func:`apply_transfer_function`.

    Returns:
        Field on the same grid, same dtype.

    Raises:
        TypeError, ValueError: not a Field, NaN/inf data, bad distance or pad_factor.
        SamplingError: aliased transfer function (``band_limit=False``), or, with
            ``pad_factor < 2``, the band limit would discard more than ``sampling_tol`` of the
            power. (With ``pad_factor ≥ 2`` such a loss is light leaving the window: a
            SamplingWarning.)
    """
    _check_field(field)
    z = _distance(distance)
    z_val = float(z.detach()) if isinstance(z, torch.Tensor) else z
    field.grid.padded_shape(pad_factor)  # validates pad_factor
    sampling_tol = fraction(sampling_tol, "sampling_tol")
    h = _asm_tf_shared(field.grid, field.wavelength, z, pad_factor, band_limit, field.dtype, field.device,
                       taper)
    check = None
    if check_sampling:
        _check_asm_setup(field, z_val, pad_factor, band_limit)
        if band_limit:
            check = _band_loss_check(field, z_val, pad_factor, _check_taper(taper), sampling_tol)
    out = apply_transfer_function(field.data, h, spectrum_check=check, fft_backend=fft_backend, backend=backend)
    if check is not None:
        check.finish()
    return field.replace(data=out)


def fresnel_propagate(field: Field, distance, *, pad_factor: float = 2,
                      check_sampling: bool = True, fft_backend: str = "auto") -> Field:
    """Propagate by the Fresnel (paraxial) transfer function; same grid in and out.

    Raises SamplingError when the transfer-function chirp is under-sampled (|z| > M d²/λ).
    ``fft_backend``: see :func:`apply_transfer_function`.
    """
    _check_field(field)
    h = fresnel_transfer_function(field.grid, field.wavelength, distance, pad_factor=pad_factor,
                                  dtype=field.dtype, device=field.device, check_sampling=check_sampling)
    return field.replace(data=apply_transfer_function(field.data, h, fft_backend=fft_backend))


def rs_propagate(field: Field, distance: float, *, pad_factor: float = 2,
                 check_sampling: bool = True, fft_backend: str = "auto") -> Field:
    """Propagate by FFT convolution with the sampled Rayleigh–Sommerfeld impulse response.

    Forward only (z > 0); needs pad_factor ≥ 2. Raises SamplingError when the impulse
    response is aliased (pitch too coarse for the distance and window). ``fft_backend``: see
    :func:`apply_transfer_function`.
    """
    _check_field(field)
    h = rs_transfer_function(field.grid, field.wavelength, distance, pad_factor=pad_factor,
                             dtype=field.dtype, device=field.device, check_sampling=check_sampling)
    return field.replace(data=apply_transfer_function(field.data, h, fft_backend=fft_backend))


def fraunhofer_propagate(field: Field, distance: float, *, pad_factor: float = 1) -> Field:
    """Far-field (Fraunhofer) propagation onto a new grid.

    u(x, y) = exp(ikz) exp(ik(x² + y²)/(2z)) / (iλz) · ∬ u0(ξ, η) exp(−i2π(xξ + yη)/(λz)) dξ dη
    (Goodman Eq. 4-25), evaluated by one FFT on the input padded to M = ceil(pad_factor·n)
    samples per axis. The output grid has shape ``(My, Mx)`` and pitch ``λz/(M d)`` with the
    same centred pixel-centre convention as every Grid.

    Valid when the Fresnel number a²/(λz) of the field's support (half-width a) is ≪ 1.
    """
    _check_field(field)
    z = positive_float(distance, "Fraunhofer distance")
    grid, lam = field.grid, field.wavelength
    my, mx = _padded(grid, pad_factor)
    out_grid = Grid((my, mx), (lam * z / (my * grid.dy), lam * z / (mx * grid.dx)))
    dev = field.device

    def ramps(n, m):
        # x_k ξ_j /(λz) = (k − c_o)(j − c_i)/m with c_i = (n−1)/2, c_o = (m−1)/2
        c_i, c_o = (n - 1) / 2, (m - 1) / 2
        j = torch.arange(n, dtype=torch.float64, device=dev)
        k = torch.arange(m, dtype=torch.float64, device=dev)
        pre = torch.polar(torch.ones_like(j), 2 * math.pi * c_o * j / m)
        post = torch.polar(torch.ones_like(k), 2 * math.pi * (k * c_i - c_o * c_i) / m)
        return pre, post

    pre_y, post_y = ramps(grid.ny, my)
    pre_x, post_x = ramps(grid.nx, mx)
    pre = (pre_y[:, None] * pre_x[None, :]).to(field.dtype)
    post = (post_y[:, None] * post_x[None, :])
    yo, xo = out_grid.meshgrid(device=dev)
    k0 = 2 * math.pi / lam
    prefac = torch.polar(torch.ones_like(yo), k0 * z + k0 * (xo**2 + yo**2) / (2 * z)) / (1j * lam * z)
    factor = (post * prefac * grid.cell_area).to(field.dtype)
    spec = _fft.fft2(field.data * pre, s=(my, mx))
    return Field(spec * factor, out_grid, lam)
