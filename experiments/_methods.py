"""Parsing of the comma lists in experiment options: method lists such as
``"ideal,pat,dat,dat-is"`` (:func:`parse_methods`) and lists of numbers (:func:`parse_list`,
the one parser of ``"1,2,3"`` options; ``key=value`` lists: :func:`hardware.presets.parse_pairs`),
and the sign rule of a configuration's numbers (:func:`check_signs`)."""

from __future__ import annotations

from training import METHODS

ALIASES = {"direct": "ideal"}
# method variants: name -> (training method, extra TrainConfig settings)
VARIANTS = {"pat-field": ("pat", {"pat_fusion": "field"}),
            "dat-ref": ("dat", {"dat_fusion": "reference"}),
            "dat-carry": ("dat", {"dat_fusion": "carry"})}


def parse_methods(spec: str) -> list[tuple[str, str, bool, dict]]:
    """``[(label, method, internal_states, options)]``; ``-is`` asks for internal states
    (PAT/DAT); ``pat-field`` is PAT with the measured amplitude fused into the output field
    (``TrainConfig.pat_fusion="field"``) instead of the measured scores replacing the numerical ones;
    ``dat-ref`` and ``dat-carry`` are DAT with the reference code's fusion rule and with onnsim's
    first one (``TrainConfig.dat_fusion``; a plain ``dat`` arm gets the experiment's default)."""
    out = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        internal = item.endswith("-is")
        base = item[:-3] if internal else item
        method, options = VARIANTS.get(base, (ALIASES.get(base, base), {}))
        if method not in METHODS:
            raise ValueError(f"unknown method {item!r} in {spec!r}; use {', '.join(METHODS)} or "
                             f"{', '.join(VARIANTS)} (add -is to pat/dat for internal states)")
        if internal and method not in ("pat", "dat"):
            raise ValueError(f"{item!r}: internal states apply to pat and dat only")
        out.append((item, method, internal, dict(options)))
    if not out:
        raise ValueError("no methods given")
    return out


def parse_list(spec: str, typ=float, *, name: str = "the list", n: int | None = None) -> list:
    """``"1, 2,3"`` -> ``[typ(1), typ(2), typ(3)]`` (empty items skipped). A value that is not a
    ``typ``, or not ``n`` values when ``n`` is given, raises ``ValueError`` naming ``name``."""
    kind = "integers" if typ is int else "numbers"
    try:
        vals = [typ(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        vals = None
    if vals is None or (n is not None and len(vals) != n):
        raise ValueError(f"{name} must be {'' if n is None else f'{n} '}comma-separated {kind}, got {spec!r}")
    return vals


def parse_ints(spec: str, name: str, n: int) -> tuple:
    return tuple(parse_list(spec, int, name=name, n=n))


def check_signs(cfg, names, *, zero: bool = False, detail: str = "") -> None:
    """Each field ``names`` of the configuration ``cfg`` is > 0 (≥ 0 with ``zero``); otherwise a
    ``ValueError`` naming the option: ``--name must be > 0<detail>, got value`` (``detail``: a unit
    or why, e.g. ``" m"``). Finiteness is the registry's rule (``check_values``); a NaN fails here too."""
    for name in names:
        v = getattr(cfg, name)
        if not (v >= 0 if zero else v > 0):
            raise ValueError(f"--{name.replace('_', '-')} must be {'≥' if zero else '>'} 0{detail}, got {v!r}")
