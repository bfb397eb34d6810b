"""Generate ``docs/reproduction/d2nn.md`` from ``d2nn-classifier`` runs (one per loss).

    python -m experiments report d2nn RUN_DIR [RUN_DIR ...] --out docs/reproduction/d2nn.md

Reads each run's ``config.json``, ``progress.json``, ``summary.json``, ``energy.json``,
``results.h5`` and ``model.pt`` (a finished run), or the training checkpoint of a run still
going (then the page says the run is not finished and shows its validation history only),
and writes the page with its figures in ``<page stem>_figures/`` beside it. Nothing on the page
is typed by hand except the published numbers (:data:`experiments.d2nn.runner.PUBLISHED`),
the pre-run timing below and the fixed explanations.
"""

from __future__ import annotations

from pathlib import Path

import torch

from training import records
from training.records import markdown_table

from .runner import adam_eps_of
from ..reports import read_record

__all__ = ["load_run", "write_report", "TIMING"]

# Measured on TIMING_DATE (the 2-core machine of the page's runs, otherwise idle; torch CPU,
# FFTW-planned propagation, the published geometry with 2× padding, batch 64, Adam step included;
# the middle of two measurements each; reproduce with experiments.d2nn.runner.step_time): seconds
# per training image. The first machine (2026-12-04) measured 0.030, 0.033 and 0.052.
TIMING_DATE = "2026-12-05"
TIMING = {"one thread, machine otherwise idle": 0.0128, "one thread each, two runs side by side": 0.0129,
          "two threads, machine otherwise idle": 0.0078}
BUDGET_S = 2 * 3600  # wall time allowed per run [s]


def load_run(run_dir: Path) -> dict:
    """What the page needs of one run; ``finished`` is False while it still trains."""
    from training.checkpoint import load_checkpoint

    run_dir = Path(run_dir)
    cfg = read_record(run_dir / "config.json", default=None)
    if not isinstance(cfg, dict) or cfg.get("experiment") != "d2nn-classifier":
        raise ValueError(f"{run_dir} is not a d2nn-classifier run directory (config.json)")
    c = cfg["config"]
    label = f"d2nn-{c.get('loss', 'ce')}"
    summary = read_record(run_dir / "summary.json", default=None) or {}
    progress = read_record(run_dir / "progress.json", default=None) or {}
    energy = (read_record(run_dir / "energy.json", default=None) or {}).get(label)
    finished = label in summary and energy is not None
    r = {"dir": run_dir, "config": c, "label": label, "loss": c.get("loss", "ce"), "finished": finished,
         "result": progress.get(label), "energy": energy, "summary": summary.get(label)}
    if r["result"] is None:  # still training: the history so far from the checkpoint
        ck = load_checkpoint(run_dir / "checkpoints" / f"{label}.pt")
        r["history"] = [] if ck is None else ck["history"]
        r["partial_step"] = 0 if ck is None else ck["partial"]["step"]
    else:
        r["history"] = r["result"]["history"]
    return r


def _lr(c: dict, loss: str) -> float:
    """The Adam learning rate a run of ``loss`` used (mse has its own)."""
    return c.get("mse_learning_rate", c["learning_rate"]) if loss == "mse" else c["learning_rate"]


def _lrs(loaded) -> str:
    """The Adam learning rate of each run, e.g. ``ce 0.05, mse 0.2``."""
    return ", ".join(f"{r['loss']} {_lr(r['config'], r['loss'])}" for r in loaded)


# how each --mse-scale scales s (runs recorded before the option scaled by the output plane)
_MSE_SCALE = {
    "output": ("all the light reaching the output plane, spread evenly over one detector, gives s = 1 there",
               "output-plane"),
    "detectors": ("the light on the ten detectors, spread evenly over one detector, gives s = 1 there; light "
                  "elsewhere on the plane still counts against the loss (g = 0 there) but does not dilute s on "
                  "the detectors", "detector"),
}


def mse_scale_of(config: dict) -> str:
    """The ``--mse-scale`` of a recorded run (``output`` for runs recorded before the option)."""
    return config.get("mse_scale", "output")


def _label(r: dict, *, apart: bool = True) -> str:
    """A run's name in the tables: its loss, for ``mse`` its scaling, and (``apart``) what tells
    it apart from another run of the same loss on the page (:func:`_tell_apart`)."""
    if r["loss"] != "mse":
        base = f"`{r['loss']}`"
    else:
        base = f"`mse` ({_MSE_SCALE[mse_scale_of(r['config'])][1]} scaling)"
    return base + (r.get("apart", "") if apart else "")


def _tell_apart(loaded) -> None:
    """Runs that would share a label get their learning rate and epochs in it, e.g.
    ``, lr 0.05, 12 epochs`` (and Adam's ε when theirs differ); ``key`` names a run's curves and figure files: its arm label
    (``d2nn-mse``), or its directory's name when another run has the same arm (numbered when
    the directories' names are the same too)."""
    for i, r in enumerate(loaded):
        twins = [q for q in loaded if q["label"] == r["label"]]
        named = [q for q in twins if q["dir"].name == r["dir"].name]
        r["key"] = (r["label"] if len(twins) == 1 else r["dir"].name if len(named) == 1
                    else f"{r['dir'].name}-{i + 1}")
    names = [_label(r, apart=False) for r in loaded]
    for r, name in zip(loaded, names):
        same = [q for q, n in zip(loaded, names) if n == name]
        eps = {adam_eps_of(q["config"]) for q in same}
        r["apart"] = "" if len(same) == 1 else (f", lr {_lr(r['config'], r['loss'])}, {r['config']['epochs']} epochs"
                                                + (f", Adam ε {adam_eps_of(r['config']):g}" if len(eps) > 1 else ""))


def _mse_eps_sentence(loaded) -> str:
    eps = sorted({adam_eps_of(r["config"]) for r in loaded if r["loss"] == "mse"})
    why = ("Its gradients are small (at the published geometry half the phase gradients start below 1e-8), and "
           "Adam's ε, added to the gradient scale in each step, shortens the steps of gradients below it: on a "
           "two-epoch subset ε = 1e-12 trained 1.5 points better than torch's 1e-8, while on the full data the "
           "first four epochs of the two matched within 0.2 points (`experiments/d2nn/runner.py`, notes above "
           "`SCALES`)")
    if eps == [1e-12]:
        return why + ", so `mse` trains with 1e-12. "
    return why + "; onnsim's `mse` default is now 1e-12, " + (
        f"this page's `mse` run used {eps[0]:g}. " if len(eps) == 1 else f"this page's `mse` runs used {', '.join(f'{e:g}' for e in eps)}. ")


def _losses_paragraph(loaded) -> str:
    scales = sorted({mse_scale_of(r["config"]) for r in loaded if r["loss"] == "mse"})
    if scales:
        if len(scales) == 1:
            scaling = "s is the output intensity scaled so that " + _MSE_SCALE[scales[0]][0]
        else:
            scaling = "s is the output intensity scaled per run: " + "; ".join(
                f"`{sc}` ({_MSE_SCALE[sc][1]} scaling): {_MSE_SCALE[sc][0]}" for sc in scales)
        mse = ("`mse` follows Lin et al.: the mean over the output-plane pixels of (s − g)², where g is 1 inside "
               f"the true class's detector and 0 elsewhere, and {scaling}. The paper does not state its scaling; "
               "these are onnsim's. Scaling by the input power instead lets the loss fall by sending light out "
               "of the window and trained 15–20 points worse in a short comparison; scaling by the detectors' "
               "light trained 0.6–2.0 points better than by the output plane's at the cpu scale "
               "(`training.losses.lin_mse`). " + _mse_eps_sentence(loaded))
    else:
        mse = ""
    return ("**Losses.** " + mse + "`ce` is the softmax cross-entropy of the detector scores T·E_c/Σ_j E_j with "
            "a learnt temperature T, the training of Mengu et al. Both classify by the largest detector energy "
            "([references](../references.md#d2nn)).")


def _schedules(loaded) -> str:
    """Learning rate, decay and epochs of each run, e.g. ``mse 0.2 halved every 2 epochs, 6 epochs``;
    said once when every run shares the decay and the epochs."""
    plans = {(r["config"]["lr_step_epochs"], r["config"]["epochs"]) for r in loaded}
    if len(plans) == 1:
        (step, epochs), = plans
        return f"learning rate {_lrs(loaded)} halved every {step} epoch(s), {epochs} epochs"
    return "; ".join(f"{_label(r, apart=False)} learning rate {_lr(r['config'], r['loss'])} halved every "
                     f"{r['config']['lr_step_epochs']} epoch(s), {r['config']['epochs']} epochs" for r in loaded)


def _eps(loaded) -> str:
    """Adam's ε of each run, e.g. ``ε 1e-12 (`mse` …), 1e-08 (`ce`)``; once when all share it."""
    eps = {adam_eps_of(r["config"]) for r in loaded}
    if len(eps) == 1:
        return f"ε {eps.pop():g}"
    return "ε " + ", ".join(f"{adam_eps_of(r['config']):g} ({_label(r)})" for r in loaded)


def _inits(loaded) -> str:
    """Where each run's phases started (records without ``phase_init_rad``: at 0)."""
    def one(c: dict) -> str:
        r = c.get("phase_init_rad", 0.0)
        return "at 0" if r == 0 else f"uniform in [0, {r:.3g}) rad (seed {c['seed']})"
    starts = {one(r["config"]) for r in loaded}
    if len(starts) == 1:
        return f"phases start {starts.pop()}"
    return "phases start " + "; ".join(f"{_label(r)} {one(r['config'])}" for r in loaded)


def _ranks(r: dict) -> int:
    return int((r["result"] or {}).get("world_size", 1))


def _n_fit(c: dict) -> int:
    return c["n_train"] - int(round(c["val_fraction"] * c["n_train"]))


def _figures(runs: list[dict], fig_dir: Path) -> dict:
    """Figures from the records; ``{name: file}``."""
    from training import figures
    from .runner import D2nnConfig, build_task, energy_matrix_figure

    fig_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    hist = {r["key"]: r["history"] for r in runs if r["history"]}
    if hist:
        out["learning"] = figures.learning_curves(hist, fig_dir / "learning_curves.png",
                                                  title="d2nn-classifier: training loss and validation accuracy "
                                                        "(numerical model)").name
    conf = {r["key"]: r["result"]["confusion_numeric"] for r in runs if r["result"] is not None}
    if conf:
        out["confusion"] = figures.confusion_matrices(conf, fig_dir / "confusion.png",
                                                      title="test-set confusion (numerical model)").name
    for r in runs:
        if not r["finished"]:
            continue
        lbl, key = r["label"], r["key"]
        cfg = D2nnConfig(**r["config"])
        task = build_task(cfg)
        model = torch.load(r["dir"] / "model.pt", map_location="cpu", weights_only=True)
        task.load_state_dict(model[lbl])
        masks = torch.stack([m.full_phase().detach() for m in task.system.layers if hasattr(m, "phase")])
        out[f"{key}/masks"] = figures.phase_masks(masks, cfg.pitch_m, fig_dir / f"{key}_masks.png",
                                                  title=f"{key}: trained phase masks (numerical design)").name
        out[f"{key}/energy"] = energy_matrix_figure(r["energy"]["fraction_of_output_by_class"],
                                                    fig_dir / f"{key}_energy.png",
                                                    title=f"{key}: output energy per detector "
                                                          "(numerical model, test set)").name
        import h5py

        with h5py.File(r["dir"] / "results.h5", "r") as f:
            pats = torch.as_tensor(f[f"{lbl}/mean_output_intensity_by_class"][()])
        out[f"{key}/patterns"] = figures.class_patterns(pats, task.regions.bool(), fig_dir / f"{key}_patterns.png",
                                                        title=f"{key}: mean output intensity per test class "
                                                              "(numerical model)").name
    return out


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def write_report(runs, out, options=None, *, command: str = "") -> Path:
    """Write the page ``out`` (and its figures beside it) from the run directories ``runs``."""
    from .runner import PUBLISHED

    out = Path(out)
    loaded = sorted((load_run(Path(d)) for d in runs), key=lambda r: ("mse", "ce").index(r["loss"]))
    if not loaded:
        raise ValueError("give at least one d2nn-classifier run directory")
    _tell_apart(loaded)
    fig_dir = out.parent / f"{out.stem}_figures"
    figs = _figures(loaded, fig_dir)
    rel = fig_dir.name
    c0 = loaded[0]["config"]
    unfinished = [r for r in loaded if not r["finished"]]
    lines = ["# D2NN classifier (Lin et al., Science 2018) — reproduction", ""]
    lines.append(f"Generated by `{command or 'python -m experiments report d2nn ' + ' '.join(str(r['dir']) for r in loaded) + ' --out ' + str(out)}` "
                 "from the run records; do not edit by hand.")
    lines.append("")
    if unfinished:
        lines += ["> **Not final.** " + "; ".join(
            f"`{r['key']}` has finished {len(r['history'])} of {r['config']['epochs']} epochs"
            + (f" (+{r['partial_step']} steps)" if r.get("partial_step") else "") for r in unfinished)
            + ". Its test accuracy, energy distribution and figures appear when it finishes.", ""]
    lines += ["## Setting", "",
              markdown_table(["quantity", "value"], [
                  ["wavelength λ", f"{c0['wavelength_m'] * 1e3:.2f} mm (0.4 THz)"],
                  ["layers", f"{c0['layers']} phase-only, {c0['grid_px']}×{c0['grid_px']} pixels of "
                             f"{c0['pitch_m'] * 1e3:.2f} mm ({c0['grid_px'] * c0['pitch_m'] * 1e3:.0f} mm square)"],
                  ["distances", f"input → layer 1 {c0['input_gap_m'] * 1e3:.0f} mm; layer → layer and layer "
                                f"{c0['layers']} → detector plane {c0['gap_m'] * 1e3:.0f} mm"],
                  ["propagation", "band-limited angular spectrum, 2× zero padding per axis (linear convolution); "
                                  "nothing outside the layers' aperture"],
                  ["input", f"{c0['dataset']} digit resized to {c0['image_px']}×{c0['image_px']} px "
                            f"({c0['image_px'] * c0['pitch_m'] * 1e3:.0f} mm) as field amplitude, centred"],
                  ["detectors", f"ten squares of {c0['region_px']} px "
                                f"({c0['region_px'] * c0['pitch_m'] * 1e3:.1f} mm), rows 3-4-3, "
                                f"{c0['region_spacing_px'] * c0['pitch_m'] * 1e3:.1f} mm apart; class = brightest detector"],
                  ["data", f"{c0['n_train']:,} training images, of which {c0['n_train'] - _n_fit(c0):,} held out for "
                           f"validation; {c0['n_test']:,} test images"],
                  ["training", f"Adam ({_eps(loaded)}), {_schedules(loaded)}; batch {c0['batch_size']} (global); "
                               f"{_inits(loaded)}"],
                  ["selection", "the epoch with the best validation accuracy (never the test set)"]]), ""]
    lines += [_losses_paragraph(loaded), ""]
    # results
    rows = []
    for r in loaded:
        src, pub, target = PUBLISHED[r["loss"]]
        res = r["result"]
        acc = None if res is None else res["numeric_accuracy"]
        met = "–" if acc is None else ("yes" if 100 * acc >= target else "**no**")
        best_val = max((h["val_accuracy"] for h in r["history"]), default=None)
        wall = "–" if res is None else f"{res['wall_time_s'] / 3600:.2f}"
        rows.append([_label(r), _pct(acc), pub, src, f"≥ {target}", met, "–" if res is None else res["best_epoch"],
                     _pct(best_val), f"{len(r['history'])} of {r['config']['epochs']}", wall])
    lines += [f"## Test accuracy (numerical model, {c0['n_test']:,} test images)", "",
              markdown_table(["loss", "onnsim test accuracy (%)", "published (%)", "published in", "target (%)", "met",
                              "selected epoch", "best validation accuracy (%)", "epochs run", "wall time (h)"], rows),
              "", "\"met\": the onnsim test accuracy reaches the target (the done-when line of the "
              "reproduction). Validation per epoch (held-out training images, numerical model):", "",
              markdown_table(["loss", "epoch", "learning rate", "training loss", "validation accuracy (%)"],
                             [[_label(r), h["epoch"], f"{h['lr']:.4g}", f"{h['loss']:.4g}", _pct(h["val_accuracy"])]
                              for r in loaded for h in r["history"]]), ""]
    if "confusion" in figs:
        lines += [f"![test-set confusion matrices]({rel}/{figs['confusion']})", ""]
    if "learning" in figs:
        lines += [f"![learning curves]({rel}/{figs['learning']})", ""]
    # energy
    done = [r for r in loaded if r["finished"]]
    if done:
        lines += ["## Output energy over the ten detectors (numerical model, test set)", "",
                  "Per test image: E_c the energy in detector c, E_out in the whole simulated output plane "
                  f"({c0['grid_px'] * c0['pitch_m'] * 1e3:.0f} mm square), E_in of the input field; means over "
                  "the test images.", "",
                  markdown_table(["loss", "E_true / E_out (%)", "Σ_c E_c / E_out (%)", "E_true / Σ_c E_c (%)",
                                  "E_out / E_in (%)"],
                                 [[_label(r), *(_pct(r["energy"][k]) for k in ("correct_of_output", "detectors_of_output",
                                                                               "correct_of_detectors", "output_of_input"))]
                                  for r in done])]
        dim = [r for r in done if r["energy"]["output_of_input"] < 0.05]
        if dim:
            lines += ["", "**Power efficiency.** " + "; ".join(
                f"The {_label(r)} network passes {_pct(r['energy']['output_of_input'])} % of the input power "
                "to the output plane" for r in dim) + ". Accuracy is decided by the detectors' relative "
                "energies, so neither loss asks for light on the output plane: the MSE, with s scaled by the "
                "power that arrives (above), is blind to how much arrives, and its network learnt to send most of "
                "the light out of the simulated window. A fabricated network would need the detectors to read "
                "that little light; a loss term on E_out / E_in would trade accuracy for efficiency."]
        lines += ["", "The matrices below give, for each true class (row), the mean share of the output-plane "
                  "energy that falls on each detector (column); the diagonal is the correct detector.", ""]
        for r in done:
            lbl = r["key"]
            lines += [f"### {_label(r)}", "",
                      f"![{lbl} energy per detector]({rel}/{figs[f'{lbl}/energy']})", "",
                      f"![{lbl} mean output per class]({rel}/{figs[f'{lbl}/patterns']})", "",
                      f"![{lbl} phase masks]({rel}/{figs[f'{lbl}/masks']})", ""]
    # budget
    n_fit = _n_fit(c0)
    lines += ["## Training budget", "",
              "The budget is ≤ 2 h of wall time per run on a 2-core CPU machine, as many epochs as fit. Measured "
              f"on {TIMING_DATE} on the machine of the runs below, seconds per training image (batch 64: forward, "
              "backward and Adam step at the published geometry; `experiments.d2nn.runner.step_time`; each run's "
              "own rate is in its line below):", "",
              markdown_table(["threads", "s per image"], [[k, f"{v:.3f}"] for k, v in TIMING.items()])]
    per = TIMING["one thread each, two runs side by side"]
    lines += ["", f"At that rate, {per:.3f} s per image per core, an epoch of {n_fit:,} images costs "
              f"≈ {n_fit * per / 60:.0f} core-minutes: one process fits about {int(BUDGET_S // (n_fit * per))} epochs "
              "in 2 h before validation and the test pass, two "
              "processes under torchrun (data-parallel, the same global batch) about twice as many. The geometry, "
              "the padding and the data are the published ones; only the epochs are cut (the `paper` scale runs "
              "10, for a GPU). The machine is shared: wall time grows with other users' load, CPU time does not, "
              "and machines differ (the runs below measured their own rate).",
              ""]
    for r in loaded:
        res = r["result"]
        if res is not None:
            ep = len(r["history"])
            ranks = _ranks(r)
            how = (f"{ranks} processes under torchrun, one thread each; CPU time summed over them" if ranks > 1 else
                   "one process, one thread")
            fit = int(BUDGET_S // (res["wall_time_s"] / max(1, ep)))
            lines.append(f"- {_label(r)} ({how}): {ep} epoch(s), {res['wall_time_s'] / 3600:.2f} h wall, "
                         f"{res['cpu_time_s'] / 3600:.2f} h CPU with the test pass "
                         f"(≈ {res['cpu_time_s'] / max(1, ep * _n_fit(r['config'])):.3f} CPU s per training image, "
                         f"all included); at this run's pace about {fit} epochs fit the 2 h budget.")
    lines += ["", "## Comparison with the published values", ""]
    for r in loaded:
        src, pub, target = PUBLISHED[r["loss"]]
        res = r["result"]
        if res is None:
            lines.append(f"- {_label(r)}: not finished; published {pub}% ({src}), target {target}%.")
            continue
        acc = 100 * res["numeric_accuracy"]
        lines.append(f"- {_label(r)}: {acc:.2f}% against {pub}% ({src}): {acc - pub:+.2f} points; target "
                     f"{target}% {'met' if acc >= target else 'not met'}.")
    epochs = ", ".join(f"`{r['loss']}` {r['config']['epochs']}" for r in loaded)
    lines += ["", "Differences from the papers that can move the numbers: the epochs (here "
              f"{epochs}; the training budget above says how many would fit); the size of the input digit and of "
              "the detectors (onnsim's choice above; not taken from the papers); the scaling of s in the MSE loss; the learning-rate "
              "schedule. Lin et al. trained on 55,000 images with 5,000 for validation, as here. All numbers "
              "are of the numerical model: this experiment simulates no fabrication or alignment errors.", "",
              "Run directories: " + ", ".join(f"`{r['dir'].name}`" for r in loaded)
              + " (run records are not committed; the command at the top regenerates this page from them).", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    records.atomic_text(out, "\n".join(lines))
    return out

