"""The imaging part of the vaccination experiment: the diffuser-imaging network
(:mod:`experiments.diffusers.imaging`) trained standard and vaccinated, then its PCC over the
misalignment grid."""

from __future__ import annotations

import time
from pathlib import Path

from training import records

from ..diffusers import imaging as di
from ..registry import parse_overrides
from training.runtime import Runtime
from .config import (ARMS, VaccinationConfig, _draw_generator, _load_json, _override_pairs, _summarise, criterion,
                     imaging_vaccine, sweep_levels)
from .report import _criterion_text, _curve_table, curve_figure

__all__ = ["imaging_config", "run_imaging"]


def imaging_config(cfg: VaccinationConfig):
    """The :class:`experiments.diffusers.imaging.ImagingConfig` of the imaging part: that
    experiment's ``imaging_scale`` settings, then ``imaging_overrides``; the seed is ours."""
    base = dict(di.SCALES.get(cfg.imaging_scale, {}), seed=cfg.seed)
    return parse_overrides(di.ImagingConfig, _override_pairs(cfg.imaging_overrides), base=base)


def run_imaging(cfg: VaccinationConfig, out_dir: Path, *, resume: bool, runtime: Runtime | None = None) -> dict | None:
    """Train standard and vaccinated imaging networks, then PCC (object region, new diffusers)
    over the misalignment grid. Returns figures, report section, datasets, criterion, results."""
    runtime = runtime or Runtime()
    icfg = imaging_config(cfg)
    if runtime.is_main:
        records.write_config(out_dir / "imaging_config.json", "diffuser-imaging (vaccination part)", icfg, icfg.seed)
    path = out_dir / "sweep.json"
    done = _load_json(path, resume)
    objects = di.encode_objects(icfg, di.load_objects(icfg, "test", cfg.imaging_test_objects))
    diffusers = di.new_diffusers(icfg, cfg.imaging_test_diffusers, stream=77)  # never seen in training
    curves, results, datasets = {}, {}, {}
    for arm in ARMS:
        t0 = time.perf_counter()
        vac = imaging_vaccine(cfg, icfg.pitch_m) if arm == "vaccinated" else None
        print(f"[imaging-{arm}] training ({'vaccinated' if vac else 'error-free'})", flush=True)
        tr = di.train_imaging(icfg, out_dir / f"imaging-{arm}", misalignment=vac, resume=resume, runtime=runtime)
        if not runtime.is_main:
            continue
        model = tr["model"].eval()

        def measure(li, level, model=model, arm=arm):
            t1 = time.perf_counter()
            vals, by_region = [], {"support": [], "canvas": []}
            for d in range(level["draws"]):
                errors = imaging_vaccine(cfg, icfg.pitch_m, level["factor"]).sample(
                    icfg.layers, generator=_draw_generator(cfg, li, d))
                pccs = di.evaluate_pcc(model, objects, diffusers, errors=errors, region="all")
                vals.append(pccs["square"])
                for reg in by_region:
                    by_region[reg].append(pccs[reg])
            row = {"factor": level["factor"], "shift_max_m": level["factor"] * cfg.imaging_shift_max_px * icfg.pitch_m,
                   "axial_max_m": level["factor"] * cfg.imaging_axial_max_m, "draws": level["draws"],
                   "pcc": _summarise(vals), "pcc_support": _summarise(by_region["support"]),
                   "pcc_canvas": _summarise(by_region["canvas"]), "wall_time_s": time.perf_counter() - t1}
            print(f"[imaging-{arm}] Δ_test = {level['factor']:g}·Δ: PCC {row['pcc']['mean']:.4f} ± "
                  f"{row['pcc']['std']:.4f} ({level['draws']} draws)", flush=True)
            return row

        rows = curves[arm] = sweep_levels(cfg, f"imaging/{arm}", done, path, measure)
        hist = tr["history"]
        results[f"imaging-{arm}"] = {"family": "diffractive-imaging", "method": "noise" if vac else "ideal",
                                     "train_wall_time_s": tr["wall_time_s"], "history": hist, "misalignment": rows,
                                     "wall_time_s": time.perf_counter() - t0}
        datasets[f"imaging/{arm}/phase_masks"] = (model.phase.detach(), "rad")
        datasets[f"imaging/{arm}/train_loss"] = ([h["loss"] for h in hist], "1 (−PCC + E)")
        datasets[f"imaging/{arm}/val_pcc_new"] = ([h["val_pcc_new"] for h in hist], "1")
        datasets[f"imaging/{arm}/test_factor"] = ([r["factor"] for r in rows], "1 (Δ_test / Δ)")
        datasets[f"imaging/{arm}/shift_max"] = ([r["shift_max_m"] for r in rows], "m")
        datasets[f"imaging/{arm}/axial_max"] = ([r["axial_max_m"] for r in rows], "m")
        datasets[f"imaging/{arm}/pcc_mean"] = ([r["pcc"]["mean"] for r in rows], "1")
        datasets[f"imaging/{arm}/pcc_std"] = ([r["pcc"]["std"] for r in rows], "1 (std over draws)")
        for reg in ("support", "canvas"):  # the other two PCC regions (training.imaging.PCC_REGIONS)
            datasets[f"imaging/{arm}/pcc_{reg}_mean"] = ([r[f"pcc_{reg}"]["mean"] for r in rows if f"pcc_{reg}" in r],
                                                         f"1 (PCC over the {reg} region)")
    if not runtime.is_main:
        return None
    crit = criterion(curves, "pcc")
    fig = curve_figure(curves, out_dir / "figures" / "imaging_pcc_vs_misalignment.png", pitch_m=icfg.pitch_m,
                       shift_px=cfg.imaging_shift_max_px, axial_m=cfg.imaging_axial_max_m, metric="pcc",
                       ylabel="PCC (object region, new diffusers)", scale=1.0,
                       title="diffuser-imaging network under random 3-D layer misalignment")
    section = ("## Imaging network: PCC vs test misalignment\n\n"
               f"Geometry and training of `diffuser-imaging` at scale {cfg.imaging_scale!r}"
               f"{' with ' + cfg.imaging_overrides if cfg.imaging_overrides else ''}: {icfg.layers} layers of "
               f"{icfg.grid_px}×{icfg.grid_px} at {icfg.pitch_m * 1e3:g} mm, gaps {icfg.layer_gap_m * 1e3:g} mm, "
               f"{icfg.n_train} training objects, {icfg.epochs} epochs, {icfg.diffusers_per_epoch} diffusers per epoch. "
               f"Vaccination: lateral ±{cfg.imaging_shift_max_px:g} px "
               f"(±{cfg.imaging_shift_max_px * icfg.pitch_m * 1e3:.2f} mm), axial ±{cfg.imaging_axial_max_m * 1e3:.2f} mm "
               f"per layer, every batch. Test: {cfg.imaging_test_objects} test objects × "
               f"{cfg.imaging_test_diffusers} new diffusers, PCC over the object region.\n\n"
               + _curve_table(curves, "pcc", "PCC", 1.0) + "\n\n" + _criterion_text(crit, "imaging network", "PCC")
               + " (The 90% rule was stated for the classifier; it is shown here for comparison.)\n")
    return {"figures": [("imaging network: PCC vs test misalignment (mean ± std over draws)", fig.name)],
            "section": section, "datasets": datasets, "criterion": crit, "results": results,
            "phases": {arm: datasets[f"imaging/{arm}/phase_masks"][0] for arm in ARMS}}
