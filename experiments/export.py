"""``python -m experiments export RUN_DIR``: fabrication files and a tolerance report for the
best diffractive design of a run (docs/export.md).

The design is re-simulated on test images while one fabrication or assembly error at a time
is swept (:mod:`training.tolerance`: relief height, quantization levels, lateral and axial
misalignment, wavelength detuning); this module finds the design in a run, writes the files,
the figure and the report section.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from hardware import writers
from hardware.export import HeightMap, export_heights
from hardware.materials import MATERIALS, get_material
from training.checkpoint import atomic_directory, read_json, read_torch
from training.records import atomic_json, atomic_text, markdown_table
from training.tolerance import phases_of, tolerance_sweep

from training import figures

__all__ = ["FORMATS", "Design", "designs", "load_design", "export_run", "add_parser", "main"]

FORMATS = ("hdf5", "png", "csv", "stl", "gds")
CLASSIFIER_RUNS = ("quickstart", "dat-dpnn", "d2nn-classifier", "vaccination")
PHASE_RUNS = ("beam-splitter", "diffuser-imaging", "vaccination")  # designs without a test-set task


@dataclass
class Design:
    """One exportable diffractive design of a run.

    ``phases`` ``(L, ny, nx)`` rad at ``wavelength_m`` on pixels of ``pitch_m``; ``task`` (a
    trained DiffractiveTask) and ``dcfg`` only for classifiers, whose tolerance report sweeps
    the test accuracy; other designs (beam splitter, imaging) get the fabrication files only.
    """

    arm: str
    phases: torch.Tensor
    wavelength_m: float
    pitch_m: float
    task: object = None
    dcfg: object = None


def _read_json(path: Path) -> dict:
    return read_json(path, missing="not a finished run directory", hint=None)


def _load_torch(path: Path):
    return read_torch(path, missing="the run did not finish", hint=None)


def _run_config(run_dir: Path) -> tuple[str, dict]:
    cfg = _read_json(run_dir / "config.json")
    if not isinstance(cfg, dict) or "experiment" not in cfg or not isinstance(cfg.get("config"), dict):
        raise ValueError(f"{run_dir / 'config.json'} is not an onnsim run configuration")
    return cfg["experiment"], cfg["config"]


def _diffractive_config(run_dir: Path):
    name, c = _run_config(run_dir)
    if name == "quickstart":
        from .designs.quickstart import QuickstartConfig, _diffractive_cfg
        return _diffractive_cfg(QuickstartConfig(**c))
    if name == "dat-dpnn":
        from .dat.dpnn import DatDpnnConfig
        return DatDpnnConfig(**c)
    if name == "d2nn-classifier":
        from .d2nn.runner import D2nnConfig
        return D2nnConfig(**c)
    if name == "vaccination":
        from .vaccination import VaccinationConfig
        return VaccinationConfig(**c)
    raise ValueError(f"run {run_dir} is a {name!r} run, which has no trained diffractive classifier")


def _classifier_arms(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if isinstance(v, dict) and v.get("family") == "diffractive"}


def _phase_designs(run_dir: Path, name: str, c: dict) -> dict:
    """``{arm: loader}`` of the designs that are phase masks only (no classifier task)."""
    if name == "beam-splitter":
        def load():
            state = _load_torch(run_dir / "model.pt")
            keys = sorted((k for k in state if k.endswith(".phase")), key=lambda k: [int(p) if p.isdigit() else p
                                                                                       for p in k.split(".")])
            if not keys:
                raise ValueError(f"{run_dir / 'model.pt'} holds no phase masks")
            phases = torch.stack([state[k].detach().double() for k in keys])
            return Design("beam-splitter", phases, float(c["wavelength_m"]), float(c["pitch_m"]))
        return {"beam-splitter": load}
    if name == "diffuser-imaging":
        def load():
            phases = _load_torch(run_dir / "model.pt")["phase"]
            return Design("diffuser-imaging", phases.detach().double(), float(c["wavelength_m"]), float(c["pitch_m"]))
        return {"diffuser-imaging": load}
    if name == "vaccination" and (run_dir / "imaging_config.json").exists():
        ic = _read_json(run_dir / "imaging_config.json")["config"]
        model = _load_torch(run_dir / "model.pt")
        out = {}
        for k, v in model.items():
            if k.startswith("imaging-") and isinstance(v, dict) and "phase" in v:
                out[k] = (lambda k=k, v=v: Design(k, torch.as_tensor(v["phase"]).detach().double(),
                                                   float(ic["wavelength_m"]), float(ic["pitch_m"])))
        return out
    return {}


def designs(run_dir: Path) -> dict:
    """``{arm: loader}`` for every diffractive design of a finished run (classifier arms first,
    best physical accuracy first); ``loader()`` returns a :class:`Design`. Empty when the run
    holds no diffractive design (e.g. a mesh-only run)."""
    run_dir = Path(run_dir)
    if not (run_dir / "summary.json").exists():
        raise ValueError(f"{run_dir} is not a finished run directory (no summary.json)")
    name, c = _run_config(run_dir)
    summary = _read_json(run_dir / "summary.json")
    out = {}
    if name in CLASSIFIER_RUNS and isinstance(summary, dict):
        arms = _classifier_arms(summary)
        order = sorted(arms, key=lambda k: -arms[k].get("physical_accuracy", arms[k].get("numeric_accuracy", 0.0)))
        for k in order:
            out[k] = lambda k=k: _load_classifier(run_dir, k)
    if name in PHASE_RUNS:
        out.update(_phase_designs(run_dir, name, c))
    return out


def _load_classifier(run_dir: Path, arm: str) -> Design:
    dcfg = _diffractive_config(run_dir)
    if type(dcfg).__name__ == "VaccinationConfig":
        from .vaccination.runner import _classifier_task
        task = _classifier_task(dcfg)
    elif type(dcfg).__name__ == "D2nnConfig":  # its own geometry: a gap before the first layer
        from .d2nn.runner import build_task
        task = build_task(dcfg)
    else:
        from .dat.dpnn import diffractive_arms
        task, _, _ = diffractive_arms(dcfg, "none")[0].build()
    best = run_dir / "checkpoints" / f"{arm}.best.pt"
    if best.exists():
        state = _load_torch(best)
    else:  # the checkpoints were removed: model.pt holds the selected state of every arm
        model = _load_torch(run_dir / "model.pt")
        if arm not in model:
            raise ValueError(f"neither {best} nor {run_dir / 'model.pt'} holds the parameters of {arm!r}")
        state = model[arm]
    task.load_state_dict(state)
    task.eval()
    return Design(arm, phases_of(task), float(dcfg.wavelength_m), float(dcfg.pitch_m), task, dcfg)


def load_design(run_dir: Path, arm: str | None = None):
    """``(task, dcfg, arm)``: the trained DiffractiveTask of classifier ``arm`` (default: the
    diffractive arm with the best physical accuracy)."""
    run_dir = Path(run_dir)
    if not (run_dir / "summary.json").exists():
        raise ValueError(f"{run_dir} is not a finished run directory (no summary.json)")
    d = _choose(run_dir, arm)
    if d.task is None:
        raise ValueError(f"design {d.arm!r} of {run_dir} is not a classifier (phase masks only)")
    return d.task, d.dcfg, d.arm


def _choose(run_dir: Path, arm: str | None) -> Design:
    found = designs(run_dir)
    if not found:
        name, _ = _run_config(run_dir)
        raise ValueError(f"run {run_dir} ({name}) holds no diffractive design to export; export needs a run of "
                         f"{', '.join(sorted(set(CLASSIFIER_RUNS + PHASE_RUNS)))}")
    if arm is None:
        arm = next(iter(found))
    elif arm not in found:
        raise ValueError(f"unknown diffractive arm {arm!r}; available: {', '.join(found)}")
    return found[arm]()


def _figure(result: dict, path: Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    names = [k for k in result if k != "nominal"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        r = result[name]
        m, s = torch.tensor(r["mean"]) * 100, torch.tensor(r["std"]) * 100
        ax.errorbar(r["values"], m, yerr=s, fmt="o-", capsize=3)
        ax.axhline(100 * r["reference"] - 1, color="gray", ls="--", lw=0.8, label="reference − 1 point")
        if name == "levels":
            ax.set_xscale("log", base=2)
        ax.set_xlabel(r["label"], fontsize=8)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(name)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return figures.save(fig, path)


_SECTION = "\n## Fabrication export and tolerances\n"  # report.md's section of the export


def _report(result: dict, arm: str, hmap: HeightMap, n_test: int, draws: int, fig_name: str) -> str:
    rows = []
    for name, r in result.items():
        if name == "nominal":
            continue
        pts = ", ".join(f"{v:g}: {100 * m:.1f}" for v, m in zip(r["values"], r["mean"]))
        thr = r["threshold"]
        thr_s = "never (within the grid)" if thr is None else (f"≥ {thr} levels" if name == "levels" else f"{thr:.3g}")
        rows.append([name, r["label"], f"{100 * r['reference']:.1f}", thr_s, pts])
    mat = hmap.material
    return f"""
## Fabrication export and tolerances

Design `{arm}` printed in **{mat.name}** (n = {mat.refractive_index}, κ = {mat.extinction}; {mat.source}),
λ = {hmap.wavelength * 1e3:.4g} mm, pitch {hmap.pitch * 1e3:.4g} mm, 2π height λ/(n − 1) =
{hmap.period * 1e3:.4g} mm, {hmap.levels or 'continuous'} levels, base {hmap.base_thickness * 1e3:.4g} mm
(files in `export/`, docs/export.md). The exported design (quantized, absorbing) re-simulated
without errors: **{100 * result['nominal']:.1f}%** on {n_test} test images. Each error is swept
alone, {draws} random draws per point (mean shown; figure with ± std).

{markdown_table(["error", "unit", "reference accuracy (%)", "error at which accuracy drops 1 point",
                 "accuracy (%) at each value"], rows)}

![accuracy vs fabrication errors](figures/{fig_name})
"""


def export_run(run_dir: Path, *, arm: str | None = None, formats=("all",), material: str | None = None,
               levels: int | None = 8, base_thickness_mm: float = 0.5, tolerance: bool = True, draws: int = 3,
               n_test: int = 300, seed: int = 0, log=print) -> dict:
    """Write ``RUN_DIR/export/*`` and (with ``tolerance``) the tolerance report; returns what was written."""
    run_dir = Path(run_dir)
    formats = FORMATS if "all" in formats else tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)} or all")
    design = _choose(run_dir, arm)
    task, dcfg, arm = design.task, design.dcfg, design.arm
    wl = design.wavelength_m
    mat = get_material(material) if material else min(MATERIALS.values(),
                                                      key=lambda m: abs(math.log(m.wavelength / wl)))
    if abs(math.log(mat.wavelength / wl)) > 0.1:
        log(f"note: {mat.name} values hold at {mat.wavelength * 1e9:.4g} nm, the design is at {wl * 1e9:.4g} nm")
    kw = dict(wavelength=wl, pitch=design.pitch_m, material=mat, base_thickness=base_thickness_mm * 1e-3)
    phases = design.phases
    hmap = export_heights(phases, levels=levels, **kw)
    out = run_dir / "export"
    result = md = None
    with atomic_directory(out) as tmp:  # export/ holds one export's files: never a mix of two
        written = [writers.write_hdf5(hmap, tmp / "heights.h5", attrs={"design": arm, "run": str(run_dir)})]
        for f in formats:
            if f == "png":
                written += writers.write_png16(hmap, tmp)
            elif f == "csv":
                written += writers.write_csv(hmap, tmp)
            elif f == "stl":
                written += writers.write_stl(hmap, tmp)
            elif f == "gds":
                if hmap.levels is None:
                    log("skipping gds: it needs --levels ≥ 2")
                else:
                    written.append(writers.write_gds(hmap, tmp / "layers.gds"))
        if tolerance and task is None:
            log(f"no tolerance report for {arm}: the accuracy sweep needs a classifier (this design is phase "
                "masks only); fabrication files written")
        elif tolerance:
            from training.study import load_data
            _, _, xt, yt = load_data(dcfg.dataset, 10, n_test, dcfg.seed)
            result = tolerance_sweep(task, hmap, xt, yt, continuous=export_heights(phases, **kw), draws=draws,
                                     seed=seed)
            (run_dir / "figures").mkdir(exist_ok=True)
            fig = _figure(result, run_dir / "figures" / "export_tolerance.png", f"{arm}: accuracy vs fabrication errors")
            atomic_json(tmp / "tolerance.json", result, indent=1)
            md = _report(result, arm, hmap, len(yt), draws, fig.name)
            atomic_text(tmp / "tolerance.md", md.replace("](figures/", "](../figures/"))
            written += [tmp / "tolerance.json", tmp / "tolerance.md"]
    written = [out / p.relative_to(tmp) for p in written]
    # report.md's export section describes the export now in export/ (none without a tolerance report)
    report = run_dir / "report.md"
    text = report.read_text() if report.exists() else ""
    head, had_section = text.split(_SECTION)[0], _SECTION in text
    if md is not None:
        written.append(fig)
    else:  # a figure of an earlier export no longer describes export/
        (run_dir / "figures" / "export_tolerance.png").unlink(missing_ok=True)
    if md is not None or had_section:
        atomic_text(report, head.rstrip("\n") + "\n" + (md or ""))
        written.append(report)
    for p in written:
        log(f"wrote {p}")
    return {"arm": arm, "written": [str(p) for p in written], "tolerance": result, "height_map": hmap}


def add_parser(sub) -> None:
    e = sub.add_parser("export", help="fabrication files (HDF5, PNG, CSV, STL, GDSII) and a tolerance report "
                                      "for a run's best diffractive design")
    e.add_argument("run_dir")
    e.add_argument("--arm", help="diffractive arm (default: best physical accuracy)")
    e.add_argument("--format", default="all", help=f"comma list of {', '.join(FORMATS)} or all (HDF5 is always written)")
    e.add_argument("--material", help=f"one of {', '.join(MATERIALS)} (default: closest to the design wavelength)")
    e.add_argument("--levels", type=int, default=8, help="quantization levels ≥ 2, 0 = continuous (default 8)")
    e.add_argument("--base-thickness-mm", type=float, default=0.5, help="base plate thickness in mm (default 0.5)")
    e.add_argument("--tolerance", action=argparse.BooleanOptionalAction, default=True,
                   help="Monte-Carlo tolerance report (default on)")
    e.add_argument("--draws", type=int, default=3, help="random draws per error value (default 3)")
    e.add_argument("--n-test", type=int, default=300, help="test images for the tolerance report (default 300)")
    e.add_argument("--seed", type=int, default=0, help="seed of the error draws")


def main(args) -> int:
    try:
        if args.draws < 1 or args.n_test < 1:
            raise ValueError(f"--draws and --n-test must be ≥ 1, got {args.draws} and {args.n_test}")
        export_run(Path(args.run_dir), arm=args.arm, formats=[f.strip() for f in args.format.split(",")],
                   material=args.material, levels=args.levels or None, base_thickness_mm=args.base_thickness_mm,
                   tolerance=args.tolerance, draws=args.draws, n_test=args.n_test, seed=args.seed)
    except (ValueError, ImportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
