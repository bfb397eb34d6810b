"""Fabrication tolerance of a trained diffractive classifier: its test accuracy when the
printed relief, the assembly or the illumination differs from the design.

The design is a :class:`hardware.export.HeightMap` (heights quantized to N levels, with the
absorption its thickness implies). :func:`simulate` re-simulates it on test images under one
draw of errors; :func:`tolerance_sweep` sweeps one error at a time over a grid with several
random draws per point (Monte Carlo) and finds where the accuracy drops one point:

* ``height``: relief error, Gaussian per pixel, std as a fraction of the 2π height λ/(n − 1);
* ``levels``: number of quantization levels (deterministic);
* ``lateral``: per-layer lateral shift, Gaussian per axis, std in pixels;
* ``axial``: per-gap distance error, Gaussian, std as a fraction of the gap;
* ``detuning``: illumination wavelength λ(1 + δ) (deterministic): every gap propagates at the
  new λ and the relief delays by 2π(n − 1)h/λ (no material dispersion).

The transmission of a pixel of relief ``h`` above a base of thickness ``b`` is
``exp(−2π κ (h + b)/λ) · exp(i 2π (n − 1) h/λ)`` (the thin-element model of
:mod:`hardware.export`; Lin et al., Science 361, 1004 (2018)). ``task`` is a trained :class:`training.DiffractiveTask` (or
anything with its ``grid``, ``system``, ``encode``, ``intensity``, ``scores`` and
``complex_dtype``).
"""

from __future__ import annotations

import math

import torch

from hardware.export import HeightMap
from optics import FreeSpace, PhaseMask
from optics.functional import shift

__all__ = ["SWEEPS", "simulate", "tolerance_sweep", "threshold", "phases_of"]

SWEEPS = {  # name: (grid, random?, label)
    "height": ((0.0, 0.01, 0.02, 0.05, 0.1, 0.2), True, "height error std (fraction of λ/(n−1))"),
    "levels": ((2, 3, 4, 8, 16, 64), False, "quantization levels"),
    "lateral": ((0.0, 0.1, 0.25, 0.5, 1.0, 2.0), True, "lateral misalignment std (pixels)"),
    "axial": ((0.0, 0.01, 0.02, 0.05, 0.1, 0.2), True, "axial misalignment std (fraction of the gap)"),
    "detuning": ((-0.1, -0.05, -0.02, 0.0, 0.02, 0.05, 0.1), False, "wavelength detuning δλ/λ"),
}


def simulate(task, hmap: HeightMap, images, labels, *, height_std: float = 0.0, levels: int | None = None,
             lateral_px: float = 0.0, axial_frac: float = 0.0, detuning: float = 0.0,
             generator: torch.Generator | None = None, batch_size: int = 500) -> float:
    """Test accuracy of the printed design ``hmap`` in ``task``'s geometry under one draw of errors.

    ``levels`` re-quantizes the relief (of a continuous ``hmap``); the relief then gets Gaussian
    errors (std ``height_std``·λ/(n − 1)), each layer a lateral shift (std ``lateral_px`` pixels per
    axis) and each gap a distance error (std ``axial_frac``·gap); λ becomes λ(1 + ``detuning``).
    """
    if (height_std or lateral_px or axial_frac) and generator is None:
        raise ValueError("random errors need generator=torch.Generator()")
    relief = hmap.relief.double()
    if levels is not None:
        relief = torch.remainder(torch.round(relief / hmap.period * levels), levels) * (hmap.period / levels)
    if height_std:
        relief = relief + height_std * hmap.period * torch.randn(relief.shape, generator=generator, dtype=relief.dtype)
    wl = hmap.wavelength * (1 + detuning)
    n, kappa = hmap.material.refractive_index, hmap.material.extinction
    thick = (relief + hmap.base_thickness).clamp_min(0)
    t = torch.polar(torch.exp(-2 * math.pi * kappa * thick / wl), 2 * math.pi * (n - 1) * relief / wl)
    grid = task.grid
    elems, mi = [], 0
    for layer in task.system.layers:
        if isinstance(layer, PhaseMask):
            tl = t[mi]
            if lateral_px:
                d = lateral_px * torch.randn(2, generator=generator, dtype=torch.float64) * hmap.pitch
                tl = shift(tl, float(d[0]), float(d[1]), grid=grid)
            elems.append(tl.to(task.complex_dtype))
            mi += 1
        elif isinstance(layer, FreeSpace):
            dz = axial_frac * float(torch.randn((), generator=generator, dtype=torch.float64)) if axial_frac else 0.0
            elems.append(layer.replace(wavelength=wl, distance=layer.distance * (1 + dz), check_sampling=False))
        else:
            elems.append(layer)
    correct = 0
    with torch.no_grad():
        for s in range(0, len(labels), batch_size):
            field = task.encode(images[s:s + batch_size])
            field = field.replace(wavelength=wl)
            for e in elems:
                field = field.replace(data=field.data * e) if isinstance(e, torch.Tensor) else e(field)
            correct += int((task.scores(task.intensity(field)).argmax(-1) == labels[s:s + batch_size]).sum())
    return correct / len(labels)


def tolerance_sweep(task, hmap: HeightMap, images, labels, *, continuous: HeightMap | None = None,
                    draws: int = 3, seed: int = 0, sweeps: dict | None = None) -> dict:
    """``{name: {"values", "mean", "std", "label", "reference", "threshold"}}``: accuracy vs each
    error alone (the ``levels`` sweep re-quantizes ``continuous``, default ``hmap``), plus
    ``nominal`` (the exported design without errors)."""
    g = torch.Generator().manual_seed(seed)
    nominal = simulate(task, hmap, images, labels)
    out = {"nominal": nominal}
    for name, (grid, random, label) in (sweeps or SWEEPS).items():
        means, stds = [], []
        for v in grid:
            kw = {"height": {"height_std": v}, "levels": {"levels": v}, "lateral": {"lateral_px": v},
                  "axial": {"axial_frac": v}, "detuning": {"detuning": v}}[name]
            hm = (continuous or hmap) if name == "levels" else hmap
            accs = torch.tensor([simulate(task, hm, images, labels, generator=g, **kw)
                                 for _ in range(draws if (random and v) else 1)])
            means.append(float(accs.mean()))
            stds.append(float(accs.std()) if len(accs) > 1 else 0.0)
        ref = simulate(task, continuous or hmap, images, labels) if name == "levels" else nominal
        if name == "levels":  # fewest levels within 1 point of the continuous design
            ok = [v for v, m in zip(grid, means) if m >= ref - 0.01]
            thr = min(ok) if ok else None
        else:
            thr = threshold(grid, means, ref)
        out[name] = {"values": list(grid), "mean": means, "std": stds, "label": label, "reference": ref,
                     "threshold": thr}
    return out


def threshold(values, means, reference, drop: float = 0.01):
    """Smallest |error| at which the mean accuracy falls ``drop`` below ``reference`` (linear
    interpolation on each side of zero); None if it never does."""
    best = None
    for side in (1, -1):
        pts = sorted((abs(v), m) for v, m in zip(values, means) if v * side > 0 or v == 0)
        for (v0, m0), (v1, m1) in zip(pts, pts[1:]):
            if m1 <= reference - drop:
                x = v1 if m0 == m1 else v0 + (reference - drop - m0) * (v1 - v0) / (m1 - m0)
                x = min(max(x, v0), v1)
                best = x if best is None else min(best, x)
                break
        if pts and pts[0][1] <= reference - drop and pts[0][0] > 0:
            best = pts[0][0] if best is None else min(best, pts[0][0])
    return best


def phases_of(task) -> torch.Tensor:
    """The trained phase of every :class:`optics.PhaseMask` of ``task.system``, ``(L, ny, nx)`` rad."""
    return torch.stack([m.full_phase().detach() for m in task.system.layers if isinstance(m, PhaseMask)])
