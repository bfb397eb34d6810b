"""The DAT reproduction runs as the report reads them: loading and sorting run directories
(main table, draws, seeds × draws study, ablation, reference protocol), the published numbers,
and the small formatters the report's tables share.

A run is an ordinary ``python -m experiments run dat-mpnn|dat-dpnn`` directory; only its
``config.json`` and ``progress.json`` (per-arm results, written as each arm finishes) are read.
"""

from __future__ import annotations

import math
from pathlib import Path
from ..reports import read_record

__all__ = ["PUBLISHED", "PUBLISHED_ERROR_FREE", "METHODS", "collect", "dat_setting", "recovery"]

MAIN_ERROR_SEED = 1  # the hidden error draw of the table rows (DatMpnnConfig.error_seed)

# (arm label, column name, index into the published tuple or None)
METHODS = (("mesh-ideal", "direct", 0), ("mesh-pat", "PAT", 1), ("mesh-pat-field", "PAT-field", None),
           ("mesh-dat", "DAT w/o IS", 2), ("mesh-dat-is", "DAT w/ IS", 3))

# Zheng et al., Nat. Mach. Intell. 5 (2023), physical-system test accuracy (%) (docs/references.md#dat):
# (bs, ps) -> dataset -> (direct, PAT, DAT w/o IS, DAT w/ IS)
PUBLISHED = {
    (0.04, 0.04): {"mnist": (86.3, 92.6, 95.5, 96.0), "fashion-mnist": (62.2, 73.6, 84.7, 85.6)},
    (0.04, 0.06): {"mnist": (76.4, 86.8, 93.8, 94.9), "fashion-mnist": (61.3, 76.4, 82.3, 83.9)},
    (0.06, 0.04): {"mnist": (72.6, 86.5, 94.3, 95.3), "fashion-mnist": (60.9, 76.6, 82.3, 84.4)},
    (0.08, 0.02): {"mnist": (85.1, 83.0, 93.5, 93.8), "fashion-mnist": (68.0, 72.2, 82.5, 84.2)},
    (0.06, 0.06): {"mnist": (66.6, 84.6, 90.3, 93.0), "fashion-mnist": (54.3, 65.4, 78.6, 83.0)},
}

PUBLISHED_ERROR_FREE = {"mnist": 96.8, "fashion-mnist": 86.0}

def _load(run_dir: Path) -> dict | None:
    cfg_path, prog_path = run_dir / "config.json", run_dir / "progress.json"
    if not cfg_path.exists():
        return None
    cfg = read_record(cfg_path)
    arms = read_record(prog_path, default={})
    return {"name": run_dir.name, "dir": run_dir, "experiment": cfg["experiment"], "config": cfg["config"],
            "arms": arms, "complete": all(lbl in arms for lbl in _expected(cfg["experiment"], cfg["config"]))}

def dat_setting(config: dict, *, internal_states: bool = True) -> str:
    """How the DAT arms with (or without) internal states of a dat-mpnn run with stored ``config``
    trained, in words (keys added after the run take the values it used,
    ``DatMpnnConfig.LEGACY_DEFAULTS``)."""
    from training.records import with_legacy

    from .mpnn import DatMpnnConfig

    c = with_legacy(config, DatMpnnConfig.LEGACY_DEFAULTS)
    keys = (("dat_is_reference_joint", "dat_is_sepn_lr_gamma", "dat_is_lr_factor") if internal_states
            else ("reference_joint", "sepn_lr_gamma", "dat_lr_factor"))
    joint, gamma, factor = (c[k] for k in keys)
    sepn = c["dat_is_sepn_lr_factor"] if internal_states else 1  # the w/o IS arms use sepn_learning_rate itself
    return ("similarity gradients on the SEPNs " + ("and the mesh phases (the reference code's joint rule)"
                                                     if joint else "only") +
            (", SEPN rate constant" if gamma == 1 else f", SEPN rate ×{gamma:g} at each step of the phases'") +
            ("" if factor == 1 else f", the phases' rate ×{factor:g} from the SEPNs' switch-on") +
            ("" if sepn == 1 else f", SEPN learning rate ×{sepn:g}"))


def loss_setting(config: dict) -> str:
    """The task loss of a dat-mpnn run with stored ``config``, in words (``score_scale``; runs
    made before the key existed used 1)."""
    from training.records import with_legacy

    from .mpnn import DatMpnnConfig

    k = with_legacy(config, DatMpnnConfig.LEGACY_DEFAULTS)["score_scale"]
    return ("cross-entropy of the class scores (the ten class ports' share of the L2-normalised output "
            "intensities)" + (", the reference code's loss" if k == 1 else f" × {k:g}; the reference code: × 1"))


def _expected(experiment: str, config: dict) -> list[str]:
    """The arm labels a run of ``experiment`` with ``config`` trains."""
    prefix = "mesh" if experiment == "dat-mpnn" else "diffractive"
    return [f"{prefix}-{m.strip()}" for m in config["methods"].split(",") if m.strip()]

def collect(run_dirs) -> list[dict]:
    """The runs among ``run_dirs`` (those with a config.json), in the order given."""
    runs = [_load(Path(d)) for d in run_dirs]
    return [r for r in runs if r is not None]

def _is_draw(run: dict) -> bool:
    """A dat-mpnn run against another hidden error draw than the table's."""
    return run["experiment"] == "dat-mpnn" and run["config"].get("error_seed", MAIN_ERROR_SEED) != MAIN_ERROR_SEED

def _is_seed_study(run: dict) -> bool:
    """A run of the seeds × draws study (``seeds/`` of reproduce_dat.sh)."""
    return run["experiment"] == "dat-mpnn" and Path(run["dir"]).parent.name == "seeds"

def _is_ablation(run: dict) -> bool:
    """A run of the SEPN ablation (``ablation/`` of reproduce_dat.sh)."""
    return run["experiment"] == "dat-mpnn" and Path(run["dir"]).parent.name == "ablation"

def _is_protocol(run: dict) -> bool:
    """A run under the reference code's protocol (``--selection test``: best test epoch)."""
    return run["experiment"] == "dat-mpnn" and run["config"].get("selection", "validation") == "test"

def recovery(error_free: float, direct: float, trained: float) -> float:
    """Fraction of the accuracy lost by direct deployment that a method wins back.

    ``(trained − direct) / (error_free − direct)``; NaN when direct deployment lost nothing.
    """
    lost = error_free - direct
    return (trained - direct) / lost if lost > 0 else math.nan

def _num(v) -> str:
    """One decimal, or "–" for a missing (NaN) value."""
    return "–" if math.isnan(v) else f"{v:.1f}"

def _pct(v) -> str:
    return "–" if v is None else _num(100 * v)

def _acc(run: dict, label: str, key: str = "physical_accuracy"):
    arm = run["arms"].get(label)
    return None if arm is None else arm.get(key)

def _level(config: dict) -> tuple:
    """``(dataset, bs, ps)`` of a dat-mpnn run configuration."""
    return config["dataset"], round(config["bs_sigma"], 3), round(config["ps_sigma"], 3)

def _mesh_runs(runs, *, full: bool):
    out = {}
    for r in runs:
        if r["experiment"] != "dat-mpnn":
            continue
        c = r["config"]
        is_full = c["epochs"] >= 50 and c["n_train"] >= 60000
        key = _level(c)
        if is_full == full and (key not in out or c["epochs"] > out[key]["config"]["epochs"]):
            out[key] = r
    return out

def _preset(bs: float, ps: float) -> str:
    return f"bs={bs},ps={ps}"
