"""Power removed by the band limit of the angular-spectrum method, and what to do about it.

The check runs on the padded spectrum that propagation computes anyway: the weights
``1 − |H|²`` over the propagating frequencies that the band limit (and its taper) attenuate
are precomputed per set-up, so a check costs one gather over those frequencies only, plus
one pass over the field for its total power (Parseval: the padded spectrum's total power is
``My·Mx·Σ|data|²``). :class:`LossCheck` sums over the batch chunks a filter shows it.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import torch

from .._checks import SamplingError, SamplingWarning
from ..grid import Grid


def band_limit_frequency(grid: Grid, wavelength: float, z_abs: float, pad_factor) -> tuple[float, float]:
    my, mx = grid.padded_shape(pad_factor)
    return tuple(1.0 / (wavelength * math.sqrt((2 * z_abs / (m * d)) ** 2 + 1.0))
                 for m, d in ((my, grid.dy), (mx, grid.dx)))


def edge_window(f: torch.Tensor, limit: float, taper: float) -> torch.Tensor:
    """1 for |f| ≤ (1 − taper)·limit, raised-cosine roll-off to 0 at |f| = limit, 0 beyond."""
    if taper <= 0:
        return (f.abs() <= limit).to(torch.float64)
    t = ((f.abs() / limit - (1 - taper)) / taper).clamp(0, 1)
    return 0.5 * (1 + torch.cos(math.pi * t))


def padded_freqs(grid: Grid, shape, device):
    grid.check_memory(shape, device=device)  # transfer function and FFT work arrays on the padded grid
    fy = torch.fft.fftfreq(shape[0], d=grid.dy, dtype=torch.float64, device=device)
    fx = torch.fft.fftfreq(shape[1], d=grid.dx, dtype=torch.float64, device=device)
    return fy[:, None], fx[None, :]


@functools.lru_cache(maxsize=16)
def loss_weights(grid: Grid, wavelength: float, z_abs: float, pad_factor: float, taper: float, device):
    """``(flat indices, weights 1 − |H|²)`` of attenuated propagating frequencies, or None."""
    shape = grid.padded_shape(pad_factor)
    lim = band_limit_frequency(grid, wavelength, z_abs, pad_factor)
    fy, fx = padded_freqs(grid, shape, device)
    propagating = (fy**2 + fx**2) < 1 / wavelength**2
    amp = edge_window(fy, lim[0], taper) * edge_window(fx, lim[1], taper)
    loss = (propagating * (1 - amp**2)).reshape(-1)
    idx = torch.nonzero(loss > 0).reshape(-1)
    if idx.numel() == 0:
        return None
    return idx, loss[idx]


def removed_power(spectrum: torch.Tensor, weights) -> float:
    """Σ (1 − |H|²)|S|² over the attenuated frequencies of a padded spectrum ``(..., My, Mx)``."""
    idx, w = weights
    with torch.no_grad():
        spec = spectrum.detach()
        if spec.device.type == "cpu" and spec.is_contiguous() and not spec.is_conj():
            # numpy: the planned filter calls this once per field, torch dispatch would dominate
            return _removed_numpy(spec.numpy(), idx.numpy(), w.numpy())
        s = spec.reshape(*spec.shape[:-2], -1).index_select(-1, idx)
        # Σ re² + im² on the real view (|z| and vector_norm of a complex tensor go through
        # hypot, 10x slower)
        return float(((s.real.double() ** 2 + s.imag.double() ** 2) * w).sum())


def _removed_numpy(spec: np.ndarray, idx: np.ndarray, w: np.ndarray) -> float:
    """:func:`removed_power` of a C-contiguous numpy spectrum ``(..., My, Mx)``."""
    s = np.take(spec.reshape(-1, spec.shape[-2] * spec.shape[-1]), idx, axis=1)
    return float(((s.real.astype(np.float64) ** 2 + s.imag.astype(np.float64) ** 2) @ w).sum())


def total_power(data: torch.Tensor) -> float:
    """Σ|data|², with a double-precision fallback on overflow."""
    with torch.no_grad():
        d = data.detach()
        if d.device.type == "cpu" and d.is_complex() and d.is_contiguous() and not d.is_conj():
            flat = d.numpy().reshape(-1)  # one BLAS pass, no temporaries
            total = float(np.vdot(flat, flat).real)
        elif d.is_complex():
            total = float(torch.view_as_real(d.resolve_conj()).square().sum())
        else:
            total = float(d.square().sum())
        if not (0 < total < float("inf")):
            total = float((d.abs().double() ** 2).sum())
        return total


class LossCheck:
    """A spectrum check that sums the removed power over the chunks a filter shows it.

    Call it with the padded spectrum of the whole batch or of consecutive batch chunks (the
    chunked FFTW filter), then :meth:`finish` once the filter is done: it compares the lost
    fraction of the whole batch with ``tol`` and warns or raises through :func:`report`.
    """

    thread_safe = True  # check_numpy only appends: the filter's lanes may call it side by side

    def __init__(self, weights, data: torch.Tensor, grid: Grid, wavelength: float, distance: float,
                 pad_factor: float, tol: float):
        self.weights, self.data, self.tol = weights, data, tol
        self.setup = (grid, wavelength, distance, pad_factor)
        # per chunk: (removed power, My·Mx, Σ|data|² of its input fields, their count); list.append
        # is atomic, so lanes may add chunks side by side
        self._parts: list = []
        idx, w = weights
        # the planned FFTW filter hands its chunks' spectra over as numpy arrays (see check_numpy())
        self._np_weights = (idx.numpy(), w.numpy()) if idx.device.type == "cpu" else None

    def __call__(self, spectrum: torch.Tensor) -> None:
        self._parts.append((removed_power(spectrum, self.weights), spectrum.shape[-1] * spectrum.shape[-2], 0.0, 0))

    @property
    def removed(self) -> float:
        """Σ (1 − |H|²)|S|² over the chunks seen so far."""
        return sum(p[0] for p in self._parts)

    @property
    def m(self) -> int:
        """My·Mx of the padded spectra (0 before the first chunk)."""
        return self._parts[-1][1] if self._parts else 0

    @property
    def power(self) -> float:
        """Σ|data|² of the input fields check_numpy was given."""
        return sum(p[2] for p in self._parts)

    @property
    def power_fields(self) -> int:
        """How many input fields check_numpy was given."""
        return sum(p[3] for p in self._parts)

    def check_numpy(self, spectrum: np.ndarray, chunk: np.ndarray | None = None) -> None:
        """:meth:`__call__` for a C-contiguous numpy spectrum ``(k, My, Mx)`` (the planned
        filter's chunks): the same sums, without a tensor per chunk. ``chunk``: the ``k``
        input fields it came from; their power is summed here, while they are in cache, and
        :meth:`finish` uses it once every field of the batch was seen."""
        if self._np_weights is None:
            removed = removed_power(torch.from_numpy(spectrum), self.weights)
        else:
            removed = _removed_numpy(spectrum, *self._np_weights)
        power = float(np.vdot(chunk, chunk).real) if chunk is not None else 0.0
        self._parts.append((removed, spectrum.shape[-2] * spectrum.shape[-1], power,
                            chunk.shape[0] if chunk is not None else 0))

    def finish(self) -> None:
        fields = self.data.numel() // max(1, self.data.shape[-1] * self.data.shape[-2])
        seen = self.power_fields == fields and 0 < self.power < float("inf")
        total = (self.power if seen else total_power(self.data)) * self.m
        lost = self.removed / total if total > 0 else 0.0
        if lost > self.tol:
            grid, lam, z, pad = self.setup
            report(self.data, grid, lam, z, pad, lost, self.tol)


def warned(grid: Grid, wavelength: float, distance: float, pad_factor: float) -> bool:
    """True when this set-up has had its (once per set-up) warning: checking again is moot."""
    return pad_factor >= 2 and _key(grid, wavelength, distance, pad_factor) in _WARNED


def _key(grid, wavelength, distance, pad_factor):
    return (grid, wavelength, f"{distance:.2g}", pad_factor)  # near-identical gaps count as one set-up


def _user_stacklevel() -> int:
    """stacklevel for a warning raised in report(): the first frame outside optics and torch
    (the FFT seam's backends call the check at different depths)."""
    import os
    import sys

    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    kernels = os.path.join(os.path.dirname(pkg), "cupy_kernels")  # the GPU filter calls it too
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename.startswith((pkg, kernels))
                                 or f"{os.sep}torch{os.sep}" in frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


_WARNED: set = set()  # set-ups already warned about: one warning per set-up, not per call


def report(data: torch.Tensor, grid: Grid, wavelength: float, distance: float, pad_factor: float,
           lost: float, tol: float) -> None:
    """Warn (pad ≥ 2: the light leaves the window) or raise (pad < 2: in-window error)."""
    lim = band_limit_frequency(grid, wavelength, abs(distance), pad_factor)
    if pad_factor >= 2:
        key = _key(grid, wavelength, distance, pad_factor)
        if key in _WARNED:
            return
        _WARNED.add(key)
        # With ≥ 2× padding the band limit only removes light that would land outside the
        # output window (lags > M·d/2 ≥ window width): the in-window result stays exact and
        # the loss is the clipping by a finite window. Loud, but not an error.
        warnings.warn(SamplingWarning(
            f"{100 * lost:.3g}% of the field's power leaves the {grid.shape} window over z = {distance:.4g} m "
            f"(light at |f| > ({lim[0]:.4g}, {lim[1]:.4g}) cycles/m, removed by the band limit); the result "
            "inside the window is unaffected. Enlarge the grid if that light matters (reported once per set-up)"
        ), stacklevel=_user_stacklevel())
        return
    p_need = _pad_needed(data, grid, wavelength, distance, tol)
    hint = f"pad_factor ≥ {max(p_need, 2):.3g}" if math.isfinite(p_need) else "pad_factor ≥ 2"
    raise SamplingError(
        f"band-limited angular spectrum over z = {distance:.4g} m would remove {100 * lost:.3g}% of the "
        f"field's power (tolerance {100 * tol:.3g}%) with pad_factor = {pad_factor} < 2: light at "
        f"|f| > ({lim[0]:.4g}, {lim[1]:.4g}) cycles/m (y, x) that belongs inside the window would be lost "
        f"(and without the band limit it would wrap around). Valid: {hint}, a shorter distance, or "
        "check_sampling=False to accept the loss"
    )


def _pad_needed(data, grid, lam, distance, tol) -> float:
    """Smallest pad factor whose band limit keeps all but ``tol`` of the propagating power."""
    with torch.no_grad():
        spec = torch.fft.fft2(data.detach().reshape(-1, *grid.shape).to(torch.complex128))
        p = (spec.real**2 + spec.imag**2).sum(0)
        fy, fx = grid.freqs(device=p.device)
        fy, fx = fy[:, None], fx[None, :]
        p = p * ((fy**2 + fx**2) < 1 / lam**2)
        total = float(p.sum())
    if total <= 0:
        return 1.0
    need = []
    for axis_f, n, d, dim in ((fy, grid.ny, grid.dy, 1), (fx, grid.nx, grid.dx, 0)):
        marginal = p.sum(dim=dim).reshape(-1)
        f = axis_f.reshape(-1).abs()
        order = torch.argsort(f, descending=True)
        tail = torch.cumsum(marginal[order], 0) / total
        i = int(torch.searchsorted(tail.contiguous(), torch.tensor(tol / 2, dtype=tail.dtype)))
        f_need = float(f[order][min(i, len(f) - 1)])
        if f_need * lam >= 1:
            return math.inf
        need.append(2 * abs(distance) / (n * d * math.sqrt(1 / (lam * f_need) ** 2 - 1)))
    return max(need)
