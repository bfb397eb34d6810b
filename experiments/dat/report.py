"""Generate ``docs/reproduction/dat.md`` from the DAT reproduction runs.

The runs are ordinary ``python -m experiments run dat-mpnn|dat-dpnn`` run directories (made
by ``scripts/reproduce_dat.sh`` under ``runs/repro/``); this module only reads their
``config.json`` and ``progress.json`` (the per-arm results, written as each arm finishes) and
writes the write-up and its figures. Nothing in the write-up is typed by hand except the
published numbers (docs/references.md#dat) and the fixed explanations below::

    python -m experiments report dat runs/repro --out docs/reproduction/dat.md [--direct-seeds N]

``dat-mpnn`` runs with another error seed than the default are *draws*: PAT (or any method)
trained against other hidden error realizations of a level, compared in their own table. Runs in
a folder named ``seeds`` are the initialisation seeds × error draws study of direct deployment
and PAT (``reproduce_dat.sh seeds``), with a table of their own. Runs with ``selection = test``
(``reproduce_dat.sh protocol``: the reference code's best-test-epoch protocol) are set beside the
main table's runs of their level, never in it. Runs in a folder named
``ablation`` (``reproduce_dat.sh ablation``: DAT w/ IS with the SEPN weight 0 for all epochs,
"fusion only") are set beside the main run's DAT arms of the same level.

The runs are read and sorted in :mod:`experiments.dat.runs` (with the published numbers); the
draw and seed sections are :mod:`experiments.dat.spread`; the figures :mod:`experiments.dat.plots`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from training.records import atomic_text, markdown_table

from .._methods import parse_methods
from .runs import (METHODS, PUBLISHED, PUBLISHED_ERROR_FREE, _acc, _expected, _is_ablation, _is_draw, _is_protocol,
                   _is_seed_study, _level, _mesh_runs, _pct, collect, dat_setting, loss_setting,
                   recovery)
from .spread import _draws_text, _seeds_text, _spread_runs, _spread_text, direct_deploy_spread

__all__ = ["PUBLISHED", "Options", "collect", "recovery", "direct_deploy_spread", "write_report"]


def _mesh_table(runs: dict, *, with_costs: bool) -> str:
    header = ["dataset", "bs", "ps", "epochs", "error-free (ours / pub.)",
              *(f"{name} (ours / pub.)" for _, name, _ in METHODS)]
    lines = []
    for (ds, bs, ps), r in sorted(runs.items()):
        pub = PUBLISHED.get((bs, ps), {}).get(ds)
        cells = [ds, f"{bs:.2f}", f"{ps:.2f}", r["config"]["epochs"],
                 f"{_pct(_acc(r, 'mesh-ideal', 'numeric_accuracy'))} / {PUBLISHED_ERROR_FREE.get(ds, '–')}"]
        for label, _, i in METHODS:
            cells.append(f"{_pct(_acc(r, label))} / {pub[i] if pub and i is not None else '–'}")
        lines.append(cells)
    text = markdown_table(header, lines)
    if with_costs:
        rows = []
        for (ds, bs, ps), r in sorted(runs.items()):
            planned = _expected(r["experiment"], r["config"])
            for label, name, _ in METHODS:
                a = r["arms"].get(label)
                if a is None and label not in planned:
                    continue  # a method this run does not train
                if a is None:
                    rows.append([r["name"], name, "not run yet", "", "", ""])
                    continue
                cpu = a.get("cpu_time_s")
                rows.append([r["name"], name, a["best_epoch"], f"{a['wall_time_s'] / 60:.1f}",
                             "–" if cpu is None else f"{cpu / 60:.1f}",
                             f"{a['queries_train']} / {a['queries_validation']} / {a.get('queries_test', '–')}"])
        text += ("\n\nCost per method (queries are physical forward calls of a whole batch):\n\n"
                 + markdown_table(["run", "method", "selected epoch", "wall time (min)", "CPU time (min)",
                                   "physical queries: training / validation / test"], rows))
    return text


def _verdicts(full: dict) -> list[str]:
    out = []
    for (ds, bs, ps), r in sorted(full.items()):
        pub = PUBLISHED.get((bs, ps), {}).get(ds)
        if not pub:
            continue
        ours = {i: _acc(r, lbl) for lbl, _, i in METHODS if i is not None}  # by published column
        if ours[3] is not None:
            ok = 100 * ours[3] >= pub[3]
            out.append(f"- {ds}, bs = {bs}, ps = {ps}: DAT w/ IS {_pct(ours[3])}% vs published {pub[3]}% — "
                       + ("meets the published value." if ok else
                          f"**{pub[3] - 100 * ours[3]:.1f} points below** the published value."))
        for i, name in ((0, "direct"), (1, "PAT")):
            if ours[i] is not None:
                d = 100 * ours[i] - pub[i]
                out.append(f"- {ds}, bs = {bs}, ps = {ps}: {name} {_pct(ours[i])}% vs published {pub[i]}% "
                           f"({d:+.1f} points; the criterion is ±4) — {'within' if abs(d) <= 4 else '**outside**'}.")
    return out


def _reduced_checks(reduced: dict) -> str:
    """Direct and PAT of the reduced rows against the published values (±4 points)."""
    n_ok, lines = {"direct": 0, "PAT": 0}, {"direct": [], "PAT": []}
    for (ds, bs, ps), r in sorted(reduced.items()):
        pub = PUBLISHED.get((bs, ps), {}).get(ds)
        for label, name, i in METHODS[:2]:
            acc = _acc(r, label)
            if pub and acc is not None:
                d = 100 * acc - pub[i]
                n_ok[name] += abs(d) <= 4
                lines[name].append(f"{ds} {bs}/{ps}: {d:+.1f}")
    parts = [f"{name} within ±4 points of the published value at {n_ok[name]} of {len(v)} levels "
             f"({'; '.join(v)})" for name, v in lines.items() if v]
    return ("- " + "\n- ".join(parts) + " (ours − published, points).\n\n") if parts else ""


def _dynamics(full: dict) -> str:
    """Best vs last validation accuracy of each full-scale arm (training stability)."""
    lines = []
    for (ds, bs, ps), r in sorted(full.items()):
        for label, name, _ in METHODS:
            hist = r["arms"].get(label, {}).get("history")
            if not hist:
                continue
            arm = r["arms"][label]
            lines.append([ds, bs, ps, name, *_best_last(hist), _late_low(hist), _after_best(hist),
                          _pct(arm.get("physical_accuracy")), _pct(arm.get("physical_accuracy_last"))])
    if not lines:
        return ""
    return ("Validation accuracy (physical for PAT and DAT, numerical for direct deployment), best epoch vs "
            "last epoch (the gap is what validation-based selection protects against), and the physical test "
            "accuracy of the selected epoch and of the last one (what a user who trains to the end gets; "
            "\"–\" for runs recorded before it was measured). \"Epochs 30–50\": the lowest validation accuracy over "
            "those epochs and how far it lies below the arm's best (a network that holds its peak stays within 1 "
            "point); \"after the best epoch\": the lowest validation accuracy after the best one and how far "
            "below it, the drift itself (a run still climbing at epoch 50 has none, though its 30–50 window "
            "starts lower):\n\n"
            + markdown_table(["dataset", "bs", "ps", "method", "best validation (%)", "last validation (%)",
                              "epochs 30–50: lowest (%)", "after the best epoch: lowest (%)", "selected: test (%)",
                              "last epoch: test (%)"], lines) + "\n\n")


DPNN_LABELS = (("diffractive-pat", "PAT"), ("diffractive-pat-field", "PAT-field"), ("diffractive-dat", "DAT w/o IS"),
               ("diffractive-dat-is", "DAT w/ IS"))


def _dpnn_table(runs) -> tuple[str, list[str]]:
    rows = []
    verdicts = []
    for r in runs:
        if r["experiment"] != "dat-dpnn":
            continue
        free = _acc(r, "diffractive-ideal", "numeric_accuracy")
        direct = _acc(r, "diffractive-ideal")
        cells = [r["name"], f"`{r['config']['preset']}`", _pct(free), _pct(direct)]
        cells += [_pct(_acc(r, lbl)) for lbl, _ in DPNN_LABELS]
        dat, pat = _acc(r, "diffractive-dat-is"), _acc(r, "diffractive-pat")
        rec = recovery(free, direct, dat) if None not in (free, direct, dat) else None
        cells.append("–" if rec is None or math.isnan(rec) else f"{100 * rec:.0f}%")
        wall = sum(a.get("wall_time_s", 0) for a in r["arms"].values()) / 60
        cells.append(f"{wall:.1f}")
        rows.append(cells)
        if r["name"].endswith("joint") and rec is not None and pat is not None:
            verdicts.append(f"- joint errors: DAT w/ IS recovers {100 * rec:.0f}% of the accuracy lost by direct "
                            f"deployment (criterion ≥ 70%: {'met' if rec >= 0.7 else '**not met**'}) and "
                            f"{'beats' if dat > pat else '**does not beat**'} PAT ({_pct(dat)}% vs {_pct(pat)}%).")
    header = ["run", "error preset", "error-free", "direct", *(n for _, n in DPNN_LABELS), "recovered by DAT w/ IS",
              "wall time (min)"]
    return markdown_table(header, rows), verdicts


def _best_last(hist: list[dict]) -> list[str]:
    """The best and the last validation accuracy of a history, each with its epoch."""
    best = max(hist, key=lambda h: h["val_accuracy"])
    return [f"{100 * h['val_accuracy']:.1f} (epoch {h['epoch']})" for h in (best, hist[-1])]


def _late_low(hist: list[dict], first: int = 30) -> str:
    """The lowest validation accuracy from epoch ``first`` on and how far it lies below the
    run's peak (any epoch): the "holds its peak" check, within 1 point; "–" for histories
    shorter than 50 epochs."""
    late = [h["val_accuracy"] for h in hist if h["epoch"] >= first]
    if len(hist) < 50 or not late:
        return "–"
    peak = max(h["val_accuracy"] for h in hist)
    return f"{100 * min(late):.1f} ({100 * (peak - min(late)):.1f} below)"


def _after_best(hist: list[dict]) -> str:
    """The lowest validation accuracy after the run's best epoch and how far it lies below the
    best: the drift a user who trains past the peak gets. A run still climbing at its end (its best
    is its last epoch) has none, though its 30–50 window (:func:`_late_low`) starts lower."""
    best = max(hist, key=lambda h: h["val_accuracy"])  # the first of equal bests
    after = [h["val_accuracy"] for h in hist if h["epoch"] > best["epoch"]]
    if not after:
        return "none (best = last epoch)"
    return f"{100 * min(after):.1f} ({100 * (best['val_accuracy'] - min(after)):.1f} below)"


def _curve_cells(arm: dict | None) -> list[str]:
    """Selected physical test accuracy, best and last validation accuracy of one arm."""
    hist = (arm or {}).get("history") or []
    if not hist:
        return ["–", "–", "–"]
    return [_pct(arm.get("physical_accuracy")), *_best_last(hist)]


def _ablation_text(ablation: list[dict], full: dict) -> str:
    """What the SEPNs add: fusion only (SEPN weight 0 throughout) against DAT w/o and w/ IS."""
    rows = []
    for r in sorted(ablation, key=lambda r: _level(r["config"])):
        key = _level(r["config"])
        ds, bs, ps = key
        pub = PUBLISHED.get((bs, ps), {}).get(ds)
        main = full.get(key)
        arms = [("fusion only (SEPN weight 0 for all epochs)", r["arms"].get("mesh-dat-is"), None)]
        if main is not None:
            arms += [("DAT w/o IS", main["arms"].get("mesh-dat"), 2), ("DAT w/ IS", main["arms"].get("mesh-dat-is"), 3)]
        for name, arm, idx in arms:
            p = pub[idx] if pub is not None and idx is not None else "–"
            rows.append([ds, bs, ps, name, *_curve_cells(arm), p])
    if not rows:
        return ""
    return ("What the SEPNs add (`ablation/` runs of `scripts/reproduce_dat.sh ablation`): DAT with internal "
            "states and the SEPN weight held at 0 for all 50 epochs (the measured states are fused in, the SEPNs "
            "train but never correct the model), beside the main run's DAT arms (SEPN weight 1 after the "
            "20-epoch warm-up). Selected: physical test accuracy of the epoch selected on physical validation "
            "accuracy; best and last: physical validation accuracy.\n\n"
            + markdown_table(["dataset", "bs", "ps", "arm", "selected test (%)", "best validation (%)",
                              "last validation (%)", "published (%)"], rows) + "\n\n")


def _protocol_text(protocol: list[dict], full: dict) -> str:
    """The reference code's protocol (every training image trains, best test epoch reported)
    beside onnsim's (10 % held out, the selected epoch tested once), level by level."""
    rows = []
    for r in sorted(protocol, key=lambda r: _level(r["config"])):
        key = _level(r["config"])
        ds, bs, ps = key
        pub, main = PUBLISHED.get((bs, ps), {}).get(ds), full.get(key)
        # (column, arm, result field, published value)
        cols = [("error-free", "mesh-ideal", "numeric_accuracy", PUBLISHED_ERROR_FREE.get(ds))]
        cols += [(name, label, "physical_accuracy", pub[i] if pub is not None and i is not None else None)
                 for label, name, i in METHODS]
        for name, label, field, p in cols:
            if label not in r["arms"]:
                continue
            ref = _acc(r, label, field)
            held = None if main is None else _acc(main, label, field)
            gap = "–" if ref is None or p is None else f"{100 * ref - p:+.1f}"
            rows.append([ds, bs, ps, name, _pct(held), _pct(ref), "–" if p is None else p, gap])
    if not rows:
        return ""
    return ("**The protocol's share of the gap** (`protocol/` runs of `scripts/reproduce_dat.sh protocol`, "
            "`--selection test`): the same networks trained as the reference code does it — all 60,000 "
            "training images train, every epoch is tested, and the best test epoch is reported (physical "
            "test accuracy for PAT and DAT, numerical for the error-free network and its direct deployment). "
            "Picking the epoch on the test set is optimistic by construction; these columns exist only to "
            "compare like with like against the published numbers. \"held out\": this page's own protocol "
            "(section 1 rows of the same level).\n\n"
            + markdown_table(["dataset", "bs", "ps", "method", "ours, held out (%)", "ours, best test epoch (%)",
                              "published (%)", "best test epoch − published"], rows) + "\n\n")


@dataclass(frozen=True)
class Options:
    direct_seeds: int = 0
    """First evaluate each finished full-scale direct-deploy network on this many hidden error
    draws (seeds 1…N, cached in the run's direct_deploy_draws.json) [count]."""


def _has_dat_arm(config: dict, internal_states: bool) -> bool:
    return any(method == "dat" and internal == internal_states
               for _, method, internal, _ in parse_methods(config["methods"]))


def _one_or_per_run(texts: dict) -> str:
    """``texts`` (run name -> phrase) as one phrase where all runs agree, else one per run ("–": none)."""
    if len(set(texts.values())) <= 1:
        return next(iter(texts.values()), "–")
    return "; ".join(f"{name}: {text}" for name, text in sorted(texts.items()))


def _setting_text(full: dict, *, internal_states: bool = True) -> str:
    """The DAT w/ (w/o) IS setting of the main table's runs that train such arms."""
    return _one_or_per_run({r["name"]: dat_setting(r["config"], internal_states=internal_states)
                            for r in full.values()
                            if r["experiment"] == "dat-mpnn" and _has_dat_arm(r["config"], internal_states)})


def _loss_text(full: dict) -> str:
    """The task loss of the main table's dat-mpnn runs."""
    return _one_or_per_run({r["name"]: loss_setting(r["config"]) for r in full.values()
                            if r["experiment"] == "dat-mpnn"})


def write_report(runs, out, options: Options | None = None, *, command: str = "") -> Path:
    """Write the markdown write-up ``out`` (and its figures next to it) from the run directories
    ``runs`` (dat-mpnn and dat-dpnn runs; draws as described in the module docstring)."""
    out = Path(out)
    runs = collect(runs)
    seed_study = [r for r in runs if _is_seed_study(r)]
    ablation = [r for r in runs if _is_ablation(r)]
    protocol = [r for r in runs if _is_protocol(r)]
    runs = [r for r in runs if not (_is_seed_study(r) or _is_ablation(r) or _is_protocol(r))]
    draws = [r for r in runs if _is_draw(r)]
    runs = [r for r in runs if not _is_draw(r)]
    if options is not None and options.direct_seeds:
        for r in _spread_runs(_mesh_runs(runs, full=True)).values():
            if "mesh-ideal" in r["arms"]:
                direct_deploy_spread(r["dir"], range(1, 1 + options.direct_seeds))
                print(f"direct-deploy draws done: {r['name']}", flush=True)
    command = command or f"python -m experiments report dat … --out {out}"
    fig_dir = out.parent / "figures"
    full, reduced = _mesh_runs(runs, full=True), _mesh_runs(runs, full=False)
    reduced = {k: v for k, v in reduced.items() if not v["name"].startswith("sweep-")}
    from .plots import curves_figure, sweep_figure

    sweep = sweep_figure(runs, fig_dir / "dat_error_sweep.png")
    curves = curves_figure(full, fig_dir / "dat_learning_curves.png")
    dpnn_table, dpnn_verdicts = _dpnn_table(runs)
    incomplete = [r["name"] for r in runs if not r["complete"]]
    red_cfg = next(iter(reduced.values()))["config"] if reduced else None
    parts = [f"""# Reproduction: dual adaptive training (Zheng et al., Nat. Mach. Intell. 5, 2023)

Generated by `{command}` from the run
directories made by `bash scripts/reproduce_dat.sh` (each a `python -m experiments run` run;
per-arm results in `progress.json`, full records in `results.h5`). Do not edit by hand.
{"" if not incomplete else chr(10) + "**Runs still in progress or interrupted** (rerun the script; it resumes): " + ", ".join(incomplete) + chr(10)}
## 1. Interference PNN, published scale ([setting](../references.md#dat))

3 Clements meshes × 64 modes (2016 MZIs each) with electro-optic activations, Fourier-cropped
8×8 input, batch 500, Adam 1e-3 halved every 10 epochs, 50 epochs, SEPN "~10k" (4, 8, 16)
features, SEPN weight 0 for the first 20 epochs; task loss: {_loss_text(full)}; DAT w/o IS: {_setting_text(full, internal_states=False)}; DAT w/ IS:
{_setting_text(full)}. Physical system: static beam-splitter and
phase-shifter errors drawn once (error seed 1). Accuracies: % on the 10,000 test images of the
physical system (error-free: the trained numerical model without errors), for the epoch
selected on a held-out validation split (10% of the 60,000 training images).

{_mesh_table(full, with_costs=True) if full else "No full-scale run found."}

"""]
    v = _verdicts(full)
    if v:
        parts.append("Against the acceptance criteria:\n\n" + "\n".join(v) + "\n\n")
    parts_of_script = (("PAT on other hidden error draws", "draws", draws),
                       ("direct deployment and PAT over seeds × draws", "seeds", seed_study),
                       ("the SEPN ablation", "ablation", ablation),
                       ("the reference code's protocol", "protocol", protocol))
    missing = [f"{what} (`{part}`)" for what, part, runs_of in parts_of_script if not runs_of]
    if missing:
        parts.append("Not among the runs of this page: " + "; ".join(missing) + " — parts of "
                     "`scripts/reproduce_dat.sh` not run for it.\n\n")
    parts.append(_spread_text(full))
    parts.append(_draws_text(draws, full))
    parts.append(_seeds_text(seed_study))
    parts.append(_dynamics(full))
    parts.append(_ablation_text(ablation, full))
    parts.append(_protocol_text(protocol, full))
    if curves:
        parts.append(f"![validation accuracy per epoch](figures/{curves.name})\n\n")
    parts.append("## 2. The other error configurations (reduced)\n\n")
    if reduced:
        warm = red_cfg.get("dat_warmup_epochs", 0)
        parts.append(f"Same network and optimiser, **{red_cfg['epochs']} epochs** ("
                     + (f"SEPN weight switched on after {warm} epochs, the paper's 20 of 50 scaled" if warm else
                        "SEPN weight 1 from the start") +
                     f"), {red_cfg['n_train']} training images. The published values are after 50 epochs, so "
                     "these rows show the ordering of the methods, not the final accuracies.\n\n"
                     + _mesh_table(reduced, with_costs=False) + "\n\n" + _reduced_checks(reduced))
    elif len({(bs, ps) for _, bs, ps in full}) > 1:
        parts.append("None: the other levels ran the full 50 epochs (section 1, part `levels` of the script).\n\n")
    else:
        parts.append("Not run yet.\n\n")
    parts.append("## 3. Error sweep (MNIST, reduced epochs)\n\n")
    parts.append(f"![accuracy vs error level](figures/{sweep.name})\n\n" if sweep else "Not run yet.\n\n")
    parts.append(f"""## 4. Diffractive PNN ([setting](../references.md#dat-diffractive), errors of [hardware.md](../hardware.md))

`dat-dpnn` at its `cpu` scale (the placeholder SLM geometry shrunk to 48×48 pixels with a 15 mm
gap, keeping its Fresnel number; 3 layers; 3,000 training images, 2 epochs) — the largest that
fits the 2-core machine next to the mesh runs; the 400×400 geometry needs a GPU. Each diffractive
error type alone at the `medium` magnitude of `hardware/presets.py`, then all jointly (`medium`;
at `high` every method, DAT included, fell to chance at this small scale).
"Recovered" = (DAT − direct) / (error-free − direct).

{dpnn_table}

""")
    if dpnn_verdicts:
        parts.append("\n".join(dpnn_verdicts) + "\n\n")
    parts.append("""## 5. Differences from the reference code, and why

- **Model selection.** The reference code reports the best test-set epoch. onnsim holds out 10%
  of the training images as a validation split and reports the test accuracy of the selected
  epoch once: PAT and DAT select on the *physical* validation accuracy (they have the hardware),
  direct deployment on the *numerical* one (it has no hardware before deployment). An earlier
  version of this write-up let direct deployment select on the physical validation split as well:
  that picked an early epoch which happened to survive the errors (MNIST: epoch 9, error-free
  95.1%, direct 73.8%) — a direct-deploy baseline that had peeked at the hardware. Training on
  54,000 instead of 60,000 images and not picking on the test set both lower our numbers slightly
  relative to the paper's protocol.
- **Task loss.** The reference code trains every method on the cross-entropy of the class scores
  themselves, the ten class ports' share of the L2-normalised output intensities (each in [0, 1],
  so the softmax stays nearly flat and the loss can fall only from 2.30 to 1.46). So does
  `dat-mpnn` by default; `--score-scale K` takes K times the scores as logits (the setting
  paragraph of section 1 names each run's). K = 12 trains the error-free network and PAT much
  further, but deploys worse directly and makes the field-fusing arms collapse
  ([dat-settings.md](../dat-settings.md)).
- **Two PATs.** The reference code's PAT replaces the network's output (the L2-normalised
  intensities used as class scores) by the measured one and backpropagates through the numerical
  model at its *own* states; that is `pat` here. onnsim's earlier PAT fused the measured
  *amplitude* into the numerical output field before detection, as DAT's state fusion does, so the
  detection Jacobian was taken at the measured amplitudes. That variant is kept as `pat-field`
  (`TrainConfig(pat_fusion="field")`) and reported in its own column: it is not the paper's
  baseline, and it is much stronger — close to DAT w/o IS, which is `pat-field` plus the SEPNs.
  (Where a run predates the rename, its `pat-field` arm is the old `pat` arm: same algorithm, same seeds.)
- **SEPN gradients.** The reference code lets the SEPN similarity-loss gradients leak into the
  PNN phases before the task step ("joint"). The `reference` fusion rule, `dat-mpnn`'s default,
  does the same; the older `carry` rule keeps the two updates separate unless `--joint True`
  (runs whose `config.json` has no `dat_fusion` key used `carry` without the leak).
- **Error realization.** One static draw per mesh (error seed 1) — the paper's draws are stored
  in the reference repository as binary files, which onnsim neither ships nor downloads; the runs
  here draw their own, so rows differ by the luck of the draw; direct-deploy accuracy in
  particular depends strongly on which MZIs get the large errors (the spread tables above: one trained network's direct-deploy accuracy has a standard
  deviation of 2–7 points over draws, PAT's 3–6, so a ±4-point test of one draw against another
  single draw fails often even for identical error models; the distribution tests — published
  value inside the range of our draws — are the meaningful check). The error model follows
  the paper term by term, as does the reference code's (THPCILab/DAT_MPNN, read for this:
  ε on both couplers of an MZI as √(1 ± ε), N(0, σ²) radians added to θ and φ, none on the input
  phase screen or on the fixed slots); tests pin the erroneous coupler matrix and its (1 ± ε)/2
  power split against the reference formula, and the sampled error statistics.
- **DAT after the warm-up.** When the SEPN weight switches from 0 to 1 (epoch 21) the physical
  validation accuracy peaks, then drifts down while the training loss rises (table above).
  Validation-based selection keeps the peak. The reference's "joint" leak is not what prevents
  this: `--joint True` runs (`runs/dat-joint/`, stopped at epoch 41) drift the same way (MNIST
  DAT w/ IS 93.1% at epoch 29 → 80–91% after; Fashion-MNIST DAT w/o IS 81% → 46%). The cause
  is onnsim's first fusion rule (`carry`: fused fields go forward). The reference code's rule
  (`reference`: forward values stay numerical, the next operation is differentiated at the
  fused field) held its peak within 0.2 (MNIST) and 0.75 (Fashion-MNIST) points over epochs
  30–50 in the first comparison of docs/dat-settings.md; it is the default of `dat-mpnn` since
  (`--dat-fusion`), and each run's rule is in its `config.json` (runs without the key used
  `carry`). It does not always hold: a later MNIST run at bs = ps = 0.06 with the same settings
  collapsed after epoch 44 (92.2 % → 74.7 %); without the rule's joint leak
  (`--reference-joint false`) that arm held and scored above the published value, while
  Fashion-MNIST dipped instead (docs/dat-settings.md). The "epochs 30–50" and "after the best epoch"
  columns of section 1 give the check for every arm of the runs on this page. The sweep
  (section 3) has no warm-up (SEPN weight 1 from the first step): there the same instability
  shows at the largest errors (the σ = 0.10 points).
- **Learning-rate schedule.** The reference's training code halves every learning rate every 10
  epochs. Its published training logs show that schedule for its PAT, error-free, DAT w/o IS and
  Fashion-MNIST runs, but its MNIST DAT w/ IS runs at four of the five joint levels halve every 20
  epochs (PNN and SEPN rates: 1e-3, 5e-4 from epoch 21, 2.5e-4 from 41). All its DAT runs but two
  (MNIST w/o IS at 0.04/0.04 and 0.06/0.06: 10) switch the SEPNs on after 20 epochs. onnsim keeps
  10 for every arm by default; `--dat-lr-step-epochs 20` gives the DAT w/ IS arms the MNIST logs'
  schedule, which trained better at 0.04/0.04 but dipped, and on Fashion-MNIST collapsed, at
  0.06/0.06 (docs/dat-settings.md). Each run's value is in its `config.json`.
- **Reduced rows** (sections 2 and 3) run fewer epochs at full data (stated in each section): the
  2-core machine cannot run 5 configurations × 2 datasets × 5 methods × 50 epochs in a session.
  They show the ordering of the methods, not converged accuracies.
- **Physical queries.** Every method's cost in physical forward passes is in the cost table
  (one query = one batch measured). The reference DAT measures twice per batch (steps 1 and 4);
  the second measurement repeats the first — same inputs, same PNN parameters, only the SEPNs
  changed in between — so onnsim reuses it: DAT costs one query per batch, like PAT.
""")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_text(out, "".join(parts))
    return out
