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

__all__ = ["Experiment", "EXPERIMENTS", "SCALES", "register", "parse_overrides", "build_config"]

SCALES = ("smoke", "cpu", "paper")


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    config_type: type
    run: Callable
    runtime: dict  # scale -> expected wall time on the 2-core CPU machine (paper: GPU)
    scales: dict = field(default_factory=dict)  # scale -> overrides
    requires: Callable | None = None  # () -> (ok, why not): an external tool the run needs (e.g. Meep)


EXPERIMENTS: dict[str, Experiment] = {}


def register(name: str, description: str, config_type: type, runtime, scales: dict | None = None,
             requires: Callable | None = None):
    """Decorator registering ``run(config, out_dir, *, resume)`` under ``name``.

    ``requires``: optional ``() -> (ok, why)`` saying whether an external tool the run needs is
    present; the CLI refuses to start without it and the smoke tests skip with ``why``."""
    if isinstance(runtime, str):
        runtime = {s: runtime for s in SCALES}
    scales = scales or {}
    valid = {f.name for f in dataclasses.fields(config_type)}
    for scale, overrides in scales.items():
        if scale not in SCALES:
            raise ValueError(f"{name}: unknown scale {scale!r}")
        bad = set(overrides) - valid
        if bad:
            raise ValueError(f"{name}: scale {scale!r} overrides unknown keys {sorted(bad)}")

    def wrap(fn):
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} registered twice")
        EXPERIMENTS[name] = Experiment(name, description, config_type, fn, runtime, scales, requires)
        return fn
    return wrap


def _convert(raw: str, typ, key: str):
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
    try:
        return config_type(**values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid configuration for {config_type.__name__}: {exc}") from None


def build_config(exp: Experiment, scale: str, pairs: list[str]):
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    return parse_overrides(exp.config_type, pairs, base=exp.scales.get(scale, {}))
