"""The registry of named experiments, their scales, and the parsing of configurations.

An experiment is a frozen dataclass of settings (units in the field names where not SI)
and a ``run(config, out_dir, *, resume)`` function. A *scale* (``smoke`` for tests, ``cpu``
for this 2-core machine, ``paper`` for the published setting on a GPU) is a named set of
overrides of the dataclass defaults; ``--key value`` options then override single fields.
Unknown keys or values of the wrong type are errors that list what is valid.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Experiment", "EXPERIMENTS", "SCALES", "register", "parse_overrides", "build_config", "check_values",
           "help_config", "field_docs", "field_help", "choices", "COMMON_HELP", "invoke", "scales_of"]

SCALES = ("smoke", "cpu", "paper")  # every experiment has these; some add their own (e.g. full-window)


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    config_type: type
    run: Callable
    runtime: dict  # scale -> expected wall time on the 2-core CPU machine (paper: GPU)
    scales: dict = field(default_factory=dict)  # scale -> overrides
    requires: Callable | None = None  # () -> (ok, why not): an external tool the run needs (e.g. Meep)
    reports: tuple = ()  # the study reports that read its runs (``python -m experiments report NAME``)


EXPERIMENTS: dict[str, Experiment] = {}


def register(name: str, description: str, config_type: type, runtime, scales: dict | None = None,
             requires: Callable | None = None, report: str | tuple = ()):
    """Decorator registering ``run(config, out_dir, *, resume, runtime)`` under ``name``.

    ``requires``: optional ``() -> (ok, why)`` saying whether an external tool the run needs is
    present; the CLI refuses to start without it and the smoke tests skip with ``why``.
    ``report``: the name (or names) of the study report that reads its run directories: the
    folder ``experiments/<report>/`` whose ``report.py`` writes the page (:mod:`experiments.reports`)."""
    if isinstance(runtime, str):
        runtime = {s: runtime for s in SCALES}
    scales = scales or {}
    valid = {f.name for f in dataclasses.fields(config_type)}
    for scale, overrides in scales.items():
        if not isinstance(scale, str) or not scale.replace("-", "").isalnum():
            raise ValueError(f"{name}: bad scale name {scale!r}")
        bad = set(overrides) - valid
        if bad:
            raise ValueError(f"{name}: scale {scale!r} overrides unknown keys {sorted(bad)}")

    def wrap(fn):
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} registered twice")
        EXPERIMENTS[name] = Experiment(name, description, config_type, fn, runtime, scales, requires,
                                       (report,) if isinstance(report, str) else tuple(report))
        return fn
    return wrap


def invoke(exp: Experiment, cfg, out_dir, *, resume: bool, runtime=None):
    """Call ``exp.run``, passing ``runtime`` when the experiment accepts one."""
    import inspect

    if runtime is not None and "runtime" in inspect.signature(exp.run).parameters:
        return exp.run(cfg, out_dir, resume=resume, runtime=runtime)
    if runtime is not None and runtime.ctx.distributed:
        raise ValueError(f"{exp.name} does not support several processes: run it without torchrun")
    return exp.run(cfg, out_dir, resume=resume)


def _convert(raw: str, typ, key: str):
    if typing.get_origin(typ) is typing.Literal:
        allowed = typing.get_args(typ)
        for value in allowed:
            if raw == str(value):
                return value
        raise ValueError(f"--{key} must be one of {', '.join(map(str, allowed))}, got {raw!r}")
    if isinstance(typ, str):
        typ = {"int": int, "float": float, "str": str, "bool": bool}.get(typ, str)
    if typ is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--{key} expects true/false, got {raw!r}")
    try:
        return typ(raw)
    except (TypeError, ValueError):
        raise ValueError(f"--{key} expects a value of type {getattr(typ, '__name__', typ)}, got {raw!r}") from None


def parse_overrides(config_type: type, pairs: list[str], base: dict | None = None):
    """Build ``config_type`` from ``base`` overrides and ``["--key", "value", ...]``."""
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    hints = typing.get_type_hints(config_type)
    values = dict(base or {})
    it = iter(pairs)
    for token in it:
        if not token.startswith("--"):
            raise ValueError(f"expected --key value pairs, got {token!r}")
        key = token[2:].replace("-", "_")
        if key not in fields:
            valid = ", ".join(f"--{k.replace('_', '-')}" for k in fields)
            raise ValueError(f"unknown option --{key.replace('_', '-')} for {config_type.__name__}; valid keys: {valid}")
        try:
            raw = next(it)
        except StopIteration:
            raise ValueError(f"--{key.replace('_', '-')} needs a value") from None
        values[key] = _convert(raw, hints.get(key, fields[key].type), key.replace("_", "-"))
    check_values(config_type, values)
    try:
        return config_type(**values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid configuration for {config_type.__name__}: {exc}") from None


COUNT_SUFFIXES = ("_px", "_size", "epochs", "layers", "meshes", "modes", "steps", "draws", "points", "_batch",
                 "per_epoch", "classes", "every")


def _is_count(name: str) -> bool:
    return (name.startswith("n_") or name.endswith(COUNT_SUFFIXES)) and "warmup" not in name


def _is_rate(name: str) -> bool:
    return name in ("lr", "sepn_lr") or name.endswith("learning_rate")


def check_values(config_type: type, values: dict) -> None:
    """Rules every experiment shares, checked before any work: a count (an int field whose
    default is ≥ 1) must be ≥ 1; every float must be finite; a learning rate must lie in
    (0, 10]; a field typed ``Literal[...]`` must hold one of its values. (Counts are recognised by
    name: ``n_*``, ``*_px``, ``*epochs``, ``layers``, … .) A violation raises ``ValueError`` naming
    the option, the value and what is allowed."""
    import math

    hints = typing.get_type_hints(config_type)
    for f in dataclasses.fields(config_type):
        v = values.get(f.name, f.default)
        opt = f"--{f.name.replace('_', '-')}"
        if typing.get_origin(hints.get(f.name)) is typing.Literal and v not in typing.get_args(hints[f.name]):
            raise ValueError(f"{opt} must be one of {', '.join(map(str, typing.get_args(hints[f.name])))}, got {v!r}")
        if isinstance(v, bool):
            continue
        if isinstance(v, int) and _is_count(f.name) and isinstance(f.default, int) and f.default >= 1:
            if v < 1:
                raise ValueError(f"{opt} must be ≥ 1, got {v}")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{opt} must be a finite number, got {v}")
        if _is_rate(f.name) and isinstance(v, (int, float)) and not 0 < v <= 10:
            raise ValueError(f"{opt} must lie in (0, 10] (typical 1e-4 … 0.1), got {v}")
    _check_data(values, {f.name: f.default for f in dataclasses.fields(config_type)})


# MNIST and Fashion-MNIST: 60,000 training and 10,000 test images each
DATASET_SIZES = {"train": 60_000, "test": 10_000}


def _check_data(values: dict, defaults: dict) -> None:
    """Dataset names, and sizes not above what the dataset holds (an error, never a clamp)."""
    if "dataset" not in defaults:
        return
    from training.data import validation_count
    from training.datasets import _ALIASES, DATASETS

    name = values.get("dataset", defaults["dataset"])
    if str(name).lower() not in _ALIASES:
        raise ValueError(f"--dataset must be one of {', '.join(DATASETS)}, got {name!r}")
    for key, split in (("n_train", "train"), ("n_test", "test")):
        n = values.get(key, defaults.get(key))
        if isinstance(n, int) and not isinstance(n, bool) and n > DATASET_SIZES[split]:
            raise ValueError(f"--{key.replace('_', '-')} must lie in [1, {DATASET_SIZES[split]}] (the {split} split "
                             f"holds {DATASET_SIZES[split]} images), got {n}")
    n, frac = values.get("n_train", defaults.get("n_train")), values.get("val_fraction", defaults.get("val_fraction"))
    if values.get("selection", defaults.get("selection")) == "test" or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in (n, frac)):
        return  # nothing held out (the test set selects), or no split to check
    if not 0 <= frac < 1:
        raise ValueError(f"--val-fraction must lie in [0, 1), got {frac}")
    held = validation_count(n, frac)  # as training.Trainer.split holds out
    if not 1 <= held < n:
        fix = "lower --val-fraction" if held >= n else ("raise --val-fraction" if frac == 0 else "raise --n-train")
        raise ValueError(f"--n-train {n} with --val-fraction {frac:g} holds out {held} validation image(s) and "
                         f"trains on {n - held}: both must be ≥ 1 ({fix})")


# Meaning and unit of the keys several experiments share, in one place. A field's own comment
# (``# …`` on its line) or docstring (a string on the next line) wins over this table. Units are
# in brackets: SI unless stated; counts are plain numbers.
COMMON_HELP = {
    "dataset": "image data set (training.load_dataset)",
    "n_train": "training images, a seeded subset of the 60,000 of the training split [count]",
    "n_test": "test images evaluated, the first of the 10,000 of the test split [count]",
    "epochs": "passes over the training images [count]",
    "batch_size": "training images per optimisation step [count]",
    "learning_rate": "Adam learning rate of the photonic parameters: about the largest step per update, "
                     "in the parameters' own unit (rad for phases) [parameter unit per step]",
    "sepn_learning_rate": "Adam learning rate of the DAT error-predicting networks (SEPNs) [weight unit per step]",
    "sepn_features": "channels of the three SEPN convolution layers, comma-separated (DAT) [count]",
    "lr_step_epochs": "epochs between two halvings of the learning rates [epochs]",
    "dat_warmup_epochs": "first epochs of DAT with the SEPN correction switched off (weight 0) [epochs]",
    "val_fraction": "share of the training images held out for validation and model selection, in [0, 1) "
                    "[dimensionless]",
    "methods": "training methods compared, comma-separated: ideal (or direct), noise, pat, pat-field, dat; "
               "-is after pat/dat also measures internal states (docs/training.md)",
    "seed": "seed of the run's random streams (initialisation, data subset, batch order)",
    "error_seed": "seed of the hidden error realization of the simulated physical system",
    "wavelength_m": "free-space wavelength λ [m]",
    "pitch_m": "pixel pitch of the simulation grid and of the phase masks [m]",
    "grid_px": "side of the square simulation grid [px]",
    "layers": "phase layers (diffractive surfaces) [count]",
    "gap_m": "free-space distance behind every phase layer (layer to layer, last layer to detector) [m]",
    "image_px": "side of the input image after resizing, centred on the grid [px]",
    "active_px": "side of the trainable (modulated) centre of every phase mask [px]",
    "region_px": "side of each of the ten square detector regions (3-4-3 rows) [px]",
    "region_spacing_px": "centre-to-centre distance of neighbouring detector regions [px]",
    "temperature": "initial scale T of the class logits, T · region energy / total energy (learnt) "
                   "[dimensionless]",
    "preset": "error level of the simulated physical system: none, low, medium, high, or key=value pairs "
              "(hardware/presets.py, docs/hardware.md)",
    "modes": "optical modes (waveguides) of every MZI mesh; a square number, the side² of the "
             "Fourier crop of the image [count]",
    "meshes": "MZI meshes in series [count]",
    "bs_sigma": "standard deviation of the couplers' splitting error e (power split (1±e)/2) [dimensionless]",
    "ps_sigma": "standard deviation of the static phase-shifter offsets [rad]",
}


def field_help(config_type: type) -> dict:
    """Help text of every field of ``config_type``: its own comment or docstring (including
    those inherited from dataclass bases), else :data:`COMMON_HELP`; ``""`` when neither."""
    docs = field_docs(config_type)
    return {f.name: docs.get(f.name) or COMMON_HELP.get(f.name, "") for f in dataclasses.fields(config_type)}


def choices(config_type: type, name: str) -> tuple:
    """The allowed values of a field typed ``Literal[...]`` (or the data set names); ``()``
    when the field takes any value of its type."""
    hint = typing.get_type_hints(config_type).get(name)
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)
    if name == "dataset":
        from training.datasets import DATASETS

        return tuple(DATASETS)
    return ()


def help_config(exp: Experiment, scale: str) -> str:
    """Every option of ``exp`` with its value at ``scale``, type, meaning and unit (in
    brackets), and its choices where it has a fixed set of values."""
    lines = [f"options of {exp.name} (values at scale {scale!r}; units in brackets, SI unless stated):"]
    base = exp.scales.get(scale, {})
    hints = typing.get_type_hints(exp.config_type)
    docs = field_help(exp.config_type)
    for f in dataclasses.fields(exp.config_type):
        hint = hints.get(f.name)
        allowed = choices(exp.config_type, f.name)
        typ = "choice" if typing.get_origin(hint) is typing.Literal else getattr(hint, "__name__", str(hint))
        doc = docs.get(f.name, "")
        if allowed:
            doc += f" (choices: {', '.join(map(str, allowed))})"
        lines.append(f"  --{f.name.replace('_', '-'):<28} {base.get(f.name, f.default)!r:<14} ({typ})"
                     + (f"  {doc}" if doc else ""))
    return "\n".join(lines)


def field_docs(config_type: type) -> dict:
    """Comments of a dataclass's fields: a ``# comment`` on the field's line, or a string
    literal on the line after it (read from the source of the class and of its dataclass bases,
    the subclass winning; empty when unavailable)."""
    out = {}
    for cls in reversed(config_type.__mro__):
        if dataclasses.is_dataclass(cls):
            out.update(_own_field_docs(cls))
    return out


def _own_field_docs(config_type: type) -> dict:
    import ast
    import inspect
    import textwrap

    try:
        src = textwrap.dedent(inspect.getsource(config_type))
    except (OSError, TypeError):
        return {}
    lines = src.splitlines()
    tree = ast.parse(src)
    out = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            line = lines[node.lineno - 1]
            if "#" in line:
                out[node.target.id] = line.split("#", 1)[1].strip()
            nxt = body[i + 1] if i + 1 < len(body) else None
            if isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant) \
                    and isinstance(nxt.value.value, str):
                out[node.target.id] = " ".join(nxt.value.value.split())
    return out


def scales_of(exp: Experiment) -> tuple:
    """The standard scales, then the experiment's own extra ones."""
    return SCALES + tuple(s for s in exp.scales if s not in SCALES)


def build_config(exp: Experiment, scale: str, pairs: list[str]):
    known = scales_of(exp)
    if scale not in known:
        raise ValueError(f"{exp.name} has no scale {scale!r}; choose one of {', '.join(known)}")
    return parse_overrides(exp.config_type, pairs, base=exp.scales.get(scale, {}))
