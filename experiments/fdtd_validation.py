"""fdtd-validation — onnsim's scalar wave optics against MIT Meep (FDTD, 2-D TM/Ez).

Four comparisons, all at λ = 1 µm (``wavelength_m``) with Meep run out of process through
:mod:`hardware.fdtd` (Meep: ``bash scripts/setup_fdtd.sh``):

1. free space: a Gaussian beam and a hard-edged slit, Meep vs onnsim's angular spectrum
   (ASM), at several resolutions (grid points per wavelength) — the error must shrink;
2. gratings: diffraction-order efficiencies of a binary (π, 50 % duty) and a 4-level blazed
   phase grating, Meep vs onnsim's thin element + ASM, over periods 40λ → 1.5λ — where the
   scalar thin-element model holds (relative +1 error < ``tolerance`` when the feature size is
   ≥ N·λ), plus a resolution check at one period;
3. a trained diffractive layer: a 1-D phase-only layer trained with onnsim (thin element +
   ASM, periodic) to focus a plane wave into ``layer_spots`` spots, converted to a material
   relief (:func:`hardware.export.phase_to_height`, index ``index``) and re-simulated in Meep;
   Pearson correlation and relative L2 of the output intensity.

Writes ``config.json``, ``results.json`` (every number), ``results.h5`` (profiles, with
units), ``model.pt`` (the trained layer), ``figures/*.png``, ``report.md`` and
``summary.json``. ``docs/validation/fdtd.md`` is generated from a run directory::

    python -m experiments run fdtd-validation --scale cpu --out runs/fdtd-validation/cpu
    python -m experiments fdtd-doc runs/fdtd-validation/cpu docs/validation/fdtd.md

Without Meep the run stops at its first FDTD job with :class:`hardware.fdtd.FdtdError`
naming ``scripts/setup_fdtd.sh``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from hardware.export import phase_to_height
from hardware.fdtd import (beam_comparison, grating_comparison, layer_comparison, meep_available,
                           normalized_intensity)

from . import records
from .registry import register

__all__ = ["FdtdValidationConfig", "available", "redraw_figures", "render_markdown", "run", "train_focusing_layer",
           "validity_threshold", "write_fdtd_doc"]

NAME = "fdtd-validation"


@dataclass(frozen=True)
class FdtdValidationConfig:
    wavelength_m: float = 1e-6
    index: float = 1.5
    beam_resolutions: str = "10,20,30"  # grid points per wavelength
    gaussian_waist_wl: float = 3.0
    gaussian_z_wl: float = 30.0
    gaussian_window_wl: float = 24.0
    slit_width_wl: float = 8.0
    slit_z_wl: float = 20.0
    slit_window_wl: float = 32.0
    grating_resolution: float = 20.0
    grating_periods_wl: str = "40,20,18,16,14,10,8,7,5,4,3,2,1.5"
    grating_kinds: str = "binary,blazed4"
    grating_convergence_period_wl: float = 10.0
    grating_convergence_resolutions: str = "10,20,30"
    layer_pixel_wl: float = 2.0
    layer_pixels: int = 24
    layer_z_wl: float = 40.0
    layer_spots: int = 3
    layer_spot_width_wl: float = 3.0
    layer_resolutions: str = "10,20"
    layer_window_resolutions: str = "10,20"  # the same relief as a finite window with PML sides
    layer_train_resolution: float = 10.0
    layer_steps: int = 300
    layer_learning_rate: float = 0.1
    tolerance: float = 0.05  # relative +1 efficiency error that defines "trustworthy"
    meep_timeout_s: float = 900.0
    seed: int = 0


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def available() -> tuple[bool, str]:
    """Whether Meep can run (the experiment needs it), and why not."""
    return meep_available()


# ------------------------------------------------------------------------------------------
# the trained layer


def train_focusing_layer(*, wavelength: float, pixel: float, pixels: int, z: float, spots: int,
                         spot_width: float, resolution: float, steps: int, learning_rate: float,
                         seed: int = 0) -> dict:
    """Train one period of a 1-D phase-only layer (``pixels`` pixels of width ``pixel``) to focus
    a normal plane wave into ``spots`` equally spaced spots of width ``spot_width`` at ``z``.

    Model: onnsim's thin element (phase mask) on a ``(1, nx)`` grid sampled at
    λ/``resolution`` and :func:`optics.functional.propagation.asm_propagate` with
    ``pad_factor=1`` (circular convolution: the layer repeats with period ``pixels·pixel``, as
    in Meep's periodic cell). Loss: −(power fraction in the spots) + std/mean of the spot
    powers; Adam. Returns ``phase`` (rad, per pixel), ``spot_centres`` (m), ``efficiency``
    and ``nonuniformity`` after training, and the loss ``history``."""
    from optics import Field, Grid
    from training import TrainConfig, Trainer
    from training.design import DesignTask

    dx = wavelength / resolution
    px = int(round(pixel / dx))
    if abs(pixel / dx - px) > 1e-6:
        raise ValueError(f"pixel {pixel} m is not a whole number of training grid steps {dx} m")
    nx = px * pixels
    period = nx * dx
    x = (torch.arange(nx, dtype=torch.float64) - (nx - 1) / 2) * dx
    centres = [(j - (spots - 1) / 2) * period / spots for j in range(spots)]
    regions = torch.stack([(x - c).abs() < spot_width / 2 for c in centres]).double()
    grid = Grid((1, nx), (dx, dx))
    gen = torch.Generator().manual_seed(seed)
    layer = _PeriodicLayer(0.1 * torch.randn(pixels, generator=gen, dtype=torch.float64), px, z)
    field = Field(torch.ones(1, nx, dtype=torch.complex128), grid, wavelength)

    def fractions(out):
        i = out.intensity()[0]
        return regions @ i / i.sum()

    def objective(out):
        p = fractions(out)
        return -p.sum() + p.std() / p.mean()

    def metrics(out):
        p = fractions(out)
        return {"efficiency": p.sum(), "nonuniformity": p.std() / p.mean()}

    task = DesignTask(layer, field, objective=objective, metrics=metrics)
    trainer = Trainer(task, TrainConfig(method="ideal", epochs=steps, batch_size=1, lr=learning_rate,
                                        lr_step_epochs=steps, lr_gamma=1.0, select="last", seed=seed, device="cpu"))
    fit = trainer.fit(*task.data(), val=task.data(), progress=False)
    with torch.no_grad():
        out = layer(field)
        p, i = fractions(out), out.intensity()[0]
    return {"phase": layer.phase.detach().numpy().copy(), "spot_centres": centres, "spot_fractions": p.numpy().tolist(),
            "efficiency": float(p.sum()), "nonuniformity": float(p.std() / p.mean()),
            "history": [h["loss"] for h in fit["history"]], "train_intensity": i.numpy(), "train_x": x.numpy()}


class _PeriodicLayer(torch.nn.Module):
    """One period of a 1-D phase-only layer (``px`` grid steps per pixel) and the free space
    behind it: circular angular-spectrum propagation over ``z`` (``pad_factor=1``)."""

    def __init__(self, phase: torch.Tensor, px: int, z: float):
        super().__init__()
        self.phase, self.px, self.z = torch.nn.Parameter(phase), px, z

    def forward(self, field):
        from optics.functional.masks import phase_mask
        from optics.functional.propagation import asm_propagate

        f = phase_mask(field, self.phase.repeat_interleave(self.px)[None, :])
        return asm_propagate(f, self.z, pad_factor=1, band_limit=False, check_sampling=False)


def _spot_fractions(field, x, centres, width) -> list[float]:
    i = normalized_intensity(field)
    return [float(i[np.abs(x - c) < width / 2].sum()) for c in centres]


# ------------------------------------------------------------------------------------------
# validity of the thin-element model


def feature_size(kind: str, period_wl: float) -> float:
    """Smallest feature of a grating in wavelengths: half a period (binary, 50 % duty) or a
    quarter (4-level blazed)."""
    return period_wl / (2 if kind == "binary" else 4)


def validity_threshold(rows: list[dict], tolerance: float) -> dict:
    """From grating rows of one kind (``period_wl``, ``main_rel_err``): going down from the
    longest period, the smallest feature size (λ) for which this and every longer period keep
    the relative +1 error below ``tolerance`` (``n_wl``, None if the longest fails) and the
    feature size of the first period that fails (``first_fail_wl``, None if none fails)."""
    rows = sorted(rows, key=lambda r: -r["period_wl"])
    n_wl, fail = None, None
    for r in rows:
        f = feature_size(r["kind"], r["period_wl"])
        if r["main_rel_err"] < tolerance:
            n_wl = f
        else:
            fail = f
            break
    return {"n_wl": n_wl, "first_fail_wl": fail}


# ------------------------------------------------------------------------------------------
# figures


def _figures(fig_dir: Path, res: dict, arrays: dict) -> dict:
    import matplotlib.ticker

    from . import figures  # sets the Agg backend; figures._save writes and closes

    import matplotlib.pyplot as plt

    out = {}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, kind in zip(axes, ("gaussian", "slit")):
        rows = [r for r in res["beams"] if r["kind"] == kind]
        for r in rows:
            a = arrays[f"beams/{kind}/{r['resolution']:g}"]
            ax.plot(a["x"] * 1e6, normalized_intensity(a["meep"]) * r["resolution"], lw=1,
                    label=f"Meep, {r['resolution']:g} pts/λ")
        a = arrays[f"beams/{kind}/{rows[-1]['resolution']:g}"]
        ax.plot(a["x"] * 1e6, normalized_intensity(a["asm"]) * rows[-1]["resolution"], "k--", lw=1.2,
                label="onnsim ASM")
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("|E|² (normalised per µm)")
        ax.set_title(f"{kind}: z = {rows[0]['z'] * 1e6:g} µm", fontsize=10)
        ax.legend(fontsize=7)
    figures._save(fig, fig_dir / "profiles.png")
    out["profiles"] = "figures/profiles.png"

    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, marker in (("gaussian", "o"), ("slit", "s")):
        rows = [r for r in res["beams"] if r["kind"] == kind]
        ppw = [r["resolution"] for r in rows]
        ax.loglog(ppw, [100 * r["err_ideal"] for r in rows], marker + "-", label=f"{kind}: ASM(ideal input)")
        ax.loglog(ppw, [100 * r["err_meep_input"] for r in rows], marker + ":",
                  label=f"{kind}: ASM(Meep field 1λ after source)")
    for kind, marker in (("binary", "^"), ("blazed4", "v")):
        rows = [r for r in res.get("grating_convergence", []) if r["kind"] == kind]
        if len(rows) >= 2:
            ref = rows[-1]
            ax.loglog([r["resolution"] for r in rows[:-1]],
                      [100 * max(abs(r["meep_main"] - ref["meep_main"]) / ref["meep_main"], 1e-6) for r in rows[:-1]],
                      marker + "--", label=f"{kind} grating: η₊₁ vs its value at {ref['resolution']:g} pts/λ")
    ticks = sorted({r["resolution"] for r in res["beams"]} | {r["resolution"] for r in res.get("grating_convergence", [])})
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("resolution (grid points per λ)")
    ax.set_ylabel("relative error (%)")
    ax.set_title("convergence with resolution", fontsize=10)
    ax.legend(fontsize=7)
    figures._save(fig, fig_dir / "convergence.png")
    out["convergence"] = "figures/convergence.png"

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for kind, marker in (("binary", "o"), ("blazed4", "s")):
        rows = sorted([r for r in res["gratings"] if r["kind"] == kind], key=lambda r: r["period_wl"])
        if not rows:
            continue
        p = [r["period_wl"] for r in rows]
        a1.semilogx(p, [100 * r["main_rel_err"] for r in rows], marker + "-", label=f"{kind}: rel. error of η₊₁")
        a1.semilogx(p, [100 * r["max_abs_err"] for r in rows], marker + ":", label=f"{kind}: max |Δη| (points)")
        a2.semilogx(p, [100 * r["meep"]["1"] for r in rows], marker + "-", label=f"{kind}: Meep")
        a2.semilogx(p, [100 * r["thin"]["1"] for r in rows], marker + "--", label=f"{kind}: thin element + ASM")
    periods = sorted({r["period_wl"] for r in res["gratings"]})
    for ax in (a1, a2):
        ax.set_xticks(periods)
        ax.set_xticklabels([f"{p:g}" for p in periods], fontsize=7)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    a1.axhline(100 * res["tolerance"], color="grey", lw=0.8)
    a1.set_xlabel("period / λ")
    a1.set_ylabel("error (%)")
    a1.set_title("thin-element model error vs period", fontsize=10)
    a2.set_xlabel("period / λ")
    a2.set_ylabel("η₊₁ (% of propagating power)")
    a2.set_title("+1 order efficiency", fontsize=10)
    for ax in (a1, a2):
        ax.legend(fontsize=7)
    figures._save(fig, fig_dir / "grating_validity.png")
    out["grating_validity"] = "figures/grating_validity.png"

    lay = res["layer"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 2]})
    top = lay["comparisons"][-1]
    a = arrays[f"layer/{top['resolution']:g}"]
    a1.step(a["x"] * 1e6, a["heights"] * 1e6, where="mid")
    a1.set_xlabel("x (µm)")
    a1.set_ylabel("relief height (µm)")
    a1.set_title(f"trained layer, n = {res['index']:g}", fontsize=10)
    a2.plot(a["x"] * 1e6, normalized_intensity(a["meep"][-1]), lw=1.2, label=f"Meep, {top['resolution']:g} pts/λ")
    a2.plot(a["x"] * 1e6, normalized_intensity(a["thin"][-1]), "k--", lw=1.2, label="onnsim thin element + ASM")
    for c in lay["spot_centres_wl"]:
        a2.axvspan((c - lay["spot_width_wl"] / 2) * res["wavelength_m"] * 1e6,
                   (c + lay["spot_width_wl"] / 2) * res["wavelength_m"] * 1e6, color="grey", alpha=0.15)
    a2.set_xlabel("x (µm)")
    a2.set_ylabel("|E|² (normalised)")
    a2.set_title(f"output at z = {top['z_wl'][-1]:g}λ: Pearson r = {top['correlation'][-1]:.4f}", fontsize=10)
    a2.legend(fontsize=7)
    figures._save(fig, fig_dir / "trained_layer.png")
    out["trained_layer"] = "figures/trained_layer.png"
    return out


# ------------------------------------------------------------------------------------------
# the run


def _check(cfg: FdtdValidationConfig) -> None:
    if not cfg.wavelength_m > 0 or not cfg.index > 1:
        raise ValueError("wavelength_m must be > 0 and index > 1")
    for key in ("beam_resolutions", "layer_resolutions"):
        if len(_floats(getattr(cfg, key))) < 1:
            raise ValueError(f"{key} must list at least one resolution")
    if any(r < 4 for r in _floats(cfg.beam_resolutions) + _floats(cfg.layer_resolutions)
           + _floats(cfg.grating_convergence_resolutions) + [cfg.grating_resolution]):
        raise ValueError("resolutions (points per wavelength) must be >= 4")
    bad = set(cfg.grating_kinds.split(",")) - {"binary", "blazed4"}
    if bad:
        raise ValueError(f"grating_kinds: unknown {sorted(bad)}; valid: binary, blazed4")


@register(NAME, "FDTD validation with MIT Meep: beams, gratings (validity map), a trained layer",
          FdtdValidationConfig, runtime={"smoke": "15 s", "cpu": "8 min", "paper": "1 h"},
          scales={
              "smoke": {"beam_resolutions": "6,8", "gaussian_waist_wl": 2.0, "gaussian_z_wl": 6.0,
                        "gaussian_window_wl": 12.0, "slit_width_wl": 4.0, "slit_z_wl": 6.0, "slit_window_wl": 12.0,
                        "grating_resolution": 8.0, "grating_periods_wl": "4", "grating_convergence_resolutions": "8",
                        "grating_convergence_period_wl": 4.0, "layer_pixel_wl": 2.0, "layer_pixels": 6,
                        "layer_z_wl": 8.0, "layer_spots": 2, "layer_spot_width_wl": 2.0, "layer_resolutions": "8", "layer_window_resolutions": "",
                        "layer_train_resolution": 4.0, "layer_steps": 30},
              "paper": {"beam_resolutions": "10,20,30,40", "grating_resolution": 30.0,
                        "grating_convergence_resolutions": "10,20,30,40", "layer_resolutions": "10,20,30,40", "layer_window_resolutions": "10,20,30"},
          }, requires=lambda: available())
def run(cfg: FdtdValidationConfig, out_dir: Path, *, resume: bool = False) -> dict:
    _check(cfg)
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    records.write_config(out_dir / "config.json", NAME, cfg, cfg.seed)
    lam = cfg.wavelength_m
    kw = {"wavelength": lam, "timeout": cfg.meep_timeout_s}
    arrays: dict = {}
    res: dict = {"wavelength_m": lam, "index": cfg.index, "tolerance": cfg.tolerance}

    # 1. free space
    beams = []
    for kind, size, z, width in (("gaussian", cfg.gaussian_waist_wl, cfg.gaussian_z_wl, cfg.gaussian_window_wl),
                                 ("slit", cfg.slit_width_wl, cfg.slit_z_wl, cfg.slit_window_wl)):
        for ppw in _floats(cfg.beam_resolutions):
            r = beam_comparison(kind, ppw, size=size * lam, z=z * lam, width=width * lam, **kw)
            arrays[f"beams/{kind}/{ppw:g}"] = {k: r[k] for k in ("x", "meep", "asm")}
            beams.append({k: v for k, v in r.items() if k not in ("x", "meep", "asm")})
            print(f"[{NAME}] {kind} {ppw:g} pts/λ: |E|² error {100 * r['err_ideal']:.2f} % ({r['wall_s']:.1f} s)")
    res["beams"] = beams

    # 2. gratings
    def grating_row(r):
        return {"kind": r["kind"], "period_wl": r["period_wl"], "feature_wl": feature_size(r["kind"], r["period_wl"]),
                "meep": {str(k): v for k, v in r["meep"].items()}, "thin": {str(k): v for k, v in r["thin"].items()},
                "orders": r["orders"], "max_abs_err": r["max_abs_err"], "main_rel_err": r["main_rel_err"],
                "meep_main": r["meep"][1], "thin_main": r["thin"][1], "meep_zero": r["meep"].get(0, 0.0),
                "wall_s": r["wall_s"]}
    kinds = [k for k in cfg.grating_kinds.split(",") if k]
    gratings = []
    for kind in kinds:
        for p in _floats(cfg.grating_periods_wl):
            r = grating_row(grating_comparison(kind, p * lam, index=cfg.index, resolution=cfg.grating_resolution, **kw))
            r["resolution"] = cfg.grating_resolution
            gratings.append(r)
            print(f"[{NAME}] {kind} period {p:g}λ: η₊₁ Meep {100 * r['meep_main']:.2f} % vs thin "
                  f"{100 * r['thin_main']:.2f} % (rel {100 * r['main_rel_err']:.1f} %)")
    res["gratings"] = gratings
    res["grating_resolution"] = cfg.grating_resolution
    res["validity"] = {k: validity_threshold([r for r in gratings if r["kind"] == k], cfg.tolerance) for k in kinds}
    conv = []
    for kind in kinds:
        for ppw in _floats(cfg.grating_convergence_resolutions):
            r = grating_row(grating_comparison(kind, cfg.grating_convergence_period_wl * lam, index=cfg.index,
                                               resolution=ppw, **kw))
            r["resolution"] = ppw
            conv.append(r)
    res["grating_convergence"] = conv

    # 3. trained layer
    z = cfg.layer_z_wl * lam
    trained = train_focusing_layer(wavelength=lam, pixel=cfg.layer_pixel_wl * lam, pixels=cfg.layer_pixels, z=z,
                                   spots=cfg.layer_spots, spot_width=cfg.layer_spot_width_wl * lam,
                                   resolution=cfg.layer_train_resolution, steps=cfg.layer_steps,
                                   learning_rate=cfg.layer_learning_rate, seed=cfg.seed)
    heights = phase_to_height(torch.as_tensor(trained["phase"]), wavelength=lam, n=cfg.index).numpy()
    zs = [z * f for f in (0.25, 0.5, 0.75, 1.0)]
    comparisons = []
    for ppw in _floats(cfg.layer_resolutions):
        r = layer_comparison(heights, cfg.layer_pixel_wl * lam, z=zs, index=cfg.index, resolution=ppw, **kw)
        arrays[f"layer/{ppw:g}"] = {k: r[k] for k in ("x", "heights", "meep", "thin")}
        sw = cfg.layer_spot_width_wl * lam
        comparisons.append({
            "resolution": ppw, "z_wl": [v / lam for v in zs], "correlation": r["correlation"], "l2": r["l2"],
            "spots_meep": _spot_fractions(r["meep"][-1], r["x"], trained["spot_centres"], sw),
            "spots_thin": _spot_fractions(r["thin"][-1], r["x"], trained["spot_centres"], sw),
            "wall_s": r["wall_s"]})
        print(f"[{NAME}] trained layer, {ppw:g} pts/λ: Pearson r = {r['correlation'][-1]:.4f}, "
              f"L2 {100 * r['l2'][-1]:.1f} % ({r['wall_s']:.1f} s)")
    window = []
    for ppw in _floats(cfg.layer_window_resolutions):
        r = layer_comparison(heights, cfg.layer_pixel_wl * lam, z=zs, index=cfg.index, resolution=ppw,
                             transverse="pml", **kw)
        arrays[f"layer_window/{ppw:g}"] = {k: r[k] for k in ("x", "heights", "meep", "thin")}
        window.append({"resolution": ppw, "z_wl": [v / lam for v in zs], "correlation": r["correlation"],
                       "l2": r["l2"], "wall_s": r["wall_s"]})
        print(f"[{NAME}] trained layer as a finite window (PML sides), {ppw:g} pts/λ: Pearson r = "
              f"{r['correlation'][-1]:.4f}, L2 {100 * r['l2'][-1]:.1f} % ({r['wall_s']:.1f} s)")
    res["layer"] = {"pixel_wl": cfg.layer_pixel_wl, "pixels": cfg.layer_pixels, "z_wl": cfg.layer_z_wl,
                    "spots": cfg.layer_spots, "spot_width_wl": cfg.layer_spot_width_wl,
                    "spot_centres_wl": [c / lam for c in trained["spot_centres"]],
                    "train_resolution": cfg.layer_train_resolution, "train_steps": cfg.layer_steps,
                    "train_efficiency": trained["efficiency"], "train_nonuniformity": trained["nonuniformity"],
                    "max_height_m": float(heights.max()), "comparisons": comparisons,
                    "window_comparisons": window}
    res["meep_wall_s"] = sum(r["wall_s"] for r in beams + gratings + conv + comparisons + window)
    res["wall_s"] = time.perf_counter() - t0
    res["versions"] = records.versions()

    figures = _figures(out_dir / "figures", res, arrays)
    res["figures"] = figures
    records.atomic_text(out_dir / "results.json", json.dumps(res, indent=2))
    datasets = {}
    for key, a in arrays.items():
        for name, v in a.items():
            unit = {"x": "m", "heights": "m"}.get(name, "1 (complex Ez, plane wave / source amplitude 1)")
            datasets[f"{key}/{name}"] = (v, unit)
    datasets["layer/trained_phase"] = (trained["phase"], "rad (per pixel)")
    datasets["layer/train_loss"] = (np.asarray(trained["history"]), "1")
    records.write_results(out_dir / "results.h5", attrs={"experiment": NAME, "seed": cfg.seed, "config": asdict(cfg),
                                                         "versions": records.versions()}, datasets=datasets)
    records.atomic_torch_save({"phase": torch.as_tensor(trained["phase"]), "heights": torch.as_tensor(heights),
                               "pixel": cfg.layer_pixel_wl * lam, "wavelength": lam, "index": cfg.index},
                              out_dir / "model.pt")
    summary = _summary(res)
    records.atomic_text(out_dir / "report.md", render_markdown(res, asdict(cfg), figures_prefix=""))
    records.atomic_text(out_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


def _summary(res: dict) -> dict:
    s = {}
    for r in res["beams"]:
        s[f"{r['kind']}_err_{r['resolution']:g}ppw"] = r["err_ideal"]
    for k, v in res["validity"].items():
        s[f"validity_{k}_feature_wl"] = v["n_wl"]
    top = res["layer"]["comparisons"][-1]
    s["layer_correlation"] = top["correlation"][-1]
    s["layer_l2"] = top["l2"][-1]
    s["layer_resolution"] = top["resolution"]
    s["meep_wall_s"] = res["meep_wall_s"]
    s["wall_time_s"] = res["wall_s"]
    return s


# ------------------------------------------------------------------------------------------
# the report and docs/validation/fdtd.md


def _pct(v, digits=2) -> str:
    return "—" if v is None else f"{100 * v:.{digits}f}"


def _g(v) -> str:
    return "—" if v is None else f"{v:g}"


_BRIDGE = """## The bridge

- `scripts/setup_fdtd.sh` — optional, idempotent: installs Debian `python3-meep`,
  `python3-h5py`, `python3-matplotlib` with apt-get (needs root; otherwise says what to do).
  Not part of `scripts/setup.sh` or `.ci/run`.
- `hardware/fdtd.py` — the bridge (imports no Meep). `FdtdJob` (2-D TM/Ez: wavelength,
  resolution in points per wavelength, either a complex 1-D input profile — "source" mode —
  or a dielectric height profile with index and base slab lit by a normal plane wave —
  "layer" mode —, monitor distances, PML thickness, transverse "pml" or "periodic"),
  `to_meep_units` (the one SI → Meep conversion: length unit a = 1 µm, frequency a/λ,
  resolution = points per λ / (λ/µm)), `write_job` (HDF5), `run_job` (runs the worker in a
  subprocess with a timeout, reads complex Ez back, SI positions), `meep_available`.
  Interpreter: argument `python`, else `$ONNSIM_MEEP_PYTHON`, else `/usr/bin/python3`.
  Missing Meep → `FdtdError` naming `scripts/setup_fdtd.sh`; worker failure → `FdtdError`
  with the worker's stderr tail. Comparisons: `beam_comparison` (Gaussian, slit),
  `grating_comparison` / `grating_validity_sweep`, `layer_comparison` (any 1-D relief),
  `asm_1d` (onnsim's ASM on a 1-D cut), `intensity_error`, `intensity_correlation`.
- `hardware/fdtd_worker.py` — the only file importing `meep`; imports no onnsim package.
  Source mode: a line current on the reference plane z = 0, pre-compensated in k-space with
  the Yee grid's own line-source Green's function (J = −2 (sin(k_y Δ)/Δ) E / ω, k_y from the
  grid's dispersion relation; continuum limit −2 k_y E/ω), so the field on the source line is
  the requested profile. Layer mode: a plane wave a gap before the layer, the pixel staircase
  sampled point-wise on Meep's grid (a grid point carries each job sample — for an even
  sample count by a half-pixel shift of the whole problem; no subpixel averaging, so no pixel
  edge falls on a grid point and a mirror-symmetric profile stays symmetric to < 1e-4). Complex fields, smoothly switched-on CW source,
  run to steady state (switch-on + two transits), Ez sampled on the monitor lines with the
  exp(−iωt) factor removed. The reference plane and the monitors lie on grid rows.
- `experiments/fdtd_validation.py` — the `fdtd-validation` experiment and the generator of
  this page (`write_fdtd_doc`).

Model compared: 2-D, TM (Ez out of plane) — a scalar wave equation, like onnsim's. Meep
x = onnsim's transverse x, Meep y = propagation axis z. Units: Meep length unit a = 1 µm,
frequency 1/λ in c/a, Meep resolution = (points per λ)/(λ/µm); fields dimensionless (unit
source or plane-wave amplitude). Intensities are compared normalised to unit sum, so
Fresnel reflection at the layer and the source normalisation cancel."""

_FIXES = """## Fixes made while validating

- Grating orders were asymmetric: one Meep `Block` per pixel with edges on Meep's Ez grid
  left subpixel-averaged "seams" (ε ≈ 1.2–1.6) inside the ridges; the symmetric binary grating
  gave ±1 = 40.0 / 36.5 %. Fixed by the half-pixel shift and point-wise sampling (±1 equal to
  < 0.01 points at every period).
- Source mode put the source line one gap (1λ) *before* z = 0, so every monitor was 1λ
  further from the source than labelled. A Gaussian of waist 3λ hides this (the old table
  showed 4.2 % / 2.2 % at 10 / 20 points/λ, now 2.6 % / 0.6 %); a beam tilted at
  sin θ = 0.7 was 45 % off. The source line is now the reference plane.
- Layer mode with an odd number of samples and layer mode with PML sides were not
  mirror-symmetric (see the next section).
- `optics.asm_propagate` on a 1-row grid with `pad_factor=2` padded the row too; the padded y
  axis carried an evanescent Nyquist component and the field came out exactly halved
  (z ≫ dx; normalised intensities were unaffected). Fixed in `Grid.padded_shape`: a
  one-sample axis is not padded."""

_PML_NOTE = """## Layer mode with absorbing (PML) sides

Layers are validated here with periodic sides (the gratings; the trained layer is one period
of a periodic array, so Meep and onnsim solve the same problem). With `transverse="pml"` the
layer mode used to show a mirror asymmetry for a symmetric ridge (window 10λ, 10 points/λ:
0.007–0.022 in |E| of peak 1.67; 0.32 with an odd number of samples). Two causes, both fixed
(test `test_layer_mode_keeps_a_symmetric_ridge_symmetric`, periodic and PML, even and odd
sample counts: now < 1e-4):

- Meep's grid points lie at integer multiples of dx from the cell centre. The job's samples
  are such points for an odd sample count and half a pixel off for an even one; the worker
  shifted the problem by half a pixel in both cases, which for odd counts put every grid
  point on a pixel edge (asymmetry 0.22). The shift is now applied for even counts only.
- The plane-wave source ran on through the side PMLs to the cell walls; stopping it at the
  PML (a plane wave cut to the window) removes the rest (0.011 → 3e-6). The half-pixel
  offset of the PMLs relative to the problem was not the cause.

So PML-sided layers now see a plane wave cut to the window, like onnsim's field on its grid
(zero outside); its edges diffract over the 1λ gap before the layer, which onnsim's thin
element does not model. The trained layer's finite-window table above compares this mode with
onnsim's zero-padded ASM."""


def render_markdown(res: dict, config: dict, *, figures_prefix: str | None = "", run_dir: str | None = None) -> str:
    """The validation page from a run's ``results.json`` (``res``) and configuration.

    ``figures_prefix``: where the run's ``figures/`` are, relative to the page (``""`` for the
    run's own report.md); None leaves the figures out (named only)."""
    lam_um = res["wavelength_m"] * 1e6
    tol = res["tolerance"]
    lines = ["# FDTD validation of onnsim's wave optics with MIT Meep", ""]
    if run_dir is not None:
        lines += [f"*Generated by `python -m experiments fdtd-doc {run_dir} docs/validation/fdtd.md` from a "
                  f"run of `python -m experiments run fdtd-validation` — do not edit by hand; rerun instead.*", ""]
    v = res.get("versions", {})
    lines += [f"Meep runs out of process (the bridge below). λ = {lam_um:g} µm, layers of index "
              f"n = {res['index']:g}, 2-D TM/Ez. Python {v.get('python', '?')}, torch {v.get('torch', '?')}, "
              f"numpy {v.get('numpy', '?')}; Meep: Debian python3-meep 1.25 under /usr/bin/python3. "
              f"Meep time {res['meep_wall_s']:.0f} s of a {res['wall_s']:.0f} s run on the 2-core CPU machine.", ""]

    # summary
    beams = res["beams"]
    top = res["layer"]["comparisons"][-1]
    lines += ["## Summary", ""]
    for kind in ("gaussian", "slit"):
        rows = [r for r in beams if r["kind"] == kind]
        errs = " / ".join(f"{_pct(r['err_ideal'])} %" for r in rows)
        ppws = " / ".join(f"{r['resolution']:g}" for r in rows)
        lines.append(f"- {kind.capitalize()}: relative L2 error of |E|², onnsim ASM vs Meep, {errs} at {ppws} "
                     f"points/λ — shrinks with resolution (FDTD numerical dispersion; the ASM is exact for a "
                     f"scalar 2-D field).")
    for kind, val in res["validity"].items():
        name = "binary π grating (feature = half period)" if kind == "binary" else \
            "4-level blazed grating (feature = step = quarter period)"
        if val["n_wl"] is None:
            txt = f"fails already at the longest period sampled (feature {_g(val['first_fail_wl'])}λ)"
        elif val["first_fail_wl"] is None:
            txt = f"holds down to the shortest period sampled (feature {_g(val['n_wl'])}λ)"
        else:
            txt = (f"holds for feature ≥ N·λ with N = {_g(val['n_wl'])} (first failure at feature "
                   f"{_g(val['first_fail_wl'])}λ, so {_g(val['first_fail_wl'])} < N_true ≤ {_g(val['n_wl'])})")
        lines.append(f"- Thin element + ASM, {name}: relative error of η₊₁ < {100 * tol:g} % {txt}, at "
                     f"{res['grating_resolution']:g} points/λ.")
    lay = res["layer"]
    lines.append(f"- Trained layer ({lay['pixels']} pixels of {lay['pixel_wl']:g}λ, relief up to "
                 f"{lay['max_height_m'] * 1e6:.2f} µm, focusing into {lay['spots']} spots at {lay['z_wl']:g}λ): "
                 f"Meep vs onnsim output intensity Pearson r = {top['correlation'][-1]:.4f}, relative L2 "
                 f"{_pct(top['l2'][-1], 1)} % at {top['resolution']:g} points/λ (one period of a periodic array)"
                 + (f"; as a finite window with absorbing sides vs onnsim's zero-padded ASM r = "
                    f"{lay['window_comparisons'][-1]['correlation'][-1]:.4f}, L2 "
                    f"{_pct(lay['window_comparisons'][-1]['l2'][-1], 1)} % at "
                    f"{lay['window_comparisons'][-1]['resolution']:g} points/λ." if lay.get("window_comparisons")
                    else "."))
    n = res["index"]
    worst = {k: max((r for r in res["gratings"] if r["kind"] == k), key=lambda r: r["main_rel_err"])
             for k in res["validity"]}
    worst_txt = "; ".join(f"{k} {_pct(r['main_rel_err'], 1)} % at period {r['period_wl']:g}λ (Meep η₊₁ "
                          f"{_pct(r['meep_main'], 1)} % vs {_pct(r['thin_main'], 1)} %, η₀ {_pct(r['meep_zero'], 1)} %)"
                          for k, r in worst.items())
    lines += ["", ("Where the scalar model is trustworthy: free-space propagation at any angle the grid carries "
                   "(the angular spectrum is exact for a scalar 2-D field; the differences above are Meep's "
                   "discretisation and shrink with resolution); thin elements (phase = 2π(n−1)h/λ) when the "
                   "smallest feature is at least N·λ with N as measured above — for these reliefs: n = "
                   f"{n:g}, binary step {1 / (2 * (n - 1)):g}λ tall, blazed steps up to {3 / (4 * (n - 1)):g}λ. "
                   f"Below that the order efficiencies are off by more than {100 * tol:g} %; largest relative "
                   f"error of η₊₁ in the sweep: {worst_txt}."), ""]

    # beams
    lines += ["## Free space: Gaussian beam and slit", ""]
    g = next(r for r in beams if r["kind"] == "gaussian")
    s = next(r for r in beams if r["kind"] == "slit")
    lines += [f"Gaussian: waist {g['size'] / res['wavelength_m']:g}λ, propagated {g['z'] / res['wavelength_m']:g}λ, "
              f"window {g['width'] / res['wavelength_m']:g}λ. Slit: hard-edged, width "
              f"{s['size'] / res['wavelength_m']:g}λ, propagated {s['z'] / res['wavelength_m']:g}λ, window "
              f"{s['width'] / res['wavelength_m']:g}λ. PML 2λ on all sides. Metric: relative L2 error of the "
              "|E|² profile, each normalised to unit sum. Columns: the source reproduces the profile (ASM of "
              "the ideal input vs Meep 1λ after the source); end to end (ASM of the ideal input vs Meep at z); "
              "propagation alone (ASM of Meep's field 1λ after the source, over z − 1λ, vs Meep at z).", "",
              "| beam | points per λ | source, 1λ | end to end, at z | propagation alone | Meep wall time |",
              "|---|---|---|---|---|---|"]
    for r in beams:
        lines.append(f"| {r['kind']} | {r['resolution']:g} | {_pct(r['err_near'])} % | {_pct(r['err_ideal'])} % | "
                     f"{_pct(r['err_meep_input'])} % | {r['wall_s']:.1f} s |")
    lines += [""]
    for kind in ("gaussian", "slit"):
        rows = [r for r in beams if r["kind"] == kind]
        if len(rows) >= 2:
            ratios = ", ".join(f"{rows[i]['err_ideal'] / rows[i + 1]['err_ideal']:.1f}×"
                               for i in range(len(rows) - 1))
            orders = [math.log(rows[i]["err_ideal"] / rows[i + 1]["err_ideal"])
                      / math.log(rows[i + 1]["resolution"] / rows[i]["resolution"]) for i in range(len(rows) - 1)]
            lines.append(f"- Convergence, {kind}: the error falls by {ratios} from one resolution to the next "
                         f"(observed order {', '.join(f'{o:.1f}' for o in orders)}; Yee FDTD is second order).")
    lines += [""]

    # gratings
    lines += ["## Gratings: order efficiencies, Meep vs thin element + ASM", "",
              "Normal plane wave, periodic sides, one period per cell, orders from the Fourier series of Ez "
              "2λ behind the layer, power ∝ |c_m|² cos θ_m, as fractions of the propagating power. Thin "
              "element: exp(i·2π(n−1)h/λ) on a unit plane wave, `asm_propagate` over the same 2λ on one period "
              "with `pad_factor=1` and no band limit (circular convolution = the periodic grating). Binary: π "
              "step (h = λ/(2(n−1))), 50 % duty; blazed: 4 levels 0, π/2, π, 3π/2, blazed into +1. "
              f"{res['grating_resolution']:g} points/λ. η in % of the propagating power; |Δ|max = largest "
              "absolute difference over all orders (percentage points); rel = |η₊₁(Meep) − η₊₁(thin)| / "
              "η₊₁(thin).", "",
              "| grating | period/λ | feature/λ | η₊₁ Meep | η₊₁ thin | η₋₁ Meep | η₀ Meep | \\|Δ\\|max | rel (+1) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(res["gratings"], key=lambda r: (r["kind"], -r["period_wl"])):
        lines.append(f"| {r['kind']} | {r['period_wl']:g} | {r['feature_wl']:g} | {_pct(r['meep_main'])} | "
                     f"{_pct(r['thin_main'])} | {_pct(r['meep'].get('-1', 0.0))} | {_pct(r['meep_zero'])} | "
                     f"{_pct(r['max_abs_err'])} | {_pct(r['main_rel_err'], 1)} % |")
    conv = res.get("grating_convergence", [])
    if conv:
        lines += ["", f"Resolution check at period {conv[0]['period_wl']:g}λ (η₊₁ in %):", "",
                  "| grating | " + " | ".join(f"{r['resolution']:g} pts/λ" for r in conv if r["kind"] == conv[0]["kind"])
                  + " |", "|---|" + "---|" * sum(r["kind"] == conv[0]["kind"] for r in conv)]
        for kind in dict.fromkeys(r["kind"] for r in conv):
            lines.append(f"| {kind} | " + " | ".join(_pct(r["meep_main"]) for r in conv if r["kind"] == kind) + " |")
        lines += ["", "The resolution changes η₊₁ far less than the thin-element differences in the table, which "
                  "are therefore the scalar thin-element model's error, not FDTD discretisation."]
    lines += [""]

    # trained layer
    lines += ["## A trained diffractive layer re-simulated in Meep", "",
              f"One period ({lay['pixels']} pixels × {lay['pixel_wl']:g}λ = {lay['pixels'] * lay['pixel_wl']:g}λ) of a "
              f"phase-only layer trained with onnsim (thin element + periodic ASM at {lay['train_resolution']:g} "
              f"points/λ, {lay['train_steps']} Adam steps) to focus a normal plane wave into {lay['spots']} spots of "
              f"width {lay['spot_width_wl']:g}λ at z = {lay['z_wl']:g}λ (trained: {_pct(lay['train_efficiency'], 1)} % "
              f"of the power in the spots, non-uniformity {lay['train_nonuniformity']:.3f}). Phase → relief with "
              f"`hardware.export.phase_to_height` (n = {res['index']:g}; h = λ·wrap(φ)/(2π(n−1)), up to "
              f"{lay['max_height_m'] * 1e6:.2f} µm), re-simulated in Meep (layer mode, periodic sides) and "
              "compared with onnsim's thin element + ASM of the same relief at the same sampling.", "",
              "| points per λ | z/λ | Pearson r of \\|E\\|² | relative L2 of \\|E\\|² | spot powers Meep (%) | spot powers onnsim (%) |",
              "|---|---|---|---|---|---|"]
    for c in lay["comparisons"]:
        for i, zw in enumerate(c["z_wl"]):
            last = i == len(c["z_wl"]) - 1
            sm = ", ".join(f"{100 * v:.1f}" for v in c["spots_meep"]) if last else ""
            st = ", ".join(f"{100 * v:.1f}" for v in c["spots_thin"]) if last else ""
            lines.append(f"| {c['resolution']:g} | {zw:g} | {c['correlation'][i]:.4f} | {_pct(c['l2'][i], 1)} % | "
                         f"{sm} | {st} |")
    near = lay["comparisons"][-1]
    lines += ["", "Spot powers are fractions of the transmitted power in each spot window at the focal plane. "
              f"Agreement is poorest close to the layer (r = {near['correlation'][0]:.2f} at "
              f"{near['z_wl'][0]:g}λ) and best towards the focal plane (r = {near['correlation'][-1]:.3f} at "
              f"{near['z_wl'][-1]:g}λ): with {lay['pixel_wl']:g}λ pixels up to "
              f"{lay['max_height_m'] / res['wavelength_m']:.1f}λ tall the layer is far from thin (compare the "
              "grating table at feature 2λ)."]
    win = lay.get("window_comparisons", [])
    if win:
        lines += ["", ("The same relief as a finite window instead (absorbing sides, PML 2λ; Meep lights the "
                       "window only) against onnsim's usual aperture model: thin element on the window, zero "
                       "outside, `asm_propagate` with zero padding (linear convolution, `hardware.fdtd.asm_1d`):"),
                  "", "| points per λ | z/λ | Pearson r of \\|E\\|² | relative L2 of \\|E\\|² |", "|---|---|---|---|"]
        for c in win:
            for i, zw in enumerate(c["z_wl"]):
                lines.append(f"| {c['resolution']:g} | {zw:g} | {c['correlation'][i]:.4f} | {_pct(c['l2'][i], 1)} % |")
    lines += [""]

    lines += [_BRIDGE, "", _FIXES, "", _PML_NOTE, ""]
    lines += ["## Tests and CI", "",
              "- `tests/hardware/test_fdtd.py`: the bridge's pure-Python parts (job validation, unit "
              "conversion, HDF5 job file, missing-Meep error, thin-element orders against 4/π² and sinc²(1/4), "
              "`asm_1d`) in the default suite; Meep runs (Gaussian and slit convergence, grating orders, the "
              "trained layer at coarse resolution) marked `fdtd`, opt-in: `.venv/bin/python -m pytest -m fdtd`, "
              "skipped with the reason when Meep is absent.",
              "- `tests/experiments/test_fdtd_validation.py`: the page generator on a synthetic record and the "
              "experiment's registration/configuration (default suite, no Meep). The smoke run of every "
              "registered experiment (`tests/experiments/test_cli_and_records.py`) runs `fdtd-validation` in "
              "about 15 s when Meep is present and skips it with the reason when not.",
              "- CI (`.ci/run`) does not install Meep, and the FDTD tests stay opt-in. Meep is not on PyPI; the "
              "Debian package is small (python3-meep, libmeep, libctl, libharminv, HDF5, h5py: ≈ 14 MB "
              "installed) but needs root, apt-get and network access at CI time, which `.ci/run` (a plain "
              "`bash scripts/test.sh` on a clean checkout) does not assume; and the Meep tests add ≈ 2 min of "
              "CPU. Rerun this experiment and regenerate this page after any change to `optics` propagation, "
              "`hardware.fdtd` or the worker; `pytest -m fdtd` is the quick check (≈ 2 min).", ""]
    figs = res.get("figures", {})
    if figs:
        lines += ["## Figures", ""]
        captions = {"profiles": "Meep vs onnsim ASM at z (Gaussian, slit)",
                    "convergence": "error vs resolution",
                    "grating_validity": "thin-element error and η₊₁ vs period",
                    "trained_layer": "trained layer: relief and output intensity"}
        for key, path in figs.items():
            if figures_prefix is None:
                lines.append(f"- {captions.get(key, key)}: `{path}` in the run directory")
            else:
                lines.append(f"![{captions.get(key, key)}]({figures_prefix}{path})")
        lines += [""]
    cfg_txt = ", ".join(f"{k}={v}" for k, v in config.items())
    lines += ["## Configuration", "", f"`{cfg_txt}`", ""]
    return "\n".join(lines)


def write_fdtd_doc(run_dir, out_path, *, figures_dir: str | None = "fdtd_figures") -> Path:
    """Write the validation page (docs/validation/fdtd.md) from the run directory of a
    ``fdtd-validation`` run (its ``results.json`` and ``config.json``).

    The run's figures are copied next to the page into ``figures_dir`` and linked; when
    ``figures_dir`` is None or a figure is missing, they are only named."""
    import shutil

    run_dir, out_path = Path(run_dir), Path(out_path)
    res_path = run_dir / "results.json"
    if not res_path.exists():
        raise FileNotFoundError(f"{run_dir} is not a finished fdtd-validation run (no results.json)")
    res = json.loads(res_path.read_text())
    cfg = json.loads((run_dir / "config.json").read_text())
    if cfg.get("experiment") != NAME:
        raise ValueError(f"{run_dir} is a run of {cfg.get('experiment')!r}, not {NAME!r}")
    figs = res.get("figures", {})
    prefix = None
    if figures_dir is not None and figs and all((run_dir / p).is_file() for p in figs.values()):
        dest = out_path.parent / figures_dir
        dest.mkdir(parents=True, exist_ok=True)
        for key, p in figs.items():
            shutil.copyfile(run_dir / p, dest / Path(p).name)
        res = dict(res, figures={k: f"{figures_dir}/{Path(p).name}" for k, p in figs.items()})
        prefix = ""
    text = render_markdown(res, cfg["config"], figures_prefix=prefix, run_dir=str(run_dir))
    out_path.write_text(text)
    return out_path


def redraw_figures(run_dir) -> dict:
    """Redraw a finished run's ``figures/*.png`` from its ``results.json`` and ``results.h5``
    (after a change to the figure code; no Meep)."""
    import h5py

    run_dir = Path(run_dir)
    res = json.loads((run_dir / "results.json").read_text())
    arrays: dict = {}
    with h5py.File(run_dir / "results.h5", "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and "/" in name:
                key, leaf = name.rsplit("/", 1)
                arrays.setdefault(key, {})[leaf] = obj[()]
        f.visititems(visit)
    return _figures(run_dir / "figures", res, arrays)
