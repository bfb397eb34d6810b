"""vaccination — misalignment-resilient diffractive networks (Mengu et al., Nanophotonics 2020;
REFERENCE.md §C last item and §D).

A *standard* network is trained error-free (method ``ideal``); a *vaccinated* one is trained
with method ``noise``: every batch each phase layer gets a fresh independent 3-D displacement,
uniform in ±Δ per lateral axis and ±Δz along the axis (``DiffractiveErrorModel(shift_max=Δ,
gap_max=Δz)``; the axial error of layer l lengthens or shortens the gap that follows it).
Both are then tested over a grid of test misalignments Δ_test = s·Δ (and s·Δz) for s in
``test_factors``, with ``test_draws`` independent random draws per level; every draw is shared
by both networks (paired comparison), and s = 0 is the perfectly aligned device (one draw).

Networks (``networks``):

* ``classifier`` — Lin et al. (2018) THz D2NN classifier (λ 0.75 mm, 5 phase-only layers of
  200×200 at 0.4 mm, 3 cm apart, ten detector regions), MNIST, softmax cross-entropy;
  metric: test accuracy.
* ``imaging`` — the diffuser-imaging network of Luo et al. (eLight 2022, REFERENCE §C), built
  and trained by :mod:`experiments.diffuser_imaging`; metric: PCC of the output to the object
  through random diffusers. Needs that module (see :func:`_imaging_module`).

The done-when criterion of the issue is stated and checked in the report: at Δ_test = Δ the
vaccinated classifier keeps ≥ 90% of its aligned accuracy, and the standard classifier's
retention is at least ``margin`` (5 percentage points) lower.

Resumable: training arms use the study machinery (per-arm checkpoints, ``progress.json``);
every finished (network, arm, level) of the misalignment sweep is recorded in ``sweep.json``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from hardware import DiffractiveErrorModel
from training import TrainConfig

from . import figures, records
from .registry import register
from .study import Arm, best_states, diffractive_task, load_data, run_arms, write_study_record

__all__ = ["VaccinationConfig", "run", "misalignment_levels", "sweep_classifier", "criterion",
           "write_reproduction_doc", "SCALES"]

NETWORKS = ("classifier", "imaging")
ARMS = ("standard", "vaccinated")
RETENTION = 0.90  # the vaccinated classifier keeps ≥ 90% of its aligned accuracy at Δ_test = Δ
MARGIN = 0.05     # ... and the standard one keeps at least 5 points (of retention) less


@dataclass(frozen=True)
class VaccinationConfig:
    """Settings (SI units unless the name says otherwise).

    ``shift_max_px`` is the training half-width Δ of the lateral shift per layer and axis in
    pixel pitches; ``gap_max_m`` the training half-width Δz of the axial error per gap (m).
    ``test_factors`` lists s for Δ_test = s·Δ, s·Δz.
    """

    networks: str = "classifier"
    dataset: str = "mnist"
    wavelength_m: float = 0.75e-3
    pitch_m: float = 0.4e-3
    grid_px: int = 200
    layers: int = 5
    gap_m: float = 0.03
    image_px: int = 100
    region_px: int = 12
    region_spacing_px: int = 30
    temperature: float = 10.0
    n_train: int = 60000
    n_test: int = 10000
    epochs: int = 10
    batch_size: int = 50
    learning_rate: float = 0.05
    lr_step_epochs: int = 5
    val_fraction: float = 0.1
    shift_max_px: float = 2.0
    gap_max_m: float = 1.5e-3
    test_factors: str = "0,0.5,1,1.5,2"
    test_draws: int = 20
    eval_batch_size: int = 500
    imaging_scale: str = "paper"
    imaging_test_objects: int = 200
    seed: int = 0
    eval_seed: int = 1234

    def __post_init__(self):
        nets = self.network_list
        bad = [n for n in nets if n not in NETWORKS]
        if bad or not nets or len(set(nets)) != len(nets):
            raise ValueError(f"networks must be a comma-separated subset of {', '.join(NETWORKS)} "
                             f"(each once), got {self.networks!r}")
        factors = self.factor_list
        if 1.0 not in factors or 0.0 not in factors:
            raise ValueError(f"test_factors must include 0 (aligned) and 1 (the training Δ), got {self.test_factors!r}")
        if any(f < 0 for f in factors) or len(set(factors)) != len(factors):
            raise ValueError(f"test_factors must be distinct numbers ≥ 0, got {self.test_factors!r}")
        for name in ("shift_max_px", "gap_max_m"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number ≥ 0, got {v!r}")
        if self.shift_max_px == 0 and self.gap_max_m == 0:
            raise ValueError("shift_max_px and gap_max_m are both 0: there is nothing to vaccinate against")
        if not isinstance(self.test_draws, int) or self.test_draws < 1:
            raise ValueError(f"test_draws must be a positive int, got {self.test_draws!r}")

    @property
    def network_list(self) -> list[str]:
        return [s.strip() for s in self.networks.split(",") if s.strip()]

    @property
    def factor_list(self) -> list[float]:
        try:
            return sorted(float(s) for s in self.test_factors.split(",") if s.strip())
        except ValueError:
            raise ValueError(f"test_factors must be comma-separated numbers, got {self.test_factors!r}") from None

    @property
    def shift_max_m(self) -> float:
        return self.shift_max_px * self.pitch_m


# cpu: 64×64 pixels (25.6 mm, a third of the published 80 mm width; same λ, pitch, 3 cm gaps,
# 5 layers), digits resized to 32 px, 10k training / 1k test images, 4 epochs, 12 draws
SCALES = {
    "smoke": dict(grid_px=24, layers=2, gap_m=0.01, image_px=12, region_px=2, region_spacing_px=5, n_train=100,
                  n_test=40, epochs=1, batch_size=25, test_factors="0,1,2", test_draws=2, imaging_scale="smoke",
                  imaging_test_objects=8),
    "cpu": dict(grid_px=64, image_px=32, region_px=4, region_spacing_px=10, n_train=10000, n_test=1000, epochs=4,
                lr_step_epochs=2, test_draws=12, imaging_scale="cpu", imaging_test_objects=100),
    "paper": dict(),
}


def misalignment_levels(cfg: VaccinationConfig) -> list[dict]:
    """The test grid: ``[{"factor", "shift_max_m", "gap_max_m", "draws"}]`` (one draw when aligned)."""
    return [{"factor": s, "shift_max_m": s * cfg.shift_max_m, "gap_max_m": s * cfg.gap_max_m,
             "draws": 1 if s == 0 else cfg.test_draws} for s in cfg.factor_list]


def _draw_generator(cfg: VaccinationConfig, level: int, draw: int) -> torch.Generator:
    # shared by both arms (paired comparison); independent of the training seed
    return torch.Generator().manual_seed(cfg.eval_seed * 1_000_003 + 1000 * level + draw)


def _classifier_task(cfg: VaccinationConfig):
    return diffractive_task(grid_px=cfg.grid_px, pitch_m=cfg.pitch_m, wavelength_m=cfg.wavelength_m,
                            layers=cfg.layers, gap_m=cfg.gap_m, image_px=cfg.image_px, region_px=cfg.region_px,
                            region_spacing_px=cfg.region_spacing_px, temperature=cfg.temperature,
                            active_px=cfg.grid_px)


def vaccine(cfg: VaccinationConfig, factor: float = 1.0) -> DiffractiveErrorModel:
    """The uniform 3-D misalignment model at ``factor`` × the training half-widths."""
    return DiffractiveErrorModel(shift_max=factor * cfg.shift_max_m, gap_max=factor * cfg.gap_max_m)


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


def _summarise(values: list[float]) -> dict:
    t = torch.tensor(values, dtype=torch.float64)
    return {"values": values, "mean": float(t.mean()), "std": float(t.std()) if len(values) > 1 else 0.0,
            "min": float(t.min()), "max": float(t.max())}


def _load_json(path: Path, resume: bool) -> dict:
    return json.loads(path.read_text()) if (resume and path.exists()) else {}


def _save_json(path: Path, payload) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)


def sweep_classifier(cfg: VaccinationConfig, out_dir: Path, data, *, resume: bool) -> dict:
    """Accuracy of both trained classifiers over the misalignment grid:
    ``{arm: [{"factor", "shift_max_m", "gap_max_m", "draws", "accuracy": {mean, std, ...}}]}``."""
    _, _, xt, yt = data
    path = out_dir / "sweep.json"
    done = _load_json(path, resume)
    states = best_states(out_dir, [f"classifier-{a}" for a in ARMS])
    out = {}
    for arm in ARMS:
        task = _classifier_task(cfg)
        task.load_state_dict(states[f"classifier-{arm}"])
        task.eval()
        rows = []
        for li, level in enumerate(misalignment_levels(cfg)):
            key = f"classifier/{arm}/{level['factor']:g}"
            if key in done:
                rows.append(done[key])
                continue
            t0 = time.perf_counter()
            accs = []
            for d in range(level["draws"]):
                errors = vaccine(cfg, level["factor"]).sample(cfg.layers, generator=_draw_generator(cfg, li, d))
                accs.append(misaligned_accuracy(task, xt, yt, errors, batch_size=cfg.eval_batch_size))
            row = dict(level, accuracy=_summarise(accs), wall_time_s=time.perf_counter() - t0)
            rows.append(row)
            done[key] = row
            _save_json(path, done)
            print(f"[classifier-{arm}] Δ_test = {level['factor']:g}·Δ: accuracy "
                  f"{100 * row['accuracy']['mean']:.2f} ± {100 * row['accuracy']['std']:.2f}% "
                  f"({level['draws']} draws, {row['wall_time_s']:.0f} s)", flush=True)
        out[arm] = rows
    return out


def criterion(curves: dict, metric: str = "accuracy") -> dict:
    """The done-when check at Δ_test = Δ: retention = mean metric at Δ / aligned metric."""
    res = {}
    for arm in ARMS:
        rows = {r["factor"]: r[metric]["mean"] for r in curves[arm]}
        res[arm] = {"aligned": rows[0.0], "at_delta": rows[1.0],
                    "retention": rows[1.0] / rows[0.0] if rows[0.0] > 0 else float("nan")}
    v, s = res["vaccinated"]["retention"], res["standard"]["retention"]
    res["holds"] = bool(v >= RETENTION and s <= v - MARGIN)
    res["rule"] = (f"vaccinated retention ≥ {RETENTION:.2f} and standard retention ≤ vaccinated − {MARGIN:.2f}")
    return res


def curve_figure(curves: dict, cfg: VaccinationConfig, path: Path, *, metric: str, ylabel: str, title: str,
                 scale: float = 100.0) -> Path:
    """Mean ± std (error bars over draws) of ``metric`` vs test misalignment, both arms."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    for arm, style in zip(ARMS, ("s--", "o-")):
        rows = curves[arm]
        x = [r["shift_max_m"] / cfg.pitch_m for r in rows]
        y = [scale * r[metric]["mean"] for r in rows]
        e = [scale * r[metric]["std"] for r in rows]
        ax.errorbar(x, y, yerr=e, fmt=style, capsize=3, label=arm)
    ax.axvline(cfg.shift_max_px, color="grey", lw=0.8, ls=":")
    ax.text(cfg.shift_max_px, ax.get_ylim()[0], " training Δ", color="grey", fontsize=8, va="bottom")
    ax.set_xlabel(f"test half-width Δ_test of the lateral shift (pixels of {cfg.pitch_m * 1e3:g} mm); "
                  f"axial Δz_test = Δ_test/Δ × {cfg.gap_max_m * 1e3:g} mm", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return figures._save(fig, path)


def _curve_table(curves: dict, cfg: VaccinationConfig, metric: str, unit: str, scale: float) -> str:
    lines = [f"| Δ_test / Δ | lateral ±(mm) | axial ±(mm) | draws | standard {unit} | vaccinated {unit} |",
             "|---|---|---|---|---|---|"]
    for rs, rv in zip(curves["standard"], curves["vaccinated"]):
        lines.append(f"| {rs['factor']:g} | {rs['shift_max_m'] * 1e3:.2f} | {rs['gap_max_m'] * 1e3:.2f} | "
                     f"{rs['draws']} | {scale * rs[metric]['mean']:.2f} ± {scale * rs[metric]['std']:.2f} | "
                     f"{scale * rv[metric]['mean']:.2f} ± {scale * rv[metric]['std']:.2f} |")
    return "\n".join(lines)


def _criterion_text(crit: dict, name: str, metric: str) -> str:
    s, v = crit["standard"], crit["vaccinated"]
    verdict = "**holds**" if crit["holds"] else "**does not hold**"
    return (f"Criterion ({crit['rule']}) for the {name}: {verdict}. Standard: aligned {100 * s['aligned']:.2f}%, "
            f"at Δ {100 * s['at_delta']:.2f}% (keeps {100 * s['retention']:.1f}%); vaccinated: aligned "
            f"{100 * v['aligned']:.2f}%, at Δ {100 * v['at_delta']:.2f}% (keeps {100 * v['retention']:.1f}%) "
            f"— {metric}, mean over draws.")


# -- imaging part (experiments.diffuser_imaging) ---------------------------------------------------
def _imaging_module():
    try:
        from . import diffuser_imaging
    except ImportError as exc:
        raise NotImplementedError(
            "the imaging part of the vaccination experiment needs experiments/diffuser_imaging.py "
            f"(ImagingConfig, SCALES, train_imaging, evaluate_pcc), which is not available: {exc}. "
            "Run with --networks classifier.") from None
    missing = [n for n in ("ImagingConfig", "SCALES", "train_imaging", "evaluate_pcc")
               if not hasattr(diffuser_imaging, n)]
    if missing:
        raise NotImplementedError(f"experiments.diffuser_imaging lacks {', '.join(missing)}; "
                                  "the imaging part cannot run. Use --networks classifier.")
    return diffuser_imaging


def run_imaging(cfg: VaccinationConfig, out_dir: Path, *, resume: bool) -> dict:  # pragma: no cover - filled later
    _imaging_module()
    raise NotImplementedError("imaging part not wired yet")


# -- the experiment -----------------------------------------------------------------------------------
@register("vaccination", "Misalignment vaccination of diffractive networks (Mengu et al. 2020; REFERENCE §C, §D)",
          VaccinationConfig, runtime={"smoke": "15 s", "cpu": "20 min", "paper": "hours (GPU)"}, scales=SCALES)
def run(cfg: VaccinationConfig, out_dir: Path, *, resume: bool = False) -> dict:
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    records.write_config(out_dir / "config.json", "vaccination", cfg, cfg.seed)
    t_start = time.perf_counter()
    if "imaging" in cfg.network_list:
        _imaging_module()  # fail early and clearly, before any training
    extra_figs, sections, datasets = [], [], {}
    results, crit = {}, {}
    if "classifier" in cfg.network_list:
        data = load_data(cfg.dataset, cfg.n_train, cfg.n_test, cfg.seed)
        results = run_arms(out_dir, classifier_arms(cfg), data, resume=resume)
        curves = sweep_classifier(cfg, out_dir, data, resume=resume)
        crit["classifier"] = criterion(curves)
        fig = curve_figure(curves, cfg, out_dir / "figures" / "classifier_accuracy_vs_misalignment.png",
                           metric="accuracy", ylabel="test accuracy (%)",
                           title="D2NN classifier under random 3-D layer misalignment")
        extra_figs.append(("classifier: accuracy vs test misalignment (mean ± std over draws)", fig.name))
        for arm in ARMS:
            datasets[f"classifier/{arm}/test_factor"] = ([r["factor"] for r in curves[arm]], "1 (Δ_test / Δ)")
            datasets[f"classifier/{arm}/shift_max"] = ([r["shift_max_m"] for r in curves[arm]], "m")
            datasets[f"classifier/{arm}/gap_max"] = ([r["gap_max_m"] for r in curves[arm]], "m")
            datasets[f"classifier/{arm}/accuracy_mean"] = ([r["accuracy"]["mean"] for r in curves[arm]], "1")
            datasets[f"classifier/{arm}/accuracy_std"] = ([r["accuracy"]["std"] for r in curves[arm]],
                                                          "1 (std over draws)")
            for r in curves[arm]:
                datasets[f"classifier/{arm}/accuracy_draws/{r['factor']:g}"] = (r["accuracy"]["values"], "1")
            results[f"classifier-{arm}"]["misalignment"] = curves[arm]
        sections.append("## Classifier: accuracy vs test misalignment\n\n"
                        + _curve_table(curves, cfg, "accuracy", "accuracy (%)", 100.0) + "\n\n"
                        + _criterion_text(crit["classifier"], "classifier", "test accuracy") + "\n")
    if "imaging" in cfg.network_list:
        img = run_imaging(cfg, out_dir, resume=resume)
        extra_figs += img["figures"]
        sections.append(img["section"])
        datasets.update(img["datasets"])
        crit["imaging"] = img["criterion"]
        results.update(img["results"])
    intro = _intro(cfg)
    extra = "\n" + "\n".join(sections) + _notes(cfg)
    summary = write_study_record(out_dir, "vaccination", cfg, {k: v for k, v in results.items()
                                                               if "history" in v and "confusion_numeric" in v},
                                 title="vaccination: misalignment-resilient diffractive networks", intro=intro,
                                 extra_figures=extra_figs, extra_sections=extra, extra_datasets=datasets)
    summary["criterion"] = crit
    summary["wall_time_total_s"] = time.perf_counter() - t_start
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _intro(cfg: VaccinationConfig) -> str:
    return (f"Standard (error-free training) vs vaccinated (every batch, each of the {cfg.layers} layers displaced by "
            f"U(±{cfg.shift_max_px:g} px = ±{cfg.shift_max_m * 1e3:.2f} mm) per lateral axis and "
            f"U(±{cfg.gap_max_m * 1e3:.2f} mm) axially) diffractive networks, tested with Δ_test = s·Δ for "
            f"s ∈ {{{cfg.test_factors}}}, {cfg.test_draws} random draws per level (the same draws for both "
            f"networks). Classifier geometry: {cfg.layers} phase-only layers of {cfg.grid_px}×{cfg.grid_px} at "
            f"{cfg.pitch_m * 1e3:g} mm, λ {cfg.wavelength_m * 1e3:g} mm, gaps {cfg.gap_m * 1e3:g} mm, "
            f"{cfg.dataset} resized to {cfg.image_px} px as input amplitude, ten detector regions; "
            f"{cfg.n_train} training images, {cfg.n_test} test images, {cfg.epochs} epochs. Published (Mengu et al. "
            "2020): vaccinated networks lose a little accuracy at perfect alignment and stay nearly flat up to "
            "their training Δ, while standard networks degrade quickly (REFERENCE §D).")


def _notes(cfg: VaccinationConfig) -> str:
    return ("\nNotes: lateral shifts are applied to each layer's transmittance by a Fourier (sub-pixel, "
            "periodic) shift, axial errors change the free-space distance after the layer "
            "(hardware/diffractive.py). The results tables above the curves list the aligned test accuracy "
            "of the validation-selected parameters (selection on the aligned, error-free validation split).\n")


def write_reproduction_doc(run_dir: Path, doc_path: Path, *, title: str = "Vaccination (Mengu et al. 2020)") -> Path:
    """Write a reproduction page (markdown) from a finished run directory's ``summary.json``
    and ``sweep.json``; the figure is copied next to the page."""
    import shutil

    run_dir, doc_path = Path(run_dir), Path(doc_path)
    cfg_d = json.loads((run_dir / "config.json").read_text())["config"]
    cfg = VaccinationConfig(**cfg_d)
    summary = json.loads((run_dir / "summary.json").read_text())
    sweep = json.loads((run_dir / "sweep.json").read_text())
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    parts = [f"# {title}\n", "Generated by `experiments.vaccination.write_reproduction_doc` from the run record "
             f"`{run_dir.name}`.\n", _intro(cfg) + "\n"]
    if "classifier" in cfg.network_list:
        curves = {arm: [sweep[f"classifier/{arm}/{lv['factor']:g}"] for lv in misalignment_levels(cfg)]
                  for arm in ARMS}
        crit = criterion(curves)
        fig_src = run_dir / "figures" / "classifier_accuracy_vs_misalignment.png"
        fig_name = doc_path.stem + "_classifier.png"
        if fig_src.exists():
            shutil.copyfile(fig_src, doc_path.parent / fig_name)
        parts += ["## Classifier\n", _curve_table(curves, cfg, "accuracy", "accuracy (%)", 100.0) + "\n",
                  _criterion_text(crit, "classifier", "test accuracy") + "\n",
                  f"![classifier accuracy vs misalignment]({fig_name})\n"]
        t = {k: v.get("wall_time_s") for k, v in summary.items() if isinstance(v, dict) and "wall_time_s" in v}
        if t:
            parts.append("Training wall time per arm (s): " + ", ".join(f"{k} {v:.0f}" for k, v in t.items()) + ".\n")
    if "wall_time_total_s" in summary:
        parts.append(f"Total wall time of the run: {summary['wall_time_total_s'] / 60:.1f} min.\n")
    parts.append("## Configuration\n\n```json\n" + json.dumps(asdict(cfg), indent=2) + "\n```\n")
    doc_path.write_text("\n".join(parts))
    return doc_path
