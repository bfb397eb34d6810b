"""Parsing of method lists such as ``"ideal,pat,dat,dat-is"``."""

from __future__ import annotations

from training import METHODS

ALIASES = {"direct": "ideal"}


def parse_methods(spec: str) -> list[tuple[str, str, bool]]:
    """``[(label, method, internal_states)]``; ``-is`` asks for internal states (DAT/PAT)."""
    out = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        internal = item.endswith("-is")
        method = ALIASES.get(item[:-3] if internal else item, item[:-3] if internal else item)
        if method not in METHODS:
            raise ValueError(f"unknown method {item!r} in {spec!r}; use {', '.join(METHODS)} "
                             "(add -is to pat/dat for internal states)")
        if internal and method not in ("pat", "dat"):
            raise ValueError(f"{item!r}: internal states apply to pat and dat only")
        out.append((item, method, internal))
    if not out:
        raise ValueError("no methods given")
    return out


def parse_ints(spec: str, name: str, n: int) -> tuple:
    try:
        vals = tuple(int(v) for v in spec.split(","))
    except ValueError:
        raise ValueError(f"{name} must be {n} comma-separated integers, got {spec!r}") from None
    if len(vals) != n:
        raise ValueError(f"{name} must be {n} comma-separated integers, got {spec!r}")
    return vals
