"""fdtd-validation — onnsim's scalar wave optics against MIT Meep (FDTD, 2-D TM/Ez).

Four comparisons, all at λ = 1 µm (``wavelength_m``) with Meep run out of process through
:mod:`hardware.fdtd` (Meep: ``bash scripts/setup_fdtd.sh``) and compared by :mod:`hardware.fdtd_analysis`:

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
    python -m experiments report fdtd runs/fdtd-validation/cpu --out docs/validation/fdtd.md

Without Meep the run stops at its first FDTD job with :class:`hardware.fdtd.FdtdError`
naming ``scripts/setup_fdtd.sh``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from hardware.export import phase_to_height
from hardware.fdtd import meep_available
from hardware.fdtd_analysis import (beam_comparison, feature_size, grating_comparison, layer_comparison,
                                     spot_fractions, validity_threshold)
from training import records

from .._methods import parse_list
from ..registry import register
from .plots import draw_figures
from .report import render_markdown

__all__ = ["FdtdValidationConfig", "available", "run", "train_focusing_layer"]

NAME = "fdtd-validation"


@dataclass(frozen=True)
class FdtdValidationConfig:
    wavelength_m: float = 1e-6  # vacuum wavelength λ of every comparison [m]
    index: float = 1.5  # refractive index of the relief material (gratings, trained layer) [dimensionless]
    beam_resolutions: str = "10,20,30"
    """Meep resolutions of the free-space comparisons, comma-separated [grid points per λ]"""
    gaussian_waist_wl: float = 3.0  # waist radius of the Gaussian beam [λ]
    gaussian_z_wl: float = 30.0  # propagation distance of the Gaussian beam [λ]
    gaussian_window_wl: float = 24.0  # lateral width of the simulation window of the Gaussian beam [λ]
    slit_width_wl: float = 8.0  # width of the hard-edged slit [λ]
    slit_z_wl: float = 20.0  # propagation distance behind the slit [λ]
    slit_window_wl: float = 32.0  # lateral width of the simulation window of the slit [λ]
    grating_resolution: float = 20.0  # Meep resolution of the grating comparisons [grid points per λ]
    grating_periods_wl: str = "40,20,18,16,14,10,8,7,5,4,3,2,1.5"  # grating periods compared, comma-separated [λ]
    grating_kinds: str = "binary,blazed4"
    """gratings compared, comma-separated: binary (π, 50 % duty), blazed4 (4-level blazed)"""
    grating_convergence_period_wl: float = 10.0  # period of the grating whose resolution convergence is checked [λ]
    grating_convergence_resolutions: str = "10,20,30"
    """Meep resolutions of that check, comma-separated [grid points per λ]"""
    layer_pixel_wl: float = 2.0  # pixel width of the trained 1-D diffractive layer [λ]
    layer_pixels: int = 24  # pixels of the trained layer [count]
    layer_z_wl: float = 40.0  # distance from the layer to its focal plane [λ]
    layer_spots: int = 3  # focal spots the layer is trained to form [count]
    layer_spot_width_wl: float = 3.0  # width of each target spot [λ]
    layer_resolutions: str = "10,20"
    """Meep resolutions of the periodic layer comparison, comma-separated [grid points per λ]"""
    layer_window_resolutions: str = "10,20"
    """the same relief as a finite window with PML sides, Meep resolutions [grid points per λ]"""
    layer_train_resolution: float = 10.0  # sampling of the layer's onnsim training [grid points per λ]
    layer_steps: int = 300  # Adam steps training the layer [count]
    layer_learning_rate: float = 0.1  # Adam learning rate of the layer's phases [rad per step]
    tolerance: float = 0.05
    """relative error of the +1 order efficiency below which the scalar model is trusted [dimensionless]"""
    meep_timeout_s: float = 900.0  # longest wall time of one Meep job before it is stopped [s]
    seed: int = 0  # seed of the layer's training


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



# ------------------------------------------------------------------------------------------
# the run


def _check(cfg: FdtdValidationConfig) -> None:
    if not cfg.wavelength_m > 0 or not cfg.index > 1:
        raise ValueError("wavelength_m must be > 0 and index > 1")
    for key in ("beam_resolutions", "layer_resolutions"):
        if len(parse_list(getattr(cfg, key), name=key)) < 1:
            raise ValueError(f"{key} must list at least one resolution")
    if any(r < 4 for r in parse_list(cfg.beam_resolutions, name="beam_resolutions") + parse_list(cfg.layer_resolutions, name="layer_resolutions")
           + parse_list(cfg.grating_convergence_resolutions, name="grating_convergence_resolutions") + [cfg.grating_resolution]):
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
          }, report="fdtd", requires=lambda: available())
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
        for ppw in parse_list(cfg.beam_resolutions, name="beam_resolutions"):
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
        for p in parse_list(cfg.grating_periods_wl, name="grating_periods_wl"):
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
        for ppw in parse_list(cfg.grating_convergence_resolutions, name="grating_convergence_resolutions"):
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
    for ppw in parse_list(cfg.layer_resolutions, name="layer_resolutions"):
        r = layer_comparison(heights, cfg.layer_pixel_wl * lam, z=zs, index=cfg.index, resolution=ppw, **kw)
        arrays[f"layer/{ppw:g}"] = {k: r[k] for k in ("x", "heights", "meep", "thin")}
        sw = cfg.layer_spot_width_wl * lam
        comparisons.append({
            "resolution": ppw, "z_wl": [v / lam for v in zs], "correlation": r["correlation"], "l2": r["l2"],
            "spots_meep": spot_fractions(r["meep"][-1], r["x"], trained["spot_centres"], sw),
            "spots_thin": spot_fractions(r["thin"][-1], r["x"], trained["spot_centres"], sw),
            "wall_s": r["wall_s"]})
        print(f"[{NAME}] trained layer, {ppw:g} pts/λ: Pearson r = {r['correlation'][-1]:.4f}, "
              f"L2 {100 * r['l2'][-1]:.1f} % ({r['wall_s']:.1f} s)")
    window = []
    for ppw in parse_list(cfg.layer_window_resolutions, name="layer_window_resolutions"):
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

    res["figures"] = draw_figures(out_dir / "figures", res, arrays)
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
