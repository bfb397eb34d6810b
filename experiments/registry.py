"""The registry of named experiments and the parsing of their configurations.

An experiment is a frozen dataclass of settings (units in the field names where not SI)
and a ``run(config, out_dir, *, resume)`` function. ``--key value`` options on the command
line override the dataclass defaults; unknown keys or values of the wrong type are errors
that list what is valid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

__all__ = ["Experiment", "EXPERIMENTS", "register", "parse_overrides"]


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    config_type: type
    run: Callable
    runtime: str  # expected wall time on the 2-core CPU machine


EXPERIMENTS: dict[str, Experiment] = {}


def register(name: str, description: str, config_type: type, runtime: str):
    """Decorator registering ``run(config, out_dir, *, resume)`` under ``name``."""
    def wrap(fn):
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} registered twice")
        EXPERIMENTS[name] = Experiment(name, description, config_type, fn, runtime)
        return fn
    return wrap


def _convert(raw: str, typ, key: str):
    if typ is bool or typ == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--{key} expects true/false, got {raw!r}")
    conv = {"int": int, "float": float, "str": str}.get(typ, typ)
    try:
        return conv(raw)
    except (TypeError, ValueError):
        name = getattr(conv, "__name__", str(conv))
        raise ValueError(f"--{key} expects a value of type {name}, got {raw!r}") from None


def parse_overrides(config_type: type, pairs: list[str]):
    """Build ``config_type`` from ``["--key", "value", ...]`` overrides of its defaults."""
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    values = {}
    it = iter(pairs)
    for token in it:
        if not token.startswith("--"):
            raise ValueError(f"expected --key value pairs, got {token!r}")
        key = token[2:].replace("-", "_")
        if key not in fields:
            valid = ", ".join(f"--{k}" for k in fields)
            raise ValueError(f"unknown option --{key} for {config_type.__name__}; valid keys: {valid}")
        try:
            raw = next(it)
        except StopIteration:
            raise ValueError(f"--{key} needs a value") from None
        values[key] = _convert(raw, fields[key].type, key)
    return config_type(**values)
