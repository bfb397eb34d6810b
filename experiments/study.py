"""Shared machinery of the classification experiments: build tasks, train several *arms*
(a model family × a training method), evaluate each on the error-free model and on the
physical system, and write the run record (results.h5, figures, report.md).

Arms run one after another; each has its own checkpoint and a finished arm is recorded in
``progress.json``, so ``--resume`` continues an interrupted study where it stopped.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from optics import FreeSpace, Grid, OpticalSystem, PhaseMask
from optics.functional import ten_region_layout
from photonics import MeshNetwork
from training import DiffractiveTask, MeshTask, TrainConfig, Trainer, evaluate, load_dataset, subset
from training.baselines import count_parameters

from . import figures, records

__all__ = ["Arm", "load_data", "mesh_task", "diffractive_task", "run_arms", "write_study_record"]


@dataclass
class Arm:
    """One training run: ``build()`` returns ``(task, physical or None, error_model or None)``."""

    label: str
    family: str
    method: str
    build: Callable
    config: TrainConfig


def load_data(dataset: str, n_train: int, n_test: int, seed: int):
    """Float images in [0, 1] and labels: a stratified training subset and the first test images."""
    x, y = load_dataset(dataset, "train")
    xt, yt = load_dataset(dataset, "test")
    if n_train < len(y):
        x, y = subset(x, y, n_train, generator=torch.Generator().manual_seed(seed))
    xt, yt = xt[:n_test], yt[:n_test]
    return x.float() / 255, y, xt.float() / 255, yt


def mesh_task(*, modes: int = 64, meshes: int = 3, classes: int = 10, seed: int = 0) -> MeshTask:
    crop = int(round(math.sqrt(modes)))
    if crop * crop != modes:
        raise ValueError(f"modes must be a square number (Fourier crop side²), got {modes}")
    net = MeshNetwork(modes, meshes, n_classes=classes, generator=torch.Generator().manual_seed(seed))
    return MeshTask(net, crop=crop)


def diffractive_task(*, grid_px: int, pitch_m: float, wavelength_m: float, layers: int, gap_m: float,
                     image_px: int, region_px: int, region_spacing_px: int, temperature: float = 10.0,
                     active_px: int | None = None) -> DiffractiveTask:
    grid = Grid(grid_px, pitch_m)
    parts = []
    for _ in range(layers):
        parts += [PhaseMask(grid, active_shape=active_px), FreeSpace(grid, wavelength_m, gap_m)]
    regions, _ = ten_region_layout(grid, size=region_px * pitch_m, spacing=region_spacing_px * pitch_m)
    return DiffractiveTask(OpticalSystem(*parts), regions, wavelength_m, image_px=image_px, temperature=temperature)


def _atomic_json(path: Path, payload) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)


def run_arms(out_dir: Path, arms: list[Arm], data, *, resume: bool, progress: bool = True) -> dict:
    """Train and evaluate every arm; returns ``results[label]`` dicts (JSON-able)."""
    x, y, xt, yt = data
    ckpt_dir = out_dir / "checkpoints"
    ckpt_dir.mkdir(exist_ok=True)
    prog_path = out_dir / "progress.json"
    done = json.loads(prog_path.read_text()) if (resume and prog_path.exists()) else {}
    results = {}
    states = {}
    for i, arm in enumerate(arms):
        if arm.label in done:
            results[arm.label] = done[arm.label]
            print(f"[{arm.label}] already finished (resumed)")
            continue
        print(f"[{i + 1}/{len(arms)}] {arm.label}: family {arm.family}, method {arm.method}", flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        task, physical, error_model = arm.build()
        trainer = Trainer(task, arm.config, physical=physical, error_model=error_model)
        fit = trainer.fit(x, y, checkpoint=ckpt_dir / f"{arm.label}.pt", resume=resume, progress=progress)
        trainer.load_best()
        numeric = evaluate(task, xt, yt, batch_size=arm.config.eval_batch_size)
        r = {"family": arm.family, "method": arm.method, "numeric_accuracy": numeric["accuracy"],
             "best_epoch": fit["best_epoch"], "best_val_accuracy": fit["best_val_accuracy"],
             "history": fit["history"], "queries_train": fit["queries"]["train"],
             "queries_validation": fit["queries"]["validation"],
             "pnn_real_parameters": count_parameters(task.device_model, real=True),
             "sepn_real_parameters": (sum(s.n_real_parameters() for s in trainer.sepns)
                                      if trainer.sepns is not None else 0),
             "confusion_numeric": numeric["confusion"].tolist()}
        if physical is not None:
            physical.load_parameters(task.device_model.state_dict())
            before = physical.queries
            phys = evaluate(task, xt, yt, physical=physical, batch_size=arm.config.eval_batch_size)
            r["physical_accuracy"] = phys["accuracy"]
            r["queries_test"] = physical.queries - before
            r["confusion_physical"] = phys["confusion"].tolist()
            if not _has(out_dir / "errors.h5", arm.family):  # one hidden realization per family
                physical.save_errors(out_dir / "errors.h5", name=arm.family)
        r["wall_time_s"] = time.perf_counter() - t0
        # CPU seconds of this process, all threads: on a shared machine the wall time grows
        # with the load, this does not (≈ threads × wall time when the machine is idle)
        r["cpu_time_s"] = time.process_time() - c0
        results[arm.label] = r
        states[arm.label] = task.state_dict()
        records.atomic_torch_save(task.state_dict(), ckpt_dir / f"{arm.label}.best.pt")
        done[arm.label] = r
        _atomic_json(prog_path, done)
        acc = r.get("physical_accuracy")
        print(f"[{arm.label}] test accuracy: numerical {100 * r['numeric_accuracy']:.2f}%"
              + (f", physical {100 * acc:.2f}%" if acc is not None else "")
              + f" ({r['wall_time_s']:.0f} s)", flush=True)
    return results


def _has(path: Path, name: str) -> bool:
    import h5py

    if not path.exists():
        return False
    with h5py.File(path, "r") as f:
        return name in f


def best_states(out_dir: Path, labels) -> dict:
    """The saved validation-selected state of every arm."""
    return {k: torch.load(out_dir / "checkpoints" / f"{k}.best.pt", map_location="cpu", weights_only=False)
            for k in labels}


def write_study_record(out_dir: Path, name: str, cfg, results: dict, *, title: str, intro: str,
                       extra_figures: list[tuple[str, str]] = (), extra_sections: str = "",
                       extra_datasets: dict | None = None) -> dict:
    """Figures, results.h5, model.pt, summary.json and report.md for a finished study."""
    from dataclasses import asdict

    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    figs = [("learning curves", figures.learning_curves({k: v["history"] for k, v in results.items()},
                                                        fig_dir / "learning_curves.png", title=title).name)]
    conf = {k: v.get("confusion_physical", v["confusion_numeric"]) for k, v in results.items()}
    figs.append(("confusion matrices (physical system where measured)",
                 figures.confusion_matrices(conf, fig_dir / "confusion.png", title=title).name))
    if any("physical_accuracy" in v for v in results.values()):
        bars = {k: {"numeric_accuracy": v["numeric_accuracy"], "physical_accuracy": v.get("physical_accuracy", 0.0)}
                for k, v in results.items()}
        figs.append(("accuracy by method", figures.accuracy_bars(bars, fig_dir / "accuracy.png", title=title).name))
    figs += list(extra_figures)
    datasets = {}
    for k, v in results.items():
        datasets[f"{k}/val_accuracy"] = ([h["val_accuracy"] for h in v["history"]], "1")
        datasets[f"{k}/train_loss"] = ([h["loss"] for h in v["history"]], "1 (cross-entropy)")
        datasets[f"{k}/confusion"] = (torch.tensor(conf[k]), "count (rows true, columns predicted)")
    datasets.update(extra_datasets or {})
    summary = {k: {kk: vv for kk, vv in v.items() if not kk.startswith("confusion") and kk != "history"}
               for k, v in results.items()}
    records.write_results(out_dir / "results.h5", attrs={
        "experiment": name, "seed": cfg.seed, "config": asdict(cfg), "versions": records.versions(),
        "summary": summary, "units": "accuracies are fractions; times in s; queries are physical forward calls",
    }, datasets=datasets)
    records.atomic_torch_save(best_states(out_dir, results), out_dir / "model.pt")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    rows = []
    for k, v in results.items():
        phys = v.get("physical_accuracy")
        rows.append(f"| {k} | {v['method']} | {100 * v['numeric_accuracy']:.2f} | "
                    f"{'–' if phys is None else f'{100 * phys:.2f}'} | {v['best_epoch']} | {v['queries_train']} | "
                    f"{v['pnn_real_parameters']:,} | {v['sepn_real_parameters']:,} | {v['wall_time_s']:.0f} |")
    table = "\n".join(rows)
    fig_md = "\n".join(f"![{cap}](figures/{fn})" for cap, fn in figs)
    text = f"""# {title}

{intro}

## Results (test set)

| arm | method | numerical model (%) | physical system (%) | selected epoch | physical queries (training) | PNN parameters (real) | SEPN parameters (real) | wall time (s) |
|---|---|---|---|---|---|---|---|---|
{table}

"Numerical model" is the error-free simulation of the trained parameters; "physical system" is
the same parameters on the simulated hardware with its hidden systematic errors (what a user
deploys). The epoch is selected on a held-out validation split (physical when a physical system
is given), never on the test set. SEPNs are discarded at deployment.
{extra_sections}
## Figures

{fig_md}

## Configuration

```json
{json.dumps(asdict(cfg), indent=2)}
```

Files: `config.json`, `results.h5` (units as attributes), `model.pt` (selected parameters of every
arm), `errors.h5` (the hidden error realizations, for the record), `summary.json`.
"""
    (out_dir / "report.md").write_text(text)
    return summary
