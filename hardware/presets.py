"""Named severity presets of the error models, per hardware family.

Diffractive magnitudes scale with the set-up: p = pixel pitch, z = gap between layers.

| preset | lateral shift std | rotation std | gap std | gain std | offset std | LUT dev. | bits | crosstalk | fill factor | input shift std | detector (photons / read / ADC) |
|---|---|---|---|---|---|---|---|---|---|---|---|
| none   | 0      | 0     | 0      | 0    | 0        | 0        | –  | 0      | 1    | 0      | – |
| low    | 0.1 p  | 0.1°  | 0.2% z | 0.02 | 0.05 rad | 0.05 rad | 8  | 0.2 px | 0.97 | 0.1 p  | 1e5 / 1e-3 / 12 bit |
| medium | 0.25 p | 0.25° | 0.5% z | 0.05 | 0.1 rad  | 0.1 rad  | 6  | 0.4 px | 0.93 | 0.25 p | 1e4 / 3e-3 / 10 bit |
| high   | 0.5 p  | 0.5°  | 1% z   | 0.1  | 0.2 rad  | 0.2 rad  | 4  | 0.7 px | 0.85 | 0.5 p  | 1e3 / 1e-2 / 8 bit |

Mesh presets (per MZI; σ of the coupler splitting error e and of the phase offsets):

| preset | bs σ | ps σ (rad) | loss (dB/MZI) | crosstalk κ | detector (photons / read / ADC) |
|---|---|---|---|---|---|
| none   | 0    | 0    | 0    | 0     | – |
| low    | 0.02 | 0.02 | 0.02 | 0     | 1e5 / 1e-3 / 12 bit |
| medium | 0.04 | 0.04 | 0.05 | 0.005 | 1e4 / 3e-3 / 10 bit |
| high   | 0.06 | 0.06 | 0.1  | 0.01  | 1e3 / 1e-2 / 8 bit |

Any preset can also be written as ``"key=value,key=value"`` over the fields of the error
model (for meshes ``bs`` and ``ps`` abbreviate ``bs_sigma`` and ``ps_sigma``), e.g. the exact
levels of Zheng et al. 2023 (docs/references.md#dat): ``"bs=0.06,ps=0.06"`` (beam-splitter and phase-shifter errors
only, as in Zheng et al. 2023). Diffractive keys take SI units (m, rad), plus the
conveniences ``shift_px``, ``input_shift_px`` (pixels), ``rotation_deg`` (degrees) and
``gap_rel`` (fraction of the gap); for the uniform ("vaccination") half-widths ``shift_max``
and ``gap_max`` (m), also ``shift_max_px`` (pixels) and ``gap_max_rel`` (fraction of the gap).
"""

from __future__ import annotations

import dataclasses
import math

from .errors import DetectorNoise, DiffractiveErrorModel, MeshErrorModel

__all__ = ["PRESETS", "diffractive_error_model", "mesh_error_model", "error_model", "parse_pairs"]

_DETECTORS = {
    "none": DetectorNoise(),
    "low": DetectorNoise(1e5, 1e-3, 12),
    "medium": DetectorNoise(1e4, 3e-3, 10),
    "high": DetectorNoise(1e3, 1e-2, 8),
}

# relative diffractive magnitudes: shift_px, rotation_deg, gap_rel, gain, offset, lut, bits, crosstalk, fill, input_px
_DIFFRACTIVE = {
    "none": (0, 0, 0, 0, 0, 0, 0, 0, 1.0, 0),
    "low": (0.1, 0.1, 0.002, 0.02, 0.05, 0.05, 8, 0.2, 0.97, 0.1),
    "medium": (0.25, 0.25, 0.005, 0.05, 0.1, 0.1, 6, 0.4, 0.93, 0.25),
    "high": (0.5, 0.5, 0.01, 0.1, 0.2, 0.2, 4, 0.7, 0.85, 0.5),
}

_MESH = {
    "none": (0, 0, 0, 0),
    "low": (0.02, 0.02, 0.02, 0.0),
    "medium": (0.04, 0.04, 0.05, 0.005),
    "high": (0.06, 0.06, 0.1, 0.01),
}

PRESETS = {"diffractive": tuple(_DIFFRACTIVE), "mesh": tuple(_MESH)}


def parse_pairs(spec: str, *, what: str = "item") -> dict[str, str]:
    """``"key=value,key=value"`` → ``{"key": "value", ...}``, keys and values stripped, empty
    items skipped; the values stay strings for the caller to convert. The one parser of such
    lists: the error presets below and the override lists of the experiments use it. An item
    without ``=`` raises ``ValueError`` naming it (``what`` says what an item is)."""
    out = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if "=" not in part:
            raise ValueError(f"bad {what} {part!r} in {spec!r}: expected key=value")
        key, value = (s.strip() for s in part.split("=", 1))
        out[key] = value
    return out


def _parse_pairs(spec: str) -> dict:
    out = {}
    for key, value in parse_pairs(spec, what="preset item").items():
        try:
            out[key] = float(value)
        except ValueError:
            raise ValueError(f"preset value for {key!r} must be a number, got {value!r}") from None
    return out


def _unknown(preset: str, family: str) -> ValueError:
    return ValueError(f"unknown {family} preset {preset!r}; use one of {', '.join(PRESETS[family])} or "
                      f"'key=value,...' over the error model's fields")


def diffractive_error_model(preset: str, *, pitch: float, gap: float) -> DiffractiveErrorModel:
    """The diffractive error model for ``preset`` given the pixel ``pitch`` and ``gap`` (m)."""
    if not isinstance(preset, str):
        raise TypeError(f"preset must be a string, got {type(preset).__name__}")
    if preset in _DIFFRACTIVE:
        sp, rot, gap_rel, gain, off, lut, bits, xt, ff, inp = _DIFFRACTIVE[preset]
        return DiffractiveErrorModel(shift_std=sp * pitch, rotation_std=math.radians(rot), gap_std=gap_rel * gap,
                                     phase_gain_std=gain, phase_offset_std=off, lut_nonlinearity=lut,
                                     phase_bits=bits, crosstalk_px=xt, fill_factor=ff, input_shift_std=inp * pitch,
                                     detector=_DETECTORS[preset])
    if "=" not in preset:
        raise _unknown(preset, "diffractive")
    kw = _parse_pairs(preset)
    conv = {"shift_px": ("shift_std", pitch), "input_shift_px": ("input_shift_std", pitch),
            "rotation_deg": ("rotation_std", math.pi / 180), "gap_rel": ("gap_std", gap),
            "shift_max_px": ("shift_max", pitch), "gap_max_rel": ("gap_max", gap)}
    det = {}
    model_kw = {}
    valid = {f.name for f in dataclasses.fields(DiffractiveErrorModel)} - {"detector"}
    det_fields = {f.name for f in dataclasses.fields(DetectorNoise)}
    for k, v in kw.items():
        if k in conv:
            name, scale = conv[k]
            model_kw[name] = v * scale
        elif k in det_fields:
            det[k] = int(v) if k == "adc_bits" else v
        elif k in valid:
            model_kw[k] = int(v) if k in ("phase_bits", "lut_points") else v
        else:
            raise ValueError(f"unknown diffractive error key {k!r}; valid: {', '.join(sorted(valid | det_fields | set(conv)))}")
    return DiffractiveErrorModel(**model_kw, detector=DetectorNoise(**det))


def mesh_error_model(preset: str) -> MeshErrorModel:
    """The mesh error model for ``preset``."""
    if not isinstance(preset, str):
        raise TypeError(f"preset must be a string, got {type(preset).__name__}")
    if preset in _MESH:
        bs, ps, loss, xt = _MESH[preset]
        return MeshErrorModel(bs, ps, loss, xt, _DETECTORS[preset])
    if "=" not in preset:
        raise _unknown(preset, "mesh")
    alias = {"bs": "bs_sigma", "ps": "ps_sigma"}
    valid = {f.name for f in dataclasses.fields(MeshErrorModel)} - {"detector"}
    det_fields = {f.name for f in dataclasses.fields(DetectorNoise)}
    model_kw, det = {}, {}
    for k, v in _parse_pairs(preset).items():
        k = alias.get(k, k)
        if k in valid:
            model_kw[k] = v
        elif k in det_fields:
            det[k] = int(v) if k == "adc_bits" else v
        else:
            raise ValueError(f"unknown mesh error key {k!r}; valid: bs, ps, {', '.join(sorted(valid | det_fields))}")
    return MeshErrorModel(**model_kw, detector=DetectorNoise(**det))


def error_model(family: str, preset: str, **geometry):
    """Dispatch on ``family`` (``"diffractive"`` needs ``pitch`` and ``gap`` in metres)."""
    if family == "diffractive":
        return diffractive_error_model(preset, **geometry)
    if family == "mesh":
        return mesh_error_model(preset)
    raise ValueError(f"unknown hardware family {family!r}; use 'diffractive' or 'mesh'")
