"""diffuser-study — the training-strategy analysis of Li et al., IEEE JSTQE 2023
(arXiv:2205.00428; docs/references.md#diffusers) on the ``diffuser-imaging`` network:

* **diffusers per epoch n**: PCC on the last epoch's known diffusers and on new ones vs n
  (published: larger n -> smaller known/new gap, less overfitting to known diffusers);
* **depth**: PCC vs the number of layers (published: more layers generalise better to new
  diffusers);
* **correlation length**: networks trained on diffusers of one σ (and one trained on a mix of
  σ) tested on new diffusers of every σ (cross matrix), and the fidelity (PCC without a
  diffuser) vs distortion-removal (PCC through new diffusers) trade-off.

Every sweep point is its own sub-run in ``points/<key>/`` (training checkpoint per epoch);
finished points are recorded in ``progress.json`` and skipped on ``--resume``. Points with
identical settings (the base point appears in every sweep) are trained once.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from training import records
from training.records import markdown_table

from .._methods import parse_list
from training import figures  # (importing figures selects the Agg backend, before pyplot)

import matplotlib.pyplot as plt  # noqa: E402
from .imaging import (ImagingConfig, encode_objects, evaluate_pcc, load_objects,  # noqa: E402
                               new_diffusers, region_key)
from ..registry import register  # noqa: E402

__all__ = ["StudyConfig", "SCALES", "sweep_points", "run"]


@dataclass(frozen=True)
class StudyConfig(ImagingConfig):
    """``ImagingConfig`` (its ``diffusers_per_epoch``, ``layers`` and
    ``diffuser_sigma_lambda`` are the base point) plus the sweeps (comma lists; empty skips)."""

    n_sweep: str = "1,10,15,20"
    """diffusers per epoch of the points of the n sweep, comma-separated; empty skips [count]"""
    depth_sweep: str = "2,4,5"  # phase layers of the points of the depth sweep, comma-separated; empty skips [count]
    sigma_train: str = "2,4,6"  # correlation length of the single-σ training points, comma-separated [wavelengths]
    sigma_mix_train: str = "2,4,6"  # one point trained on this mix of correlation lengths; empty skips [wavelengths]
    sigma_test: str = "2,4,6"  # correlation lengths of the new test diffusers, comma-separated [wavelengths]


# cpu: the diffuser-imaging cpu geometry (120² at 0.3 mm, object 80 px, lr 0.03); 200
# training objects, 5 epochs, n ∈ {1, 4, 8} (base 8), 8 new diffusers per test σ, 60 test objects.
SCALES = {
    "smoke": dict(grid_px=32, object_px=20, layers=2, diffusers_per_epoch=2, n_train=4, epochs=1, n_test=2,
                  n_new_diffusers=1, n_val=2, n_val_new=1, eval_batch=4, n_sweep="1,2", depth_sweep="1,2",
                  sigma_train="4", sigma_mix_train="2,4", sigma_test="2,4"),
    "cpu": dict(grid_px=120, object_px=80, lr=0.03, diffusers_per_epoch=8, n_train=200, epochs=5, n_test=60,
                n_new_diffusers=8, n_val=16, n_val_new=2, eval_batch=8, n_sweep="1,4,8", depth_sweep="2,4,5"),
    "paper": dict(),
}


def sweep_points(cfg: StudyConfig) -> tuple[dict, dict]:
    """``(points, sweeps)``: ``points[key] = ImagingConfig``; ``sweeps[name] = [(value, key)]``."""
    base = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(ImagingConfig)}
    points, sweeps = {}, {"n": [], "depth": [], "sigma": [], "mix": []}

    def add(sweep, value, **over):
        c = ImagingConfig(**{**base, **over})
        key = (f"n{c.diffusers_per_epoch}-L{c.layers}-s{c.diffuser_sigma_lambda:g}"
               + (f"-mix{c.diffuser_sigma_mix.replace(',', '_')}" if c.diffuser_sigma_mix else ""))
        points.setdefault(key, c)
        sweeps[sweep].append((value, key))

    for n in parse_list(cfg.n_sweep, int, name="n_sweep"):
        add("n", n, diffusers_per_epoch=n)
    for layers in parse_list(cfg.depth_sweep, int, name="depth_sweep"):
        add("depth", layers, layers=layers)
    for s in parse_list(cfg.sigma_train, name="sigma_train"):
        add("sigma", s, diffuser_sigma_lambda=s)
    if cfg.sigma_mix_train.strip():
        add("mix", cfg.sigma_mix_train, diffuser_sigma_mix=cfg.sigma_mix_train)
    return points, sweeps


def _evaluate_point(c: ImagingConfig, model, known, objects, sigma_test) -> dict:
    """Every PCC of a point in the three regions: ``pcc_<what>`` over the central square (the
    loss's region) and ``pcc_<what>_support`` / ``pcc_<what>_canvas`` over the other two."""
    r = {}

    def put(name, diffusers):
        for reg, v in evaluate_pcc(model, objects, diffusers, region="all").items():
            r[region_key(name, reg)] = v

    put("pcc_known", known)
    put("pcc_none", None)
    for k, s in enumerate(sigma_test):
        # the same new diffusers for every point (stream depends on σ only)
        put(f"pcc_new_s{s:g}", new_diffusers(c, c.n_new_diffusers, sigma_lambda=s, stream=100 + k))
    own = c.diffuser_sigma_lambda
    if f"pcc_new_s{own:g}" not in r:
        put(f"pcc_new_s{own:g}", new_diffusers(c, c.n_new_diffusers, stream=99))
    for reg in ("", "_support", "_canvas"):
        r[f"pcc_new_own{reg}"] = r[f"pcc_new_s{own:g}{reg}"]
        r[f"gap_known_minus_new{reg}"] = r[f"pcc_known{reg}"] - r[f"pcc_new_own{reg}"]
    return r


@register("diffuser-study", "Diffuser-imaging training strategies: n, depth, correlation length (JSTQE 2023)",
          StudyConfig, runtime={"smoke": "10 s", "cpu": "≈40 min (8 points of 200 objects × 5 epochs, resumable)",
                                "paper": "GPU: ≈10 full diffuser-imaging trainings"}, scales=SCALES,
          report="diffusers")
def run(cfg: StudyConfig, out_dir: Path, *, resume: bool = False, runtime=None) -> dict:
    from .imaging import train_imaging

    if runtime is not None and runtime.ctx.distributed:
        raise ValueError("diffuser-study trains its points one after another in one process; run it without "
                         "torchrun (diffuser-imaging itself runs data-parallel)")

    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    records.write_config(out_dir / "config.json", "diffuser-study", cfg, cfg.seed)
    points, sweeps = sweep_points(cfg)
    sigma_test = parse_list(cfg.sigma_test, name="sigma_test")
    prog_path = out_dir / "progress.json"
    done = records.read_json(prog_path, what="progress record", default={}) if resume else {}
    objects = encode_objects(cfg, load_objects(cfg, "test", cfg.n_test))
    states = {}
    for i, (key, c) in enumerate(points.items()):
        if key in done:
            print(f"[{key}] already finished (resumed)", flush=True)
            continue
        print(f"[{i + 1}/{len(points)}] {key}", flush=True)
        t0 = time.perf_counter()
        tr = train_imaging(c, out_dir / "points" / key, resume=resume, runtime=runtime)
        r = _evaluate_point(c, tr["model"], tr["known_diffusers"], objects, sigma_test)
        r.update(history=tr["history"], train_wall_time_s=tr["wall_time_s"],
                 wall_time_s=time.perf_counter() - t0, config=dataclasses.asdict(c))
        records.atomic_torch_save(tr["model"].phase.detach(), out_dir / "points" / key / "phase.pt")
        done[key] = r
        records.atomic_json(prog_path, done)
        print(f"[{key}] PCC known {r['pcc_known']:.4f}, new {r['pcc_new_own']:.4f}, none {r['pcc_none']:.4f} "
              f"({r['wall_time_s']:.0f} s)", flush=True)
    for key in points:
        states[key] = torch.load(out_dir / "points" / key / "phase.pt", weights_only=True)
    return _write_record(cfg, out_dir, done, sweeps, sigma_test, states)


# -- record ----------------------------------------------------------------------------
def _save(fig, path) -> str:
    return figures.save(fig, path).name


def _trend(ax, sweep, res, xlabel):
    xs = [v for v, _ in sweep]
    ax.plot(xs, [res[k]["pcc_known"] for _, k in sweep], "o-", label="known (last epoch's)")
    ax.plot(xs, [res[k]["pcc_new_own"] for _, k in sweep], "s-", label="new")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean PCC")
    ax.set_xticks(xs)
    ax.legend(fontsize=8)


def _figures(cfg, out_dir, res, sweeps, sigma_test) -> list[tuple[str, str]]:
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    figs = []
    if sweeps["n"]:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
        _trend(a1, sweeps["n"], res, "diffusers per epoch n")
        xs = [v for v, _ in sweeps["n"]]
        a2.plot(xs, [res[k]["gap_known_minus_new"] for _, k in sweeps["n"]], "o-", color="tab:red")
        a2.axhline(0, color="k", lw=0.5)
        a2.set_xlabel("diffusers per epoch n")
        a2.set_ylabel("PCC gap known − new")
        a2.set_xticks(xs)
        fig.suptitle("PCC vs n (JSTQE 2023: larger n, smaller gap)")
        figs.append(("PCC vs n", _save(fig, fig_dir / "pcc_vs_n.png")))
    if sweeps["depth"]:
        fig, ax = plt.subplots(figsize=(4.8, 3.4))
        _trend(ax, sweeps["depth"], res, "phase layers")
        ax.set_title("PCC vs depth (JSTQE 2023: deeper, better on new)", fontsize=9)
        figs.append(("PCC vs depth", _save(fig, fig_dir / "pcc_vs_depth.png")))
    rows = sweeps["sigma"] + sweeps["mix"]
    if rows:
        mat = [[res[k][f"pcc_new_s{s:g}"] for s in sigma_test] for _, k in rows]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
        im = a1.imshow(mat, cmap="viridis")
        for i, row in enumerate(mat):
            for j, v in enumerate(row):
                a1.text(j, i, f"{v:.3f}", ha="center", va="center", color="w", fontsize=8)
        a1.set_xticks(range(len(sigma_test)))
        a1.set_xticklabels([f"{s:g}λ" for s in sigma_test])
        a1.set_yticks(range(len(rows)))
        a1.set_yticklabels([f"train {v}λ" if isinstance(v, float) else f"train mix {v} λ" for v, _ in rows])
        a1.set_xlabel("test diffuser σ (new diffusers)")
        fig.colorbar(im, ax=a1, label="mean PCC")
        for v, k in rows:
            own = res[k]["pcc_new_own"]
            a2.plot(res[k]["pcc_none"], own, "o")
            a2.annotate(f"{v}λ" if isinstance(v, float) else f"mix {v}", (res[k]["pcc_none"], own), fontsize=8)
        a2.set_xlabel("fidelity: PCC without diffuser")
        a2.set_ylabel("PCC through new diffusers (training σ)")
        fig.suptitle("correlation length: cross-generalisation and fidelity vs distortion")
        figs.append(("σ cross-generalisation", _save(fig, fig_dir / "sigma_cross.png")))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for k, r in res.items():
        ax.plot([h["epoch"] for h in r["history"]], [h["val_pcc_new"] for h in r["history"]], "o-", ms=3, label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel("val PCC, new diffusers")
    ax.legend(fontsize=6)
    figs.append(("learning curves", _save(fig, fig_dir / "learning_curves.png")))
    return figs


def _write_record(cfg, out_dir, res, sweeps, sigma_test, states) -> dict:
    figs = _figures(cfg, out_dir, res, sweeps, sigma_test)
    summary = {"points": {k: {kk: vv for kk, vv in v.items() if kk not in ("history", "config")}
                          for k, v in res.items()},
               "sweeps": {name: [[v, k] for v, k in sw] for name, sw in sweeps.items()},
               "sigma_test": sigma_test}
    datasets = {}
    for k, v in res.items():
        datasets[f"{k}/val_pcc_new"] = ([h["val_pcc_new"] for h in v["history"]], "1")
        datasets[f"{k}/val_pcc_known"] = ([h["val_pcc_known"] for h in v["history"]], "1")
        datasets[f"{k}/phase"] = (states[k], "rad")
    records.write_results(out_dir / "results.h5", attrs={
        "experiment": "diffuser-study", "seed": cfg.seed, "config": dataclasses.asdict(cfg),
        "versions": records.versions(), "summary": summary,
        "units": "PCC dimensionless (object region); σ in wavelengths; times s"}, datasets=datasets)
    records.atomic_torch_save(states, out_dir / "model.pt")
    records.atomic_text(out_dir / "summary.json", json.dumps(summary, indent=2))

    def table(name, label):
        return markdown_table([label, "PCC known", "PCC new", "gap", "PCC no diffuser", "train time (s)"],
                              [[v, f"{res[k]['pcc_known']:.4f}", f"{res[k]['pcc_new_own']:.4f}",
                                f"{res[k]['gap_known_minus_new']:+.4f}", f"{res[k]['pcc_none']:.4f}",
                                f"{res[k]['train_wall_time_s']:.0f}"] for v, k in sweeps[name]])

    cross = markdown_table(["train σ/λ", *(f"test {s:g}" for s in sigma_test), "no diffuser"],
                           [[v, *(f"{res[k][f'pcc_new_s{s:g}']:.4f}" for s in sigma_test), f"{res[k]['pcc_none']:.4f}"]
                            for v, k in sweeps["sigma"] + sweeps["mix"]])
    fig_md = "\n".join(f"![{c}](figures/{f})" for c, f in figs)
    text = f"""# diffuser-study

Training strategies for imaging through random diffusers (Li et al., IEEE JSTQE 29, 2023)
on the diffuser-imaging network ({cfg.grid_px}² layers at {cfg.pitch_m * 1e3:.2f} mm, {cfg.n_train} training
objects, {cfg.epochs} epochs, lr {cfg.lr:g}). Base point: n = {cfg.diffusers_per_epoch}, {cfg.layers} layers,
σ = {cfg.diffuser_sigma_lambda:g}λ. PCC over the central {cfg.object_px}² object region, {cfg.n_test} test objects;
"new" = {cfg.n_new_diffusers} new diffusers of the training σ; "known" = the last epoch's n diffusers.

## Diffusers per epoch

{table("n", "n")}

## Depth

{table("depth", "layers")}

## Correlation length (rows: training σ/λ; columns: test σ/λ, new diffusers)

{cross}

## Figures

{fig_md}

## Configuration

```json
{json.dumps(dataclasses.asdict(cfg), indent=2)}
```

Files: `progress.json` (every point's numbers and learning curve), `points/<key>/` (checkpoints),
`results.h5`, `model.pt` (phases of every point), `summary.json`.
"""
    records.atomic_text(out_dir / "report.md", text)
    return summary
