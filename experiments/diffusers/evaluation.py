"""Evaluation pieces of ``diffuser-imaging``: free-space and lens baselines, the three-bar
gratings of its geometry, and the figures.

Baselines (same object, same diffusers, same PCC region):

* **free space**: object -> 40 mm -> diffuser -> free space over the network's whole length
  (diffuser -> output, 15 mm for 4 layers) -> intensity; no layers.
* **lens**: object -> 40 mm -> diffuser -> 2 mm (the plane of layer 1) -> thin lens of focal
  length ``lens_focal_m`` (21 mm) -> ``v`` -> intensity, with ``1/u + 1/v = 1/f`` and
  ``u = 42 mm`` (so ``v = 42 mm``: 2f–2f, magnification −1). The lens pupil is circular, of
  radius ``min(half the window, λf/(4·pitch))``, inside which the lens phase is sampled at half
  the Nyquist frequency or below (13.1 mm on both windows; :func:`lens_geometry` says why). The
  inverted image is rotated by 180° before the PCC (pixel centres are symmetric about the
  axis, so this is exact).

Gratings: three-bar amplitude gratings inside the object region, their images fitted by three
Gaussians (:mod:`training.resolution`).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import torch

from optics.functional import apply_transfer_function, asm_transfer_function, circular_aperture
from optics.functional import thin_lens_phase
from training import resolution
from training.imaging import PCC_REGIONS, region_pccs

from .._methods import parse_list
from training.figures import save as _save  # (importing figures selects the Agg backend, before pyplot)
from .imaging import ImagingConfig, object_region

import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["free_space_output", "lens_output", "lens_geometry", "grating_objects", "grating_periods",
           "baseline_pcc"]


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
    """Three-bar gratings ``(G, ny, nx)`` inside the object region
    (:func:`training.resolution.three_bar_gratings`)."""
    return resolution.three_bar_gratings(cfg.grid, periods_m, half_width=cfg.object_px * cfg.pitch_m / 2)


def grating_profile(cfg: ImagingConfig, intensity: torch.Tensor, period_m: float):
    """y-average over the bar length inside the object region (:func:`training.resolution.grating_profile`)."""
    return resolution.grating_profile(cfg.grid, intensity, period_m, object_region(cfg))


def grating_periods(cfg: ImagingConfig, outputs: torch.Tensor, periods_m) -> list[list[dict]]:
    """Fit every output ``(G, n, ny, nx)``: ``fits[g][k]`` for grating g through diffuser k."""
    return resolution.fit_gratings(cfg.grid, outputs, periods_m, object_region(cfg))


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
            axes[2][j].plot(xf * 1e3, resolution.three_gaussians(xf, *f["params"]), "r-", lw=1,
                            label=f"fit: {f['period_m'] * 1e3:.2f} mm")
        axes[2][j].set_xlabel("x (mm)")
        axes[2][j].legend(fontsize=7)
    axes[1][0].set_ylabel("output (new diffuser)", fontsize=8)
    axes[2][0].set_ylabel("y-averaged intensity", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
