"""Resolution of an imaging system from three-bar gratings: the test objects and the fit of
their image that tells whether the bars are resolved and at which period.

Used by the diffuser-imaging reproduction (Luo et al., eLight 2, 4 (2022), who image three-bar
gratings of 7.2–12.0 mm periods through new diffusers); it serves any imager that returns an
intensity on a :class:`optics.Grid`.

Gratings: binary amplitude objects of three bars of width ``P/2`` at ``x = −P, 0, +P`` and
length ``2.5 P`` (``|y| ≤ 1.25 P``). An image of one is averaged along y over the bar length
and fitted by ``c + Σ_k A_k exp(−(x − μ_k)²/(2 s_k²))``; the measured period is
``(μ_3 − μ_1)/2`` and the bars count as separated when the fitted curve dips below its lower
neighbouring peak between every pair of bars (``dip < 1``; how deep a dip counts as resolved
is the caller's threshold).

Lengths in metres; the region is a pair of slices ``(rows, columns)`` of the grid, e.g. the
object square the imager is judged on.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import curve_fit

from optics import Grid

__all__ = ["three_bar_gratings", "three_gaussians", "fit_three_gaussians", "grating_profile", "fit_gratings",
           "grating_statistics"]


def three_bar_gratings(grid: Grid, periods, *, half_width: float) -> torch.Tensor:
    """Binary three-bar amplitude gratings ``(G, ny, nx)`` float32 centred on ``grid``, one per
    period (m). A grating must fit the centred square of half side ``half_width`` (m): one that
    does not (2.5 P > 2·half_width) is a ``ValueError``."""
    y, x = grid.meshgrid(dtype=torch.float64)
    out = []
    for p in periods:
        if 1.25 * p > half_width + 1e-12:
            raise ValueError(f"a three-bar grating of period {p * 1e3:.2f} mm (2.5 P wide) does not fit the "
                             f"{2 * half_width * 1e3:.1f} mm object region")
        bars = sum(((x - c).abs() < p / 4) for c in (-p, 0.0, p))
        out.append((bars & (y.abs() < 1.25 * p)).float())
    return torch.stack(out)


def three_gaussians(x, c, a1, m1, s1, a2, m2, s2, a3, m3, s3):
    """``c + Σ_k a_k exp(−(x − m_k)²/(2 s_k²))`` (the fitted model; ``x`` a numpy array)."""
    return (c + a1 * np.exp(-(x - m1) ** 2 / (2 * s1 ** 2)) + a2 * np.exp(-(x - m2) ** 2 / (2 * s2 ** 2))
            + a3 * np.exp(-(x - m3) ** 2 / (2 * s3 ** 2)))


def fit_three_gaussians(x: np.ndarray, profile: np.ndarray, period_guess: float) -> dict:
    """Fit :func:`three_gaussians` to a 1-D profile; bars expected at ``−P, 0, +P`` (centres
    bounded to ±P/2 of those, least squares by :func:`scipy.optimize.curve_fit`).

    Returns ``params`` (the ten of :func:`three_gaussians`), the measured ``period_m``
    ``(μ_3 − μ_1)/2`` and ``dip``: the larger of the two fitted-curve minima between
    neighbouring peaks divided by the smaller of those peaks (< 1: the bars are separated).
    A profile without contrast (dark or flat: nothing to measure) and a fit that does not
    converge give nan for all three."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(profile, dtype=float)
    p = float(period_guess)
    failed = {"period_m": float("nan"), "params": [float("nan")] * 10, "dip": float("nan")}
    amp = float(y.max() - y.min())
    if not (np.isfinite(y).all() and amp > 1e-12 * float(np.abs(y).max())):  # (a dark plane: 0 > 0 is False)
        return failed
    dx = float(np.min(np.diff(x))) if len(x) > 1 else p / 10
    p0, lo, hi = [float(y.min())], [-np.inf], [np.inf]
    for c in (-p, 0.0, p):
        p0 += [amp, c, p / 5]
        lo += [0.0, c - p / 2, dx / 4]
        hi += [np.inf, c + p / 2, p]
    try:
        par, _ = curve_fit(three_gaussians, x, y, p0=p0, bounds=(lo, hi), maxfev=20000)
    except (RuntimeError, ValueError):
        return failed
    mus = sorted(par[[2, 5, 8]])
    fine = np.linspace(x.min(), x.max(), 4001)
    curve = three_gaussians(fine, *par)
    peaks = [curve[np.argmin(abs(fine - m))] for m in mus]
    dips = [curve[(fine > mus[k]) & (fine < mus[k + 1])].min(initial=np.inf) / max(min(peaks[k], peaks[k + 1]), 1e-30)
            for k in range(2)]
    return {"period_m": float((mus[2] - mus[0]) / 2), "params": [float(v) for v in par], "dip": float(max(dips))}


def grating_profile(grid: Grid, intensity: torch.Tensor, period: float, region: tuple[slice, slice]):
    """The image of a grating of ``period`` (m) averaged along y over the bar length
    (``|y| ≤ 1.25 P``), inside ``region``'s columns: ``(x in m, profile)`` as numpy arrays.
    ``intensity``: ``(ny, nx)`` on ``grid``."""
    y, x = grid.coords()
    _, cols = region
    rows = y.abs() < 1.25 * period
    return x[cols].numpy(), intensity[..., rows, :].mean(-2)[..., cols].numpy()


def fit_gratings(grid: Grid, outputs: torch.Tensor, periods, region: tuple[slice, slice]) -> list[list[dict]]:
    """Fit every image ``outputs`` ``(G, n, ny, nx)`` (grating ``g`` of ``periods`` through ``n``
    conditions, e.g. diffusers): ``fits[g][k]`` of :func:`fit_three_gaussians`."""
    fits = []
    for g, p in enumerate(periods):
        row = []
        for k in range(outputs.shape[1]):
            x, prof = grating_profile(grid, outputs[g, k], p, region)
            row.append(fit_three_gaussians(x, prof, p))
        fits.append(row)
    return fits


def grating_statistics(fits: list[dict], period: float, *, dip_below: float = 0.9,
                       period_tolerance: float = 0.1) -> dict:
    """Summary of the fits of one grating of ``period`` (m) through several conditions (one row of
    :func:`fit_gratings`): the mean and std of the fitted periods (m; converged fits only),
    ``fit_failures``, ``separated_fraction`` (both dips below ``dip_below`` of the neighbouring
    peaks) and ``resolved_fraction`` (separated and the fitted period within
    ``period_tolerance`` × ``period`` of the design)."""
    fitted = torch.tensor([f["period_m"] for f in fits], dtype=torch.float64)
    dips = torch.tensor([f["dip"] for f in fits], dtype=torch.float64)
    ok = torch.isfinite(fitted)
    separated = ok & (dips < dip_below)
    return {"fitted_period_mean_m": float(fitted[ok].mean()) if ok.any() else float("nan"),
            "fitted_period_std_m": float(fitted[ok].std()) if ok.sum() > 1 else float("nan"),
            "fit_failures": int((~ok).sum()),
            "separated_fraction": float(separated.double().mean()),
            "resolved_fraction": float((separated & ((fitted - period).abs() < period_tolerance * period)).double().mean())}
