"""Input validation shared by optics (and the packages above it).

Errors say what was wrong and what is allowed, so that bad input never surfaces as a
traceback from deep inside torch or as a silent wrong answer.
"""

from __future__ import annotations

import math
from numbers import Real

import torch


class SamplingError(ValueError):
    """A set-up is under-sampled: the computation would alias and be wrong."""


class SamplingWarning(UserWarning):
    """A set-up loses accuracy through sampling (e.g. light leaves the padded window)."""


def finite_float(value, name: str, unit: str = "m") -> float:
    """Return ``value`` as a finite float, or raise naming ``name``."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number in {unit}, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite (in {unit}), got {value!r}")
    return value


def positive_float(value, name: str, unit: str = "m") -> float:
    """Return ``value`` as a finite float > 0, or raise a ValueError naming ``name``."""
    value = finite_float(value, name, unit)
    if value <= 0:
        raise ValueError(f"{name} must be finite and > 0 (in {unit}), got {value!r}")
    return value


def check_complex(data, name: str = "field data") -> None:
    """Raise a TypeError unless ``data`` is a complex torch tensor."""
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(data).__name__}")
    if not data.is_complex():
        raise TypeError(
            f"{name} must be complex (torch.complex64 or torch.complex128), got {data.dtype}; "
            "convert with data.to(torch.complex64) or build it as amplitude * torch.exp(1j * phase)"
        )


def check_finite(data: torch.Tensor, name: str = "field data") -> None:
    """Raise a ValueError if ``data`` holds NaN or infinite values."""
    with torch.no_grad():
        # one reduction first: NaN/inf survive a sum; an overflowing sum of finite values
        # (|x| near the dtype's max) falls through to the exact elementwise test
        ok = (not data.numel()) or bool(torch.isfinite(data.detach().sum()))
        if not ok:
            ok = bool(torch.isfinite(data).all())
    if not ok:
        bad = int((~torch.isfinite(data)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); all values must be finite")


def real_dtype_of(dtype: torch.dtype) -> torch.dtype:
    """float32 for complex64, float64 for complex128 (and identity for real dtypes)."""
    return {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(dtype, dtype)


def complex_dtype_of(dtype: torch.dtype) -> torch.dtype:
    """complex128 for float64/complex128, complex64 otherwise."""
    return torch.complex128 if dtype in (torch.float64, torch.complex128) else torch.complex64
