"""The vaccination write-up: tables, criterion text, the misalignment figure, and the
reproduction page (``python -m experiments report vaccination RUN_DIR… --out PAGE``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from training.records import atomic_text, markdown_table

from training import figures
from .config import ARMS, VaccinationConfig, criterion, misalignment_levels
from ..reports import read_record

__all__ = ["Options", "curve_figure", "render", "write_report"]


def curve_figure(curves: dict, path: Path, *, pitch_m: float, shift_px: float, axial_m: float, metric: str,
                 ylabel: str, title: str, scale: float = 100.0) -> Path:
    """Mean ± std (error bars over draws) of ``metric`` vs test misalignment, both arms."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    for arm, style in zip(ARMS, ("s--", "o-")):
        rows = curves[arm]
        x = [r["shift_max_m"] / pitch_m for r in rows]
        y = [scale * r[metric]["mean"] for r in rows]
        e = [scale * r[metric]["std"] for r in rows]
        ax.errorbar(x, y, yerr=e, fmt=style, capsize=3, label=arm)
    ax.axvline(shift_px, color="grey", lw=0.8, ls=":")
    ax.text(shift_px, ax.get_ylim()[0], " training Δ", color="grey", fontsize=8, va="bottom")
    ax.set_xlabel(f"test half-width Δ_test of the lateral shift (pixels of {pitch_m * 1e3:g} mm);\n"
                  f"axial Δz_test = Δ_test/Δ × {axial_m * 1e3:g} mm", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return figures.save(fig, path)


def _curve_table(curves: dict, metric: str, unit: str, scale: float, extra=()) -> str:
    """Mean ± std per misalignment level of ``metric`` for both arms, then of each ``(key, label)``
    of ``extra`` that every level recorded (the imaging PCC's other regions)."""
    rows = list(zip(curves["standard"], curves["vaccinated"]))
    extra = [(k, lbl) for k, lbl in extra if all(k in rs and k in rv for rs, rv in rows)]
    header = ["Δ_test / Δ", "lateral ±(mm)", "axial ±(mm)", "draws",
              *(f"{arm} {lbl}" for lbl in (unit, *(lbl for _, lbl in extra)) for arm in ("standard", "vaccinated"))]
    d = 2 if scale == 100.0 else 4
    ms = lambda r, k: f"{scale * r[k]['mean']:.{d}f} ± {scale * r[k]['std']:.{d}f}"  # noqa: E731
    return markdown_table(header, [[f"{rs['factor']:g}", f"{rs['shift_max_m'] * 1e3:.2f}",
                                    f"{rs['axial_max_m'] * 1e3:.2f}", rs["draws"],
                                    *(ms(r, k) for k in (metric, *(k for k, _ in extra)) for r in (rs, rv))]
                                   for rs, rv in rows])


def _criterion_text(crit: dict, name: str, metric: str) -> str:
    s, v = crit["standard"], crit["vaccinated"]
    verdict = "**holds**" if crit["holds"] else "**does not hold**"
    k, u = (100, "%") if metric == "test accuracy" else (1, "")
    return (f"Criterion ({crit['rule']}) for the {name}: {verdict}. Standard: aligned {k * s['aligned']:.3g}{u}, "
            f"at Δ {k * s['at_delta']:.3g}{u} (keeps {100 * s['retention']:.1f}%); vaccinated: aligned "
            f"{k * v['aligned']:.3g}{u}, at Δ {k * v['at_delta']:.3g}{u} (keeps {100 * v['retention']:.1f}%) "
            f"— {metric}, mean over draws.")


def _intro(cfg: VaccinationConfig) -> str:
    text = ("Standard (error-free training) vs vaccinated (every batch, every layer displaced by a fresh uniform "
            "random 3-D displacement) diffractive networks, tested with Δ_test = s·Δ (lateral and axial) for "
            f"s ∈ {{{cfg.test_factors}}}, {cfg.test_draws} random draws per level (the same draws for both "
            "networks; one draw at s = 0).")
    if "classifier" in cfg.network_list:
        text += (f" Classifier: Δ = ±{cfg.shift_max_px:g} px = ±{cfg.shift_max_m * 1e3:.2f} mm per lateral axis, "
                 f"Δz = ±{cfg.axial_max_m * 1e3:.2f} mm axially; {cfg.layers} phase-only layers of "
                 f"{cfg.grid_px}×{cfg.grid_px} at {cfg.pitch_m * 1e3:g} mm, λ {cfg.wavelength_m * 1e3:g} mm, gaps "
                 f"{cfg.gap_m * 1e3:g} mm, {cfg.dataset} resized to {cfg.image_px} px as input amplitude, ten detector "
                 f"regions; {cfg.n_train} training images (10% held out for validation), {cfg.n_test} test images, "
                 f"{cfg.epochs} epochs.")
    if "imaging" in cfg.network_list:
        text += (f" Imaging network (diffuser-imaging, scale {cfg.imaging_scale!r}"
                 f"{', ' + cfg.imaging_overrides if cfg.imaging_overrides else ''}): Δ = ±{cfg.imaging_shift_max_px:g} "
                 f"px lateral, Δz = ±{cfg.imaging_axial_max_m * 1e3:.2f} mm axial.")
    return text + (" Published (Mengu et al. 2020): vaccinated networks lose a little accuracy at perfect alignment "
                   "and stay nearly flat up to their training Δ, while standard networks degrade quickly "
                   "(docs/references.md#vaccination).")


def _notes(cfg: VaccinationConfig) -> str:
    return ("\nNotes: each layer's lateral displacement is applied to its transmittance by a Fourier (sub-pixel, "
            "periodic) shift; its axial displacement δ_l (the 'axial ±' column is the half-width of δ_l) moves both "
            "neighbouring gaps: the gap after layer l changes by δ_{l+1} − δ_l, the output plane is fixed, and for "
            "the classifier the input image lies on the plane of layer 1 (hardware/diffractive.py, "
            "LayerDisplacements). The 'Results (test set)' table lists the aligned accuracy of the "
            "validation-selected parameters (selection on the aligned, error-free validation split).\n")


def _comparison(curves: dict, metric: str = "accuracy") -> str:
    """The measured curves against the published behaviour (docs/references.md#vaccination)."""
    c = criterion(curves, metric)
    s, v = c["standard"], c["vaccinated"]
    k, unit = (100, " points") if metric == "accuracy" else (1, "")
    flat = max(v["aligned"] - r[metric]["mean"] for r in curves["vaccinated"] if r["factor"] <= 1)
    return ("Published (Mengu et al., Nanophotonics 9, 4207 (2020)): vaccinated networks lose a little "
            "accuracy at perfect alignment and stay nearly flat up to their training Δ, while standard networks "
            f"degrade quickly. Here ({metric}): the cost of vaccination at perfect alignment is "
            f"{k * (s['aligned'] - v['aligned']):+.3g}{unit} (standard {k * s['aligned']:.4g} vs vaccinated "
            f"{k * v['aligned']:.4g}; negative = the vaccinated network is better); up to Δ_test = Δ the "
            f"vaccinated network's mean drops by at most {k * flat:.3g}{unit}, the standard one's by "
            f"{k * (s['aligned'] - s['at_delta']):.3g}{unit} at Δ.")


@dataclass(frozen=True)
class Options:
    title: str = "Vaccination (Mengu et al. 2020)"  # the page's title
    discussion: str = ""
    """A markdown file whose text becomes the page's "Summary and discussion" section; empty:
    keep that section of the page being replaced (if it has one)."""


_DISCUSSION = "## Summary and discussion\n\n"


def _kept_discussion(page: Path) -> str:
    """The "Summary and discussion" section of an existing page (up to the next section)."""
    if not page.is_file():
        return ""
    text = page.read_text()
    if _DISCUSSION not in text:
        return ""
    body = text.split(_DISCUSSION, 1)[1]
    return body.split("\n## ", 1)[0].strip()


def write_report(runs, out, options: Options | None = None, *, command: str = "") -> Path:
    """Write the reproduction page ``out`` (markdown) from finished vaccination run directories
    (their ``config.json``, ``summary.json`` and ``sweep.json``); figures are copied next to the
    page. The discussion (:class:`Options`) is placed before the runs, as their summary."""
    options = options or Options()
    run_dirs = [Path(r) for r in ([runs] if isinstance(runs, (str, Path)) else runs)]
    doc_path = Path(out)
    discussion = (Path(options.discussion).read_text() if options.discussion else _kept_discussion(doc_path))
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    command = command or f"python -m experiments report vaccination {' '.join(map(str, run_dirs))} --out {doc_path}"
    head = (f"Generated by `{command}` from the run records " + ", ".join(f"`{r.name}`" for r in run_dirs)
            + " (`python -m experiments run vaccination ...`). Do not edit by hand except the summary and "
            "discussion, which regeneration keeps.\n")
    atomic_text(doc_path, render(run_dirs, doc_path, title=options.title, head=head, discussion=discussion))
    return doc_path


def _copy_figure(run_dir: Path, name: str, doc_path: Path, part: str) -> str:
    """Copy the run's ``figures/name`` next to the page as ``<page>_<run>_<part>.png``."""
    import shutil

    dest = f"{doc_path.stem}_{run_dir.name}_{part}.png"
    if (run_dir / "figures" / name).exists():
        shutil.copyfile(run_dir / "figures" / name, doc_path.parent / dest)
    return dest


def render(run_dirs: list[Path], doc_path: Path, *, title: str, head: str = "", discussion: str = "") -> str:
    """The page's markdown; the runs' figures are copied next to ``doc_path``."""
    from ..diffusers.imaging import ImagingConfig
    from .imaging import imaging_config

    parts = [f"# {title}\n"] + ([head] if head else [])
    if discussion:
        parts.append(_DISCUSSION + discussion.strip() + "\n")
    for run_dir in run_dirs:
        cfg = VaccinationConfig(**read_record(run_dir / "config.json")["config"])
        summary = read_record(run_dir / "summary.json")
        sweep = read_record(run_dir / "sweep.json")
        parts += [f"## Run `{run_dir.name}` (networks: {cfg.networks})\n", _intro(cfg) + "\n"]
        if "classifier" in cfg.network_list:
            curves = {arm: [sweep[f"classifier/{arm}/{lv['factor']:g}"] for lv in misalignment_levels(cfg)]
                      for arm in ARMS}
            fig_name = _copy_figure(run_dir, "classifier_accuracy_vs_misalignment.png", doc_path, "classifier")
            parts += ["### Classifier: test accuracy vs test misalignment (mean ± std over draws)\n",
                      _curve_table(curves, "accuracy", "accuracy (%)", 100.0) + "\n",
                      _criterion_text(criterion(curves), "classifier", "test accuracy") + "\n",
                      _comparison(curves) + "\n", f"![classifier accuracy vs misalignment]({fig_name})\n"]
        if "imaging" in cfg.network_list:
            # as run (the diffuser-imaging scales may change later)
            rec = read_record(run_dir / "imaging_config.json", default=None)
            icfg = ImagingConfig(**rec["config"]) if rec is not None else imaging_config(cfg)
            curves = {arm: [sweep[f"imaging/{arm}/{lv['factor']:g}"] for lv in misalignment_levels(cfg)]
                      for arm in ARMS}
            fig_name = _copy_figure(run_dir, "imaging_pcc_vs_misalignment.png", doc_path, "imaging")
            parts += ["### Imaging network: PCC vs test misalignment (mean ± std over draws)\n",
                      (f"diffuser-imaging geometry at scale {cfg.imaging_scale!r}"
                      f"{' with ' + cfg.imaging_overrides if cfg.imaging_overrides else ''}: {icfg.layers} layers of "
                      f"{icfg.grid_px}² at {icfg.pitch_m * 1e3:g} mm, {icfg.layer_gap_m * 1e3:g} mm apart, trained on "
                       f"{icfg.n_train} objects × {icfg.epochs} epochs × {icfg.diffusers_per_epoch} diffusers per epoch, "
                       f"lr {icfg.lr:g} ×{icfg.lr_decay:g} per epoch; vaccination "
                      f"±{cfg.imaging_shift_max_px:g} px (±{cfg.imaging_shift_max_px * icfg.pitch_m * 1e3:.2f} mm) "
                      f"lateral, ±{cfg.imaging_axial_max_m * 1e3:.2f} mm axial per layer; PCC over the central object "
                      "square (the loss's region; the criterion below uses it), with the object support and the "
                      f"canvas beside it, {cfg.imaging_test_objects} test objects × {cfg.imaging_test_diffusers} "
                      "new diffusers.\n"),
                      _curve_table(curves, "pcc", "PCC", 1.0, extra=(("pcc_support", "PCC, support"),
                                                                      ("pcc_canvas", "PCC, canvas"))) + "\n",
                      _criterion_text(criterion(curves, "pcc"), "imaging network", "PCC")
                      + " (The 90% rule was stated for the classifier; it is shown here for comparison.)\n",
                      _comparison(curves, "pcc") + "\n", f"![imaging PCC vs misalignment]({fig_name})\n"]
        t = {k: v.get("wall_time_s") for k, v in summary.items() if isinstance(v, dict) and "wall_time_s" in v}
        if t:
            parts.append("Wall time per arm (s; classifier arms: training and test; imaging arms: training and "
                         "sweep): " + ", ".join(f"{k} {v:.0f}" for k, v in t.items()) + ".\n")
        if "wall_time_total_s" in summary:
            parts.append(f"Total wall time of the run: {summary['wall_time_total_s'] / 60:.1f} min "
                         "(2-core CPU shared with other jobs).\n")
        parts.append("Configuration:\n\n```json\n" + json.dumps(asdict(cfg), indent=2) + "\n```\n")
    return "\n".join(parts)
