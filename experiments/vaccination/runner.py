"""The vaccination runner: the classifier arms, their misalignment sweep and the run record
(the experiment is described in :mod:`experiments.vaccination.config`)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from training import TrainConfig, records

from ..registry import register
from training.runtime import Runtime
from training.study import Arm, best_states, diffractive_task, load_data, run_arms, write_study_record
from .config import (ARMS, SCALES, VaccinationConfig, _draw_generator, _load_json, _summarise, criterion,
                     sweep_levels, vaccine)
from .imaging import run_imaging
from .report import _criterion_text, _curve_table, _intro, _notes, curve_figure

__all__ = ["classifier_arms", "misaligned_accuracy", "run", "sweep_classifier"]


def _classifier_task(cfg: VaccinationConfig):
    return diffractive_task(grid_px=cfg.grid_px, pitch_m=cfg.pitch_m, wavelength_m=cfg.wavelength_m,
                            layers=cfg.layers, gap_m=cfg.gap_m, image_px=cfg.image_px, region_px=cfg.region_px,
                            region_spacing_px=cfg.region_spacing_px, temperature=cfg.temperature,
                            active_px=cfg.grid_px)



def classifier_arms(cfg: VaccinationConfig) -> list[Arm]:
    arms = []
    for arm, method in zip(ARMS, ("ideal", "noise")):
        def build(method=method):
            return _classifier_task(cfg), None, (vaccine(cfg) if method == "noise" else None)
        tc = TrainConfig(method=method, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.learning_rate,
                         lr_step_epochs=cfg.lr_step_epochs, val_fraction=cfg.val_fraction,
                         eval_batch_size=cfg.eval_batch_size, seed=cfg.seed)
        arms.append(Arm(f"classifier-{arm}", "diffractive", method, build, tc))
    return arms


def misaligned_accuracy(task, images, labels, errors, *, batch_size: int) -> float:
    """Test accuracy of ``task`` built with the misalignment realization ``errors``."""
    correct = 0
    with torch.no_grad():
        for i in range(0, len(labels), batch_size):
            out, _ = task.numeric(task.encode(images[i:i + batch_size]), errors=errors)
            scores = task.scores(task.intensity(out))
            correct += int((scores.argmax(-1) == labels[i:i + batch_size]).sum())
    return correct / len(labels)



def sweep_classifier(cfg: VaccinationConfig, out_dir: Path, data, *, resume: bool) -> dict:
    """Accuracy of both trained classifiers over the misalignment grid:
    ``{arm: [{"factor", "shift_max_m", "axial_max_m", "draws", "accuracy": {mean, std, ...}}]}``."""
    _, _, xt, yt = data
    path = out_dir / "sweep.json"
    done = _load_json(path, resume)
    states = best_states(out_dir, [f"classifier-{a}" for a in ARMS])
    out = {}
    for arm in ARMS:
        task = _classifier_task(cfg)
        task.load_state_dict(states[f"classifier-{arm}"])
        task.eval()

        def measure(li, level, task=task, arm=arm):
            t0 = time.perf_counter()
            accs = []
            for d in range(level["draws"]):
                errors = vaccine(cfg, level["factor"]).sample(cfg.layers, generator=_draw_generator(cfg, li, d))
                accs.append(misaligned_accuracy(task, xt, yt, errors, batch_size=cfg.eval_batch_size))
            row = dict(level, accuracy=_summarise(accs), wall_time_s=time.perf_counter() - t0)
            print(f"[classifier-{arm}] Δ_test = {level['factor']:g}·Δ: accuracy "
                  f"{100 * row['accuracy']['mean']:.2f} ± {100 * row['accuracy']['std']:.2f}% "
                  f"({level['draws']} draws, {row['wall_time_s']:.0f} s)", flush=True)
            return row

        out[arm] = sweep_levels(cfg, f"classifier/{arm}", done, path, measure)
    return out



# -- the experiment -----------------------------------------------------------------------------------
@register("vaccination", "Misalignment vaccination of diffractive networks (Mengu et al., Nanophotonics 2020)",
          VaccinationConfig, runtime={"smoke": "15 s", "cpu": "20 min", "paper": "hours (GPU)"}, scales=SCALES,
          report=("vaccination", "diffusers"))
def run(cfg: VaccinationConfig, out_dir: Path, *, resume: bool = False, runtime: Runtime | None = None) -> dict:
    runtime = runtime or Runtime()
    out_dir = Path(out_dir)
    if runtime.is_main:
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
        records.write_config(out_dir / "config.json", "vaccination", cfg, cfg.seed)
    t_start = time.perf_counter()
    extra_figs, sections, datasets = [], [], {}
    results, crit = {}, {}
    if "classifier" in cfg.network_list:
        data = load_data(cfg.dataset, cfg.n_train, cfg.n_test, cfg.seed)
        results = run_arms(out_dir, classifier_arms(cfg), data, resume=resume, runtime=runtime)
        if runtime.is_main:  # the misalignment sweep is evaluation: rank 0 alone
            curves = sweep_classifier(cfg, out_dir, data, resume=resume)
            crit["classifier"] = criterion(curves)
            fig = curve_figure(curves, out_dir / "figures" / "classifier_accuracy_vs_misalignment.png",
                               pitch_m=cfg.pitch_m, shift_px=cfg.shift_max_px, axial_m=cfg.axial_max_m,
                               metric="accuracy", ylabel="test accuracy (%)",
                               title="D2NN classifier under random 3-D layer misalignment")
            extra_figs.append(("classifier: accuracy vs test misalignment (mean ± std over draws)", fig.name))
            for arm in ARMS:
                datasets[f"classifier/{arm}/test_factor"] = ([r["factor"] for r in curves[arm]], "1 (Δ_test / Δ)")
                datasets[f"classifier/{arm}/shift_max"] = ([r["shift_max_m"] for r in curves[arm]], "m")
                datasets[f"classifier/{arm}/gap_max"] = ([r["axial_max_m"] for r in curves[arm]], "m")
                datasets[f"classifier/{arm}/accuracy_mean"] = ([r["accuracy"]["mean"] for r in curves[arm]], "1")
                datasets[f"classifier/{arm}/accuracy_std"] = ([r["accuracy"]["std"] for r in curves[arm]],
                                                              "1 (std over draws)")
                for r in curves[arm]:
                    datasets[f"classifier/{arm}/accuracy_draws/{r['factor']:g}"] = (r["accuracy"]["values"], "1")
                results[f"classifier-{arm}"]["misalignment"] = curves[arm]
            sections.append("## Classifier: accuracy vs test misalignment\n\n"
                            + _curve_table(curves, "accuracy", "accuracy (%)", 100.0) + "\n\n"
                            + _criterion_text(crit["classifier"], "classifier", "test accuracy") + "\n")
    if "imaging" in cfg.network_list:
        img = run_imaging(cfg, out_dir, resume=resume, runtime=runtime)
        if not runtime.is_main:
            return {}
        extra_figs += img["figures"]
        sections.append(img["section"])
        datasets.update(img["datasets"])
        crit["imaging"] = img["criterion"]
        results.update(img["results"])
    if not runtime.is_main:
        return {}
    intro = _intro(cfg)
    extra = "\n" + "\n".join(sections) + _notes(cfg)
    title = "vaccination: misalignment-resilient diffractive networks"
    cls = {k: v for k, v in results.items() if k.startswith("classifier-")}
    if cls:
        summary = write_study_record(out_dir, "vaccination", cfg, cls, title=title, intro=intro,
                                     extra_figures=extra_figs, extra_sections=extra, extra_datasets=datasets)
    else:
        summary = _write_plain_record(out_dir, cfg, title=title, intro=intro, figs=extra_figs, extra=extra,
                                      datasets=datasets)
    for k, v in results.items():
        if k.startswith("imaging-"):
            summary[k] = {kk: vv for kk, vv in v.items() if kk != "history"}
    if "imaging" in cfg.network_list:  # model.pt: classifier states (if any) and the imaging phases
        model = torch.load(out_dir / "model.pt", weights_only=True) if cls else {}
        model.update({f"imaging-{arm}": {"phase": ph} for arm, ph in img["phases"].items()})
        records.atomic_torch_save(model, out_dir / "model.pt")
    summary["criterion"] = crit
    summary["wall_time_total_s"] = time.perf_counter() - t_start
    records.atomic_text(out_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


def _write_plain_record(out_dir: Path, cfg, *, title: str, intro: str, figs, extra: str, datasets: dict) -> dict:
    """results.h5 and report.md when no classifier arm ran (imaging only)."""
    records.write_results(out_dir / "results.h5", attrs={
        "experiment": "vaccination", "seed": cfg.seed, "config": asdict(cfg), "versions": records.versions(),
        "units": "PCC dimensionless; lengths m; times s"}, datasets=datasets)
    records.atomic_torch_save({}, out_dir / "model.pt")
    fig_md = "\n".join(f"![{cap}](figures/{fn})" for cap, fn in figs)
    records.atomic_text(out_dir / "report.md", f"# {title}\n\n{intro}\n{extra}\n## Figures\n\n{fig_md}\n\n"
                                       f"## Configuration\n\n```json\n{json.dumps(asdict(cfg), indent=2)}\n```\n")
    return {}


