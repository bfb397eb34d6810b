"""vaccination — misalignment-resilient diffractive networks (Mengu et al., Nanophotonics 2020;
docs/references.md#vaccination and #diffusers).

A *standard* network is trained error-free (method ``ideal``); a *vaccinated* one is trained
with method ``noise``: every batch each phase layer gets a fresh independent 3-D displacement,
uniform in ±Δ per lateral axis and ±Δz along the axis (:class:`LayerDisplacements`). A layer
displaced axially by δ_l moves both planes it borders: the gap after it changes by
δ_{l+1} − δ_l (the output plane is fixed, δ_L = 0; for the classifier the input image lies
on the first layer's plane, so δ_0 only moves layer 0 relative to layer 1).
Both are then tested over a grid of test misalignments Δ_test = s·Δ (and s·Δz) for s in
``test_factors``, with ``test_draws`` independent random draws per level; every draw is shared
by both networks (paired comparison), and s = 0 is the perfectly aligned device (one draw).

Networks (``networks``):

* ``classifier`` — Lin et al. (2018) THz D2NN classifier (λ 0.75 mm, 5 phase-only layers of
  200×200 at 0.4 mm, 3 cm apart, ten detector regions), MNIST, softmax cross-entropy;
  metric: test accuracy.
* ``imaging`` — the diffuser-imaging network of Luo et al. (eLight 2, 4 (2022)), built
  and trained by :mod:`experiments.diffuser_imaging`; metric: PCC of the output to the object
  through random diffusers. Needs that module (see :func:`_imaging_module`).

The acceptance criterion is stated and checked in the report: at Δ_test = Δ the
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

from hardware import LayerDisplacements
from training import TrainConfig

from . import figures, records
from .registry import register
from .runtime import Runtime
from .study import (
    Arm,
    best_states,
    diffractive_task,
    load_data,
    run_arms,
    write_study_record,
)

__all__ = [
    "SCALES",
    "LayerDisplacements",
    "VaccinationConfig",
    "classifier_arms",
    "criterion",
    "imaging_config",
    "imaging_vaccine",
    "misaligned_accuracy",
    "misalignment_levels",
    "run",
    "run_imaging",
    "sweep_classifier",
    "vaccine",
    "write_reproduction_doc",
]

NETWORKS = ("classifier", "imaging")


def _override_pairs(spec: str) -> list[str]:
    """``"key=value,key=value"`` -> ``["--key", "value", ...]`` (values parsed later by type)."""
    out = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if "=" not in part:
            raise ValueError(f"imaging_overrides items must be key=value, got {part!r} in {spec!r}")
        k, v = (t.strip() for t in part.split("=", 1))
        out += [f"--{k}", v]
    return out
ARMS = ("standard", "vaccinated")
RETENTION = 0.90  # the vaccinated classifier keeps ≥ 90% of its aligned accuracy at Δ_test = Δ
MARGIN = 0.05     # ... and the standard one keeps at least 5 points (of retention) less


@dataclass(frozen=True)
class VaccinationConfig:
    """Settings (SI units unless the name says otherwise).

    ``shift_max_px`` is the training half-width Δ of the lateral shift per layer and axis in
    pixel pitches; ``axial_max_m`` the training half-width Δz of the axial displacement of each layer (m).
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
    shift_max_px: float = 1.0
    axial_max_m: float = 1.5e-3
    test_factors: str = "0,0.5,1,1.5,2"
    test_draws: int = 20
    eval_batch_size: int = 500
    imaging_scale: str = "paper"
    imaging_overrides: str = ""
    imaging_shift_max_px: float = 1.0
    imaging_axial_max_m: float = 0.3e-3
    imaging_test_objects: int = 200
    imaging_test_diffusers: int = 4
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
        for name in ("shift_max_px", "axial_max_m"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number ≥ 0, got {v!r}")
        if self.shift_max_px == 0 and self.axial_max_m == 0:
            raise ValueError("shift_max_px and axial_max_m are both 0: there is nothing to vaccinate against")
        if self.imaging_scale not in ("smoke", "cpu", "paper"):
            raise ValueError(f"imaging_scale must be smoke, cpu or paper, got {self.imaging_scale!r}")
        for name in ("imaging_shift_max_px", "imaging_axial_max_m"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number ≥ 0, got {v!r}")
        _override_pairs(self.imaging_overrides)
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
# 5 layers), digits resized to 32 px, 8000 training images (10% held out for validation), 1000
# test images, 4 epochs, 16 draws per misalignment level; the classifier only (the imaging part
# is opt-in: --networks classifier,imaging; at cpu scale it is the diffuser-imaging cpu geometry,
# 120² at 0.3 mm, with its training pinned here so that later changes of that experiment's
# scale do not change this one: 12 diffusers per epoch, lr 0.03 decayed ×0.92 per epoch, 200
# objects, 5 epochs; tested on 50 test objects × 4 new diffusers)
SCALES = {
    "smoke": dict(grid_px=24, layers=2, gap_m=0.01, image_px=12, region_px=2, region_spacing_px=5, n_train=100,
                  n_test=40, epochs=1, batch_size=25, test_factors="0,1,2", test_draws=2, imaging_scale="smoke",
                  imaging_test_objects=8),
    "cpu": dict(grid_px=64, image_px=32, region_px=4, region_spacing_px=10, n_train=8000, n_test=1000, epochs=4,
                lr_step_epochs=2, test_draws=16, imaging_scale="cpu", imaging_test_objects=50,
                imaging_overrides="diffusers_per_epoch=12,n_train=200,epochs=5,lr=0.03,lr_decay=0.92,n_val=12,"
                                  "n_val_new=2"),
    "paper": dict(),
}


def misalignment_levels(cfg: VaccinationConfig) -> list[dict]:
    """The test grid: ``[{"factor", "shift_max_m", "axial_max_m", "draws"}]`` (one draw when aligned)."""
    return [{"factor": s, "shift_max_m": s * cfg.shift_max_m, "axial_max_m": s * cfg.axial_max_m,
             "draws": 1 if s == 0 else cfg.test_draws} for s in cfg.factor_list]


def _draw_generator(cfg: VaccinationConfig, level: int, draw: int) -> torch.Generator:
    # shared by both arms (paired comparison); independent of the training seed
    return torch.Generator().manual_seed(cfg.eval_seed * 1_000_003 + 1000 * level + draw)


def _classifier_task(cfg: VaccinationConfig):
    return diffractive_task(grid_px=cfg.grid_px, pitch_m=cfg.pitch_m, wavelength_m=cfg.wavelength_m,
                            layers=cfg.layers, gap_m=cfg.gap_m, image_px=cfg.image_px, region_px=cfg.region_px,
                            region_spacing_px=cfg.region_spacing_px, temperature=cfg.temperature,
                            active_px=cfg.grid_px)


def vaccine(cfg: VaccinationConfig, factor: float = 1.0) -> LayerDisplacements:
    """The classifier's uniform 3-D layer displacements at ``factor`` × the training half-widths."""
    return LayerDisplacements(factor * cfg.shift_max_m, factor * cfg.axial_max_m)


def imaging_vaccine(cfg: VaccinationConfig, pitch_m: float, factor: float = 1.0) -> LayerDisplacements:
    """The imaging network's uniform 3-D layer displacements at ``factor`` × its half-widths
    (lateral in pixels of ``pitch_m``)."""
    return LayerDisplacements(factor * cfg.imaging_shift_max_px * pitch_m, factor * cfg.imaging_axial_max_m)


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
            records.atomic_json(path, done)
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
    return figures._save(fig, path)


def _curve_table(curves: dict, metric: str, unit: str, scale: float) -> str:
    lines = [f"| Δ_test / Δ | lateral ±(mm) | axial ±(mm) | draws | standard {unit} | vaccinated {unit} |",
             "|---|---|---|---|---|---|"]
    d = 2 if scale == 100.0 else 4
    for rs, rv in zip(curves["standard"], curves["vaccinated"]):
        lines.append(f"| {rs['factor']:g} | {rs['shift_max_m'] * 1e3:.2f} | {rs['axial_max_m'] * 1e3:.2f} | "
                     f"{rs['draws']} | {scale * rs[metric]['mean']:.{d}f} ± {scale * rs[metric]['std']:.{d}f} | "
                     f"{scale * rv[metric]['mean']:.{d}f} ± {scale * rv[metric]['std']:.{d}f} |")
    return "\n".join(lines)


def _criterion_text(crit: dict, name: str, metric: str) -> str:
    s, v = crit["standard"], crit["vaccinated"]
    verdict = "**holds**" if crit["holds"] else "**does not hold**"
    k, u = (100, "%") if metric == "test accuracy" else (1, "")
    return (f"Criterion ({crit['rule']}) for the {name}: {verdict}. Standard: aligned {k * s['aligned']:.3g}{u}, "
            f"at Δ {k * s['at_delta']:.3g}{u} (keeps {100 * s['retention']:.1f}%); vaccinated: aligned "
            f"{k * v['aligned']:.3g}{u}, at Δ {k * v['at_delta']:.3g}{u} (keeps {100 * v['retention']:.1f}%) "
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


def imaging_config(cfg: VaccinationConfig):
    """The :class:`experiments.diffuser_imaging.ImagingConfig` of the imaging part: that
    experiment's ``imaging_scale`` settings, then ``imaging_overrides``; the seed is ours."""
    from .registry import parse_overrides

    di = _imaging_module()
    base = dict(di.SCALES.get(cfg.imaging_scale, {}), seed=cfg.seed)
    return parse_overrides(di.ImagingConfig, _override_pairs(cfg.imaging_overrides), base=base)


def run_imaging(cfg: VaccinationConfig, out_dir: Path, *, resume: bool, runtime: Runtime | None = None) -> dict | None:
    """Train standard and vaccinated imaging networks, then PCC (object region, new diffusers)
    over the misalignment grid. Returns figures, report section, datasets, criterion, results."""
    runtime = runtime or Runtime()
    di = _imaging_module()
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
        rows = []
        for li, level in enumerate(misalignment_levels(cfg)):
            key = f"imaging/{arm}/{level['factor']:g}"
            if key in done:
                rows.append(done[key])
                continue
            t1 = time.perf_counter()
            vals, by_region = [], {"support": [], "canvas": []}
            for d in range(level["draws"]):
                shifts, delta = imaging_vaccine(cfg, icfg.pitch_m, level["factor"]).displacements(
                    icfg.layers, generator=_draw_generator(cfg, li, d))
                pccs = di.evaluate_pcc(model, objects, diffusers, shifts=shifts, gaps=delta, region="all")
                vals.append(pccs["square"])
                for reg in by_region:
                    by_region[reg].append(pccs[reg])
            row = {"factor": level["factor"], "shift_max_m": level["factor"] * cfg.imaging_shift_max_px * icfg.pitch_m,
                   "axial_max_m": level["factor"] * cfg.imaging_axial_max_m, "draws": level["draws"],
                   "pcc": _summarise(vals), "pcc_support": _summarise(by_region["support"]),
                   "pcc_canvas": _summarise(by_region["canvas"]), "wall_time_s": time.perf_counter() - t1}
            rows.append(row)
            done[key] = row
            records.atomic_json(path, done)
            print(f"[imaging-{arm}] Δ_test = {level['factor']:g}·Δ: PCC {row['pcc']['mean']:.4f} ± "
                  f"{row['pcc']['std']:.4f} ({level['draws']} draws)", flush=True)
        curves[arm] = rows
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


# -- the experiment -----------------------------------------------------------------------------------
@register("vaccination", "Misalignment vaccination of diffractive networks (Mengu et al., Nanophotonics 2020)",
          VaccinationConfig, runtime={"smoke": "15 s", "cpu": "20 min", "paper": "hours (GPU)"}, scales=SCALES)
def run(cfg: VaccinationConfig, out_dir: Path, *, resume: bool = False, runtime: Runtime | None = None) -> dict:
    runtime = runtime or Runtime()
    out_dir = Path(out_dir)
    if runtime.is_main:
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
        records.write_config(out_dir / "config.json", "vaccination", cfg, cfg.seed)
    t_start = time.perf_counter()
    if "imaging" in cfg.network_list:
        _imaging_module()  # fail early and clearly, before any training
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


def write_reproduction_doc(doc_path: Path, *run_dirs: Path, title: str = "Vaccination (Mengu et al. 2020)",
                           discussion: str = "") -> Path:
    """Write a reproduction page (markdown) from finished run directories (their
    ``config.json``, ``summary.json`` and ``sweep.json``); figures are copied next to the page.
    ``discussion`` (markdown) is placed before the runs, as their summary."""
    import shutil

    doc_path = Path(doc_path)
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    parts = [f"# {title}\n", "Generated by `experiments.vaccination.write_reproduction_doc` from the run records "
             + ", ".join(f"`{Path(r).name}`" for r in run_dirs) + " (`python -m experiments run vaccination ...`).\n"]
    if discussion:
        parts.append("## Summary and discussion\n\n" + discussion.strip() + "\n")
    for run_dir in map(Path, run_dirs):
        cfg = VaccinationConfig(**json.loads((run_dir / "config.json").read_text())["config"])
        summary = json.loads((run_dir / "summary.json").read_text())
        sweep = json.loads((run_dir / "sweep.json").read_text())
        parts += [f"## Run `{run_dir.name}` (networks: {cfg.networks})\n", _intro(cfg) + "\n"]
        if "classifier" in cfg.network_list:
            curves = {arm: [sweep[f"classifier/{arm}/{lv['factor']:g}"] for lv in misalignment_levels(cfg)]
                      for arm in ARMS}
            fig_name = f"{doc_path.stem}_{run_dir.name}_classifier.png"
            fig_src = run_dir / "figures" / "classifier_accuracy_vs_misalignment.png"
            if fig_src.exists():
                shutil.copyfile(fig_src, doc_path.parent / fig_name)
            parts += ["### Classifier: test accuracy vs test misalignment (mean ± std over draws)\n",
                      _curve_table(curves, "accuracy", "accuracy (%)", 100.0) + "\n",
                      _criterion_text(criterion(curves), "classifier", "test accuracy") + "\n",
                      _comparison(curves) + "\n", f"![classifier accuracy vs misalignment]({fig_name})\n"]
        if "imaging" in cfg.network_list:
            rec = run_dir / "imaging_config.json"  # as run (the diffuser-imaging scales may change later)
            icfg = (_imaging_module().ImagingConfig(**json.loads(rec.read_text())["config"]) if rec.exists()
                    else imaging_config(cfg))
            curves = {arm: [sweep[f"imaging/{arm}/{lv['factor']:g}"] for lv in misalignment_levels(cfg)]
                      for arm in ARMS}
            fig_name = f"{doc_path.stem}_{run_dir.name}_imaging.png"
            fig_src = run_dir / "figures" / "imaging_pcc_vs_misalignment.png"
            if fig_src.exists():
                shutil.copyfile(fig_src, doc_path.parent / fig_name)
            parts += ["### Imaging network: PCC vs test misalignment (mean ± std over draws)\n",
                      (f"diffuser-imaging geometry at scale {cfg.imaging_scale!r}"
                      f"{' with ' + cfg.imaging_overrides if cfg.imaging_overrides else ''}: {icfg.layers} layers of "
                      f"{icfg.grid_px}² at {icfg.pitch_m * 1e3:g} mm, {icfg.layer_gap_m * 1e3:g} mm apart, trained on "
                       f"{icfg.n_train} objects × {icfg.epochs} epochs × {icfg.diffusers_per_epoch} diffusers per epoch, "
                       f"lr {icfg.lr:g} ×{icfg.lr_decay:g} per epoch; vaccination "
                      f"±{cfg.imaging_shift_max_px:g} px (±{cfg.imaging_shift_max_px * icfg.pitch_m * 1e3:.2f} mm) "
                      f"lateral, ±{cfg.imaging_axial_max_m * 1e3:.2f} mm axial per layer; PCC over the object region, "
                      f"{cfg.imaging_test_objects} test objects × {cfg.imaging_test_diffusers} new diffusers.\n"),
                      _curve_table(curves, "pcc", "PCC", 1.0) + "\n",
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
    doc_path.write_text("\n".join(parts))
    return doc_path
