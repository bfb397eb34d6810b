"""Evaluation pieces of ``diffuser-imaging``: free-space and lens baselines, three-bar
gratings with the three-Gaussian period fit, and the figures.

Baselines (same object, same diffusers, same PCC region):

* **free space**: object -> 40 mm -> diffuser -> free space over the network's whole length
  (diffuser -> output, 15 mm for 4 layers) -> intensity; no layers.
* **lens**: object -> 40 mm -> diffuser -> 2 mm (the plane of layer 1) -> thin lens of focal
  length ``lens_focal_m`` (21 mm) -> ``v`` -> intensity, with ``1/u + 1/v = 1/f`` and
  ``u = 42 mm`` (so ``v = 42 mm``: 2f–2f, magnification −1). The lens pupil is circular, of
  radius ``min(half the window, 0.99·λf/(2·pitch))``: the lens phase is sampled without
  aliasing inside it (36 mm window at cpu scale: radius 18 mm; 72 mm window at paper
  scale: 26 mm). The inverted image is rotated by 180° before the PCC (pixel centres are
  symmetric about the axis, so this is exact).

Gratings: binary amplitude objects of three bars of width ``P/2`` at ``x = −P, 0, +P`` and
length ``2.5 P`` (|y| ≤ 1.25 P). The output intensity is averaged along y over the bar length
and fitted by ``c + Σ_k A_k exp(−(x − μ_k)²/(2 s_k²))``; the measured period is ``(μ_3 − μ_1)/2``.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import torch
from scipy.optimize import curve_fit

from optics.functional import apply_transfer_function, asm_transfer_function, circular_aperture
from optics.functional import thin_lens_phase
from training.imaging import PCC_REGIONS, region_pccs

from .._methods import parse_list
from training.figures import save as _save  # (importing figures selects the Agg backend, before pyplot)
from .imaging import ImagingConfig, object_region

import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["free_space_output", "lens_output", "lens_geometry", "grating_objects", "fit_three_gaussians",
           "grating_periods", "baseline_pcc"]


def _prop(cfg: ImagingConfig, u: torch.Tensor, z: float) -> torch.Tensor:
    return apply_transfer_function(u, asm_transfer_function(cfg.grid, cfg.wavelength_m, z, pad_factor=cfg.pad_factor,
                                                            device=u.device))


def _at_diffuser(cfg, objects, diffusers):
    u = _prop(cfg, objects.to(torch.complex64), cfg.object_to_diffuser_m)
    return u[:, None] if diffusers is None else u[:, None] * diffusers.to(u.device)


@torch.no_grad()
def free_space_output(cfg: ImagingConfig, objects: torch.Tensor, diffusers=None) -> torch.Tensor:
    """Intensity ``(B, n, ny, nx)`` at the network's output plane without layers."""
    z = cfg.diffuser_to_layer_m + (cfg.layers - 1) * cfg.layer_gap_m + cfg.layer_to_output_m
    u = _prop(cfg, _at_diffuser(cfg, objects, diffusers), z)
    return u.real.square() + u.imag.square()


def lens_geometry(cfg: ImagingConfig) -> dict:
    """Object distance u, image distance v, focal length f and pupil radius (all m).

    The pupil is the window's half width or, if smaller, ``λf/(4d)``: the radius inside which the
    lens phase's local frequency r/(λf) stays at half the Nyquist frequency 1/(2d) or below. A
    pixelated quadratic phase closer to Nyquist sends light into aliased orders. Measured on 24
    training objects without a diffuser, over pupils of 8–26 mm: the lens images best at this
    radius, 13.1 mm, on both windows. The support-region PCC is 0.885 against 0.832 at 18 mm on
    the 36 mm window, and 0.620 against 0.542 at 26 mm (0.99 of the Nyquist radius) on the 72 mm
    window. The lens baseline is thus the best lens this sampling allows.
    """
    u = cfg.object_to_diffuser_m + cfg.diffuser_to_layer_m
    f = cfg.lens_focal_m
    if not 0 < f < u:
        raise ValueError(f"lens_focal_m must lie in (0, {u}) m for a real image, got {f}")
    v = 1 / (1 / f - 1 / u)
    half = cfg.grid_px * cfg.pitch_m / 2
    radius = min(half, cfg.wavelength_m * f / (4 * cfg.pitch_m))
    return {"u_m": u, "v_m": v, "f_m": f, "pupil_radius_m": radius, "magnification": -v / u}


@torch.no_grad()
def lens_output(cfg: ImagingConfig, objects: torch.Tensor, diffusers=None) -> torch.Tensor:
    """Intensity ``(B, n, ny, nx)`` of the thin-lens imager, rotated by 180° (upright)."""
    geo = lens_geometry(cfg)
    r = geo["pupil_radius_m"]
    phase = thin_lens_phase(cfg.grid, cfg.wavelength_m, geo["f_m"], aperture_radius=r)
    t = (torch.polar(torch.ones_like(phase), phase) * circular_aperture(cfg.grid, r)).to(torch.complex64)
    u = _prop(cfg, _at_diffuser(cfg, objects, diffusers), cfg.diffuser_to_layer_m) * t.to(objects.device)
    u = _prop(cfg, u, geo["v_m"])
    return torch.flip(u.real.square() + u.imag.square(), dims=(-2, -1))


@torch.no_grad()
def baseline_pcc(cfg: ImagingConfig, fn, objects: torch.Tensor, diffusers=None, *, device="cpu",
                 region: str = "square"):
    """Mean PCC of a baseline system ``fn(cfg, objects, diffusers)`` over object × diffuser
    pairs in ``region`` (``support``, ``square``, ``canvas``, or ``all`` for a dict of the three)."""
    dev = torch.device(device)
    diffusers = None if diffusers is None else diffusers.to(dev)
    out = {r: [] for r in PCC_REGIONS}
    for i in range(0, len(objects), cfg.eval_batch):
        x = objects[i:i + cfg.eval_batch].to(dev)
        for r, v in region_pccs(fn(cfg, x, diffusers), x, object_region(cfg)).items():
            out[r].append(v.cpu())
    means = {r: float(torch.cat(v).double().mean()) for r, v in out.items()}
    return means if region == "all" else means[region]


# -- gratings ---------------------------------------------------------------------------
def parse_periods(cfg: ImagingConfig) -> list[float]:
    """Grating periods in metres from ``grating_periods_mm``."""
    return [p * 1e-3 for p in parse_list(cfg.grating_periods_mm, name="grating_periods_mm")]


def grating_objects(cfg: ImagingConfig, periods_m) -> torch.Tensor:
    """Binary three-bar amplitude gratings ``(G, ny, nx)`` (module docstring); raises if one
    does not fit the object region."""
    y, x = cfg.grid.meshgrid(dtype=torch.float64)
    half_region = cfg.object_px * cfg.pitch_m / 2
    out = []
    for p in periods_m:
        if 1.25 * p > half_region + 1e-12:
            raise ValueError(f"a three-bar grating of period {p * 1e3:.2f} mm (2.5 P wide) does not fit the "
                             f"{2 * half_region * 1e3:.1f} mm object region")
        bars = sum(((x - c).abs() < p / 4) for c in (-p, 0.0, p))
        out.append((bars & ((y.abs() < 1.25 * p))).float())
    return torch.stack(out)


def _three_gauss(x, c, a1, m1, s1, a2, m2, s2, a3, m3, s3):
    return (c + a1 * np.exp(-(x - m1) ** 2 / (2 * s1 ** 2)) + a2 * np.exp(-(x - m2) ** 2 / (2 * s2 ** 2))
            + a3 * np.exp(-(x - m3) ** 2 / (2 * s3 ** 2)))


def fit_three_gaussians(x: np.ndarray, profile: np.ndarray, period_guess: float) -> dict:
    """Fit ``c + Σ_k A_k exp(−(x − μ_k)²/(2 s_k²))`` to a 1-D profile; bars expected at
    ``−P, 0, +P`` (centres bounded to ±P/2 of those). Returns the parameters, the measured
    period ``(μ_3 − μ_1)/2`` (nan if the fit fails) and ``dip``, the larger of the two
    fitted-curve minima between neighbouring peaks divided by the smaller of those peaks
    (< 1 means the bars are separated)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(profile, dtype=float)
    p = float(period_guess)
    amp = max(float(y.max() - y.min()), 1e-30)
    dx = float(np.min(np.diff(x))) if len(x) > 1 else p / 10
    p0, lo, hi = [float(y.min())], [-np.inf], [np.inf]
    for c in (-p, 0.0, p):
        p0 += [amp, c, p / 5]
        lo += [0.0, c - p / 2, dx / 4]
        hi += [np.inf, c + p / 2, p]
    try:
        par, _ = curve_fit(_three_gauss, x, y, p0=p0, bounds=(lo, hi), maxfev=20000)
    except (RuntimeError, ValueError):
        return {"period_m": float("nan"), "params": [float("nan")] * 10, "dip": float("nan")}
    mus = sorted(par[[2, 5, 8]])
    fine = np.linspace(x.min(), x.max(), 4001)
    curve = _three_gauss(fine, *par)
    peaks = [curve[np.argmin(abs(fine - m))] for m in mus]
    dips = [curve[(fine > mus[k]) & (fine < mus[k + 1])].min(initial=np.inf) / max(min(peaks[k], peaks[k + 1]), 1e-30)
            for k in range(2)]
    return {"period_m": float((mus[2] - mus[0]) / 2), "params": [float(v) for v in par], "dip": float(max(dips))}


def grating_profile(cfg: ImagingConfig, intensity: torch.Tensor, period_m: float):
    """y-average over the bar length (|y| ≤ 1.25 P) inside the object region: ``(x_m, profile)``."""
    y, x = cfg.grid.coords()
    _, rx = object_region(cfg)
    rows = (y.abs() < 1.25 * period_m)
    prof = intensity[..., rows, :].mean(-2)[..., rx]
    return x[rx].numpy(), prof.numpy()


def grating_periods(cfg: ImagingConfig, outputs: torch.Tensor, periods_m) -> list[list[dict]]:
    """Fit every output ``(G, n, ny, nx)``: ``fits[g][k]`` for grating g through diffuser k."""
    fits = []
    for g, p in enumerate(periods_m):
        row = []
        for k in range(outputs.shape[1]):
            x, prof = grating_profile(cfg, outputs[g, k], p)
            row.append(fit_three_gaussians(x, prof, p))
        fits.append(row)
    return fits


# -- figures ----------------------------------------------------------------------------
def examples_figure(cfg, objects, rows: dict, path: Path, *, title: str) -> Path:
    """``rows[label] = (k, ny, nx)`` intensities of the same ``k`` objects, shown in the object region."""
    ry, rx = object_region(cfg)
    k = objects.shape[0]
    n = len(rows) + 1
    fig, axes = plt.subplots(n, k, figsize=(1.9 * k, 1.9 * n), squeeze=False)
    allrows = {"object": objects, **rows}
    for i, (label, imgs) in enumerate(allrows.items()):
        for j in range(k):
            ax = axes[i][j]
            ax.imshow(imgs[j][ry, rx].numpy(), cmap="gray" if i == 0 else "inferno")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def learning_curve_figure(history: list[dict], path: Path, *, title: str) -> Path:
    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.plot(ep, [h["loss"] for h in history], "o-")
    a1.set_xlabel("epoch")
    a1.set_ylabel("training loss (−PCC + E)")
    a2.plot(ep, [h["val_pcc_known"] for h in history], "o-", label="known diffusers (this epoch's), square")
    a2.plot(ep, [h["val_pcc_new"] for h in history], "s-", label="fixed new diffusers, square")
    for key, mark, region in (("val_pcc_new_support", "^--", "object support"), ("val_pcc_new_canvas", "v:", "canvas")):
        if all(key in h for h in history):  # records written before the three regions have only the square
            a2.plot(ep, [h[key] for h in history], mark, label=f"fixed new diffusers, {region}")
    a2.set_xlabel("epoch")
    a2.set_ylabel("PCC (validation objects)")
    a2.legend(fontsize=8)
    for ax in (a1, a2):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.suptitle(title)
    return _save(fig, path)


def pcc_bars_figure(values: dict, path: Path, *, title: str, published: dict | None = None) -> Path:
    """Grouped bars: ``values[label][region]`` (a region missing for a label is left out, e.g.
    the gratings' support PCC, which is undefined); ``published[label]`` as a red mark (region
    unstated in the paper)."""
    labels = list(values)
    regions = [r for r in ("support", "square", "canvas") if any(values[k].get(r) is not None for k in labels)]
    width = 0.8 / len(regions)
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(labels)), 3.8))
    for j, (reg, color) in enumerate(zip(regions, ("tab:orange", "tab:blue", "tab:green"))):
        xs = [i for i, k in enumerate(labels) if values[k].get(reg) is not None]
        ys = [values[labels[i]][reg] for i in xs]
        pos = [x + (j - (len(regions) - 1) / 2) * width for x in xs]
        ax.bar(pos, ys, width, color=color, label=f"this run, {reg}")
        for x, y in zip(pos, ys):
            ax.text(x, y + 0.02, f"{y:.2f}", ha="center", fontsize=6)
    if published:
        xs = [labels.index(k) for k in published if k in labels]
        ax.plot(xs, [published[labels[i]] for i in xs], "r_", markersize=30, mew=2,
                label="published (Luo 2022; region unstated)")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=8, rotation=15)
    ax.set_ylabel("mean PCC (numerical simulation)")
    low = min(v for k in labels for v in values[k].values() if v is not None)
    ax.set_ylim(min(0, low - 0.05), 1.05)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def gratings_figure(cfg, objects, outputs, fits, periods_m, path: Path, *, title: str) -> Path:
    """Per grating: object, output through the first new diffuser, y-averaged profile with the fit."""
    ry, rx = object_region(cfg)
    g = len(periods_m)
    fig, axes = plt.subplots(3, g, figsize=(2.6 * g, 7.2), squeeze=False)
    for j, p in enumerate(periods_m):
        axes[0][j].imshow(objects[j][ry, rx].numpy(), cmap="gray")
        axes[0][j].set_title(f"period {p * 1e3:.1f} mm", fontsize=9)
        axes[1][j].imshow(outputs[j, 0][ry, rx].numpy(), cmap="inferno")
        for ax in (axes[0][j], axes[1][j]):
            ax.set_xticks([])
            ax.set_yticks([])
        x, prof = grating_profile(cfg, outputs[j, 0], p)
        f = fits[j][0]
        axes[2][j].plot(x * 1e3, prof, "k.", ms=3, label="output")
        if math.isfinite(f["period_m"]):
            xf = np.linspace(x.min(), x.max(), 500)
            axes[2][j].plot(xf * 1e3, _three_gauss(xf, *f["params"]), "r-", lw=1,
                            label=f"fit: {f['period_m'] * 1e3:.2f} mm")
        axes[2][j].set_xlabel("x (mm)")
        axes[2][j].legend(fontsize=7)
    axes[1][0].set_ylabel("output (new diffuser)", fontsize=8)
    axes[2][0].set_ylabel("y-averaged intensity", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
