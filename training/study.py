"""Studies: train several *arms* (a model family × a training method) with :class:`Trainer`,
evaluate each on the error-free model and on the physical system, and write the run record
(results.h5, figures, report.md). The classification experiments of ``experiments/`` are
studies; so is a user's own comparison of methods.

Arms run one after another; each has its own checkpoint and a finished arm is recorded in
``progress.json``, so a resumed study continues where it stopped (every recorded file is
verified first). Under torchrun every rank trains and evaluates its shards; rank 0 alone
writes. The figures need matplotlib (``onnsim[experiments]``), imported only when a record is
written.
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

from . import records
from .baselines import count_parameters
from .checkpoint import (CheckpointError, atomic_json, atomic_torch_save, atomic_write, read_json, read_torch, sha256,
                         verify)
from .data import load_dataset, subset
from .runtime import Interrupted, Runtime
from .tasks import DiffractiveTask, LinMseTask, MeshTask
from .metrics import evaluate
from .trainer import TrainConfig, Trainer

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
    """Float images in [0, 1] and labels: a stratified training subset and the first test images.

    Asking for more images than the dataset holds is an error (never a silent clamp)."""
    x, y = load_dataset(dataset, "train")
    xt, yt = load_dataset(dataset, "test")
    for name, n, have, split in (("n_train", n_train, len(y), "training"), ("n_test", n_test, len(yt), "test")):
        if not 1 <= n <= have:
            raise ValueError(f"--{name.replace('_', '-')} must lie in [1, {have}] ({dataset} has {have} {split} "
                             f"images), got {n}")
    if n_train < len(y):
        x, y = subset(x, y, n_train, generator=torch.Generator().manual_seed(seed))
    xt, yt = xt[:n_test], yt[:n_test]
    return x.float() / 255, y, xt.float() / 255, yt


def mesh_task(*, modes: int = 64, meshes: int = 3, classes: int = 10, seed: int = 0,
              wrap_around: bool = False) -> MeshTask:
    crop = int(round(math.sqrt(modes)))
    if crop * crop != modes:
        raise ValueError(f"modes must be a square number (Fourier crop side²), got {modes}")
    net = MeshNetwork(modes, meshes, n_classes=classes, wrap_around=wrap_around,
                      generator=torch.Generator().manual_seed(seed))
    return MeshTask(net, crop=crop)


def diffractive_task(*, grid_px: int, pitch_m: float, wavelength_m: float, layers: int, gap_m: float,
                     image_px: int, region_px: int, region_spacing_px: int, temperature: float = 10.0,
                     active_px: int | None = None, input_gap_m: float = 0.0, phase_init_rad: float = 0.0,
                     seed: int = 0, loss: str = "ce", mse_scale: str = "output") -> DiffractiveTask:
    """A phase-only diffractive classifier: input plane → ``input_gap_m`` (none when 0) →
    (phase layer → ``gap_m``) × ``layers`` → ten detector regions (3-4-3 rows, squares of
    ``region_px`` at ``region_spacing_px`` centre to centre). Every gap is a band-limited
    angular-spectrum :class:`~optics.FreeSpace` with 2× zero padding per axis (linear
    convolution); nothing exists outside the ``grid_px`` window (the layers' aperture). Lengths
    in m, sizes in pixels of ``pitch_m``.

    The phases start at 0, or uniform in [0, ``phase_init_rad``) rad from a generator seeded by
    ``seed`` (layer after layer, the same on every rank). ``loss``: ``"ce"`` for a
    :class:`DiffractiveTask` (softmax cross-entropy of the detector scores), ``"mse"`` for a
    :class:`LinMseTask` (Lin et al.'s output-plane MSE, its power reference ``mse_scale``).
    """
    if loss not in ("ce", "mse"):
        raise ValueError(f"loss must be 'ce' or 'mse', got {loss!r}")
    if not (math.isfinite(gap_m) and gap_m > 0) or not (math.isfinite(input_gap_m) and input_gap_m >= 0):
        raise ValueError(f"the layer gap must be > 0 m and the input gap ≥ 0 m (light goes forward), got gap_m "
                         f"{gap_m!r}, input_gap_m {input_gap_m!r}")
    grid = Grid(grid_px, pitch_m)
    parts = [FreeSpace(grid, wavelength_m, input_gap_m)] if input_gap_m > 0 else []
    gen = torch.Generator().manual_seed(seed)
    side = grid_px if active_px is None else active_px
    for _ in range(layers):
        init = ("zeros" if phase_init_rad == 0 else
                phase_init_rad * torch.rand(side, side, generator=gen, dtype=torch.float64))
        parts += [PhaseMask(grid, active_shape=active_px, init=init), FreeSpace(grid, wavelength_m, gap_m)]
    regions, _ = ten_region_layout(grid, size=region_px * pitch_m, spacing=region_spacing_px * pitch_m)
    system = OpticalSystem(*parts)
    if loss == "mse":
        return LinMseTask(system, regions, wavelength_m, image_px=image_px, temperature=temperature, scale=mse_scale)
    return DiffractiveTask(system, regions, wavelength_m, image_px=image_px, temperature=temperature)


def _progress(out_dir: Path, resume: bool) -> dict:
    """Finished arms from ``progress.json``, every file they recorded verified first (a resume
    checks all it needs before any training starts)."""
    path = out_dir / "progress.json"
    if not (resume and path.exists()):
        return {}
    done = read_json(path, what="progress record")
    for label, r in done.items():
        for rel, digest in r.get("files", {}).items():
            verify(out_dir / rel, digest)
    last = [r["files_after"] for r in done.values() if "files_after" in r]
    if last:
        for rel, digest in last[-1].items():
            verify(out_dir / rel, digest)
    for ck in sorted((out_dir / "checkpoints").glob("*.pt")):
        if not ck.name.endswith(".best.pt") and ck.with_name(ck.name + ".sha256").exists():
            try:
                verify(ck)
            except CheckpointError:
                prev = ck.with_name(ck.name + ".prev")
                if not prev.exists():
                    raise
                verify(prev)  # the trainer falls back to it
    return done


def run_arms(out_dir: Path, arms: list[Arm], data, *, resume: bool, progress: bool = True,
             runtime: Runtime | None = None, select_on_test: bool = False) -> dict:
    """Train and evaluate every arm; returns ``results[label]`` dicts (JSON-able).

    ``select_on_test``: every training image trains and the epoch is selected on the *test*
    images (``Trainer.fit(val=test)``): the protocol of reference codes that report their best
    test epoch, optimistic by construction; for like-for-like comparisons with such published
    numbers only. Default: a ``val_fraction`` of the training images is held out for selection.

    Under several ranks every rank trains and evaluates its shards; rank 0 alone writes."""
    rt = runtime or Runtime()
    ctx = rt.ctx
    x, y, xt, yt = data
    ckpt_dir = out_dir / "checkpoints"
    if ctx.is_main:
        ckpt_dir.mkdir(exist_ok=True)
    prog_path = out_dir / "progress.json"
    done = _progress(out_dir, resume) if ctx.is_main else {}
    done = ctx.broadcast(done)
    results = {}
    for i, arm in enumerate(arms):
        if arm.label in done:
            results[arm.label] = done[arm.label]
            if ctx.is_main:
                print(f"[{arm.label}] already finished (resumed)")
            continue
        if ctx.is_main:
            print(f"[{i + 1}/{len(arms)}] {arm.label}: family {arm.family}, method {arm.method}", flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        task, physical, error_model = arm.build()
        trainer = Trainer(task, rt.train_config(arm.config), physical=physical, error_model=error_model, ctx=ctx,
                          logger=rt.logger(arm.label))
        f0 = time.perf_counter(), time.process_time()
        fit = trainer.fit(x, y, val=(xt, yt) if select_on_test else None, checkpoint=ckpt_dir / f"{arm.label}.pt",
                          resume=resume,
                          progress=progress and rt.progress, should_stop=rt.should_stop)
        f1 = time.perf_counter(), time.process_time()
        if fit["interrupted"]:
            raise Interrupted()
        last_epoch = fit["history"][-1]["epoch"] if fit["history"] else fit["best_epoch"]
        # the last epoch's parameters, tested too when selection kept another epoch (what a user who
        # trains to the end gets); the selected ones are tested first, so their numbers do not move
        last_state = ({k: v.detach().clone() for k, v in task.state_dict().items()}
                      if physical is not None and fit["best_epoch"] != last_epoch else None)
        trainer.load_best()
        numeric = evaluate(task, xt, yt, batch_size=arm.config.eval_batch_size, ctx=ctx)
        r = {"family": arm.family, "method": arm.method, "numeric_accuracy": numeric["accuracy"],
             "best_epoch": fit["best_epoch"], "best_val_accuracy": fit["best_val_accuracy"],
             "history": fit["history"], "queries_train": fit["queries"]["train"],
             "queries_validation": fit["queries"]["validation"],
             "samples_train": fit["samples"]["train"], "samples_validation": fit["samples"]["validation"],
             "pnn_real_parameters": count_parameters(task.device_model, real=True),
             "sepn_real_parameters": (sum(s.n_real_parameters() for s in trainer.sepns)
                                      if trainer.sepns is not None else 0),
             "confusion_numeric": numeric["confusion"].tolist(), "world_size": ctx.world_size,
             # what the history's val_accuracy measures (PAT/DAT validate on the physical system)
             "validated_on": "physical" if trainer._select_physical() else "numerical",
             "selected_on": "test" if select_on_test else "validation"}
        if physical is not None:
            physical.load_parameters(task.device_model.state_dict())
            before = physical.queries
            phys = evaluate(task, xt, yt, physical=physical, batch_size=arm.config.eval_batch_size, ctx=ctx)
            r["physical_accuracy"] = phys["accuracy"]
            r["queries_test"] = ctx.max(physical.queries - before)
            r["confusion_physical"] = phys["confusion"].tolist()
            r["last_epoch"] = last_epoch
            if last_state is None:  # the selected epoch is the last one
                r["physical_accuracy_last"] = phys["accuracy"]
            else:
                task.load_state_dict(last_state)
                physical.load_parameters(task.device_model.state_dict())
                before = physical.queries
                r["physical_accuracy_last"] = evaluate(task, xt, yt, physical=physical,
                                                       batch_size=arm.config.eval_batch_size, ctx=ctx)["accuracy"]
                r["queries_test_last"] = ctx.max(physical.queries - before)
                trainer.load_best()  # back to the selected parameters (saved below)
            if ctx.is_main and not _has(out_dir / "errors.h5", arm.family):  # one hidden realization per family
                save_errors = physical.save_errors
                atomic_write(out_dir / "errors.h5", lambda p: _copy_and_add(out_dir / "errors.h5", p, save_errors,
                                                                          arm.family))
        # the training over all invocations (a resumed arm counts the time before its stop too) and this
        # invocation's setup and tests. CPU: all threads of all ranks; on a shared machine the wall time
        # grows with the load, this does not (≈ threads × wall time when the machine is idle)
        r["wall_time_s"] = fit["wall_time_s"] + (time.perf_counter() - t0) - (f1[0] - f0[0])
        r["cpu_time_s"] = fit["cpu_time_s"] + ctx.sum((time.process_time() - c0) - (f1[1] - f0[1]))
        results[arm.label] = r
        if ctx.is_main:
            best = ckpt_dir / f"{arm.label}.best.pt"
            atomic_torch_save({k: v.cpu() for k, v in task.state_dict().items()}, best)
            r["files"] = {str(best.relative_to(out_dir)): sha256(best)}
            if (out_dir / "errors.h5").exists():
                r["files_after"] = {"errors.h5": sha256(out_dir / "errors.h5")}
            done[arm.label] = r
            atomic_json(prog_path, done)
            acc = r.get("physical_accuracy")
            print(f"[{arm.label}] test accuracy: numerical {100 * r['numeric_accuracy']:.2f}%"
                  + (f", physical {100 * acc:.2f}%" if acc is not None else "")
                  + f" ({r['wall_time_s']:.0f} s)", flush=True)
        ctx.barrier()
        rt.check_stop()
    return results


def _copy_and_add(existing: Path, tmp: Path, save_errors, name: str) -> None:
    import shutil

    if existing.exists():
        shutil.copyfile(existing, tmp)
    save_errors(tmp, name=name)


def _has(path: Path, name: str) -> bool:
    import h5py

    if not path.exists():
        return False
    try:
        with h5py.File(path, "r") as f:
            return name in f
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read ({exc}); restore it or start again with --overwrite") from None


def best_states(out_dir: Path, labels) -> dict:
    """The saved validation-selected state of every arm."""
    return {k: read_torch(out_dir / "checkpoints" / f"{k}.best.pt") for k in labels}


def _validated_on(result: dict) -> str:
    """For arms recorded before ``validated_on`` existed: the trainer's default (PAT and DAT
    validate on the physical system when there is one)."""
    measured = "physical_accuracy" in result and result["method"].split("-")[0] in ("pat", "dat")
    return "physical" if measured else "numerical"


def write_study_record(out_dir: Path, name: str, cfg, results: dict, *, title: str, intro: str,
                       extra_figures: list[tuple[str, str]] = (), extra_sections: str = "",
                       extra_datasets: dict | None = None, loss: str = "cross-entropy") -> dict:
    """Figures, results.h5, model.pt, summary.json and report.md for a finished study. ``loss``:
    what the arms' training loss is, for the units of ``results.h5`` (``<arm>/train_loss``)."""
    from dataclasses import asdict

    from . import figures  # matplotlib, only when a record is written

    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    validated_on = {k: v.get("validated_on", _validated_on(v)) for k, v in results.items()}
    figs = [("learning curves", figures.learning_curves({k: v["history"] for k, v in results.items()},
                                                        fig_dir / "learning_curves.png", title=title,
                                                        validated_on=validated_on).name)]
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
        datasets[f"{k}/train_loss"] = ([h["loss"] for h in v["history"]], f"1 ({loss})")
        datasets[f"{k}/confusion"] = (torch.tensor(conf[k]), "count (rows true, columns predicted)")
    datasets.update(extra_datasets or {})
    summary = {k: {kk: vv for kk, vv in v.items()
                   if not kk.startswith("confusion") and kk not in ("history", "files", "files_after")}
               for k, v in results.items()}
    records.write_results(out_dir / "results.h5", attrs={
        "experiment": name, "seed": cfg.seed, "config": asdict(cfg), "versions": records.versions(),
        "summary": summary, "units": "accuracies are fractions; times in s; queries are physical forward calls",
    }, datasets=datasets)
    atomic_torch_save(best_states(out_dir, results), out_dir / "model.pt")
    atomic_json(out_dir / "summary.json", summary, indent=2)
    rows = []
    for k, v in results.items():
        phys = v.get("physical_accuracy")
        rows.append([k, v["method"], f"{100 * v['numeric_accuracy']:.2f}", "–" if phys is None else f"{100 * phys:.2f}",
                     v["best_epoch"], v["queries_train"], f"{v['pnn_real_parameters']:,}",
                     f"{v['sepn_real_parameters']:,}", f"{v['wall_time_s']:.0f}"])
    table = records.markdown_table(["arm", "method", "numerical model (%)", "physical system (%)", "selected epoch",
                                    "physical queries (training)", "PNN parameters (real)", "SEPN parameters (real)",
                                    "wall time (s)"], rows)
    fig_md = "\n".join(f"![{cap}](figures/{fn})" for cap, fn in figs)
    text = f"""# {title}

{intro}

## Results (test set)

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
    records.atomic_text(out_dir / "report.md", text)
    return summary
