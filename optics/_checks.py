"""Input validation shared by optics (and the packages above it).

Errors say what was wrong and what is allowed, so that bad input never surfaces as a
traceback from deep inside torch or as a silent wrong answer.
"""

from __future__ import annotations

import cmath
import math
from numbers import Real

import torch


class SamplingError(ValueError):
    """A set-up is under-sampled: the computation would alias and be wrong."""


class SamplingWarning(UserWarning):
    """A set-up loses accuracy through sampling (e.g. light leaves the padded window)."""


# Lengths in metres outside [1e-60, 1e60] m are nonsense physically and overflow or underflow
# the products the propagators form (λ², 1/(λ z), z²…) in float64: refused up front.
MIN_LENGTH = 1e-60
MAX_LENGTH = 1e60


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
    if unit == "m" and abs(value) > MAX_LENGTH:
        raise ValueError(f"{name} must be a length of at most {MAX_LENGTH:g} m in magnitude, got {value!r}")
    return value


def positive_float(value, name: str, unit: str = "m") -> float:
    """Return ``value`` as a finite float > 0, or raise a ValueError naming ``name``."""
    value = finite_float(value, name, unit)
    if value <= 0:
        raise ValueError(f"{name} must be finite and > 0 (in {unit}), got {value!r}")
    if unit == "m" and value < MIN_LENGTH:
        raise ValueError(f"{name} must be a length of at least {MIN_LENGTH:g} m, got {value!r} "
                         "(lengths are in metres; products such as λ·z must stay representable)")
    return value


def fraction(value, name: str) -> float:
    """Return ``value`` as a float in [0, 1], or raise a ValueError naming ``name``."""
    value = finite_float(value, name, "a fraction of 1")
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
    return value


def check_complex(data, name: str = "field data") -> None:
    """Raise a TypeError unless ``data`` is a complex64 or complex128 torch tensor."""
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(data).__name__}")
    if data.is_complex() and data.dtype not in (torch.complex64, torch.complex128):
        raise TypeError(f"{name} must be torch.complex64 or torch.complex128, got {data.dtype} "
                        "(half-precision complex is not supported by the propagators); "
                        "convert with data.to(torch.complex64)")
    if not data.is_complex():
        raise TypeError(
            f"{name} must be complex (torch.complex64 or torch.complex128), got {data.dtype}; "
            "convert with data.to(torch.complex64) or build it as amplitude * torch.exp(1j * phase)"
        )


def check_finite(data: torch.Tensor, name: str = "field data") -> None:
    """Raise a ValueError if ``data`` holds NaN or infinite values."""
    with torch.no_grad():
        # one reduction first: NaN/inf survive a sum; an overflowing sum of finite values
        # (|x| near the dtype's max) falls through to the exact elementwise test. The sum is
        # tested in Python (one read-back; torch.isfinite of a complex scalar is four more ops)
        ok = (not data.numel()) or cmath.isfinite(data.detach().sum().item())
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


def available_memory(device=None) -> int | None:
    """Bytes that can be allocated now on ``device`` (CPU: MemAvailable of /proc/meminfo,
    capped by a cgroup limit; CUDA: free device memory), or None when unknown."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except Exception:  # noqa: BLE001 - no driver: unknown, do not refuse
            return None
    if device.type != "cpu":
        return None
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        return None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                limit = fh.read().strip()
            usage_path = path.replace("memory.max", "memory.current").replace("limit_in_bytes", "usage_in_bytes")
            with open(usage_path) as fh:
                used = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit():
            room = max(0, int(limit) - used)
            avail = room if avail is None else min(avail, room)
        break
    return avail


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def check_memory(nbytes: float, what: str, device=None) -> None:
    """Refuse up front (MemoryError) when ``what`` needs more than the memory available.

    ``nbytes`` is an estimate of the working set; the message states it and what is available,
    so a huge request is refused with an explanation instead of being killed by the kernel.
    Cheap: one read of /proc/meminfo, only for requests above 256 MiB.
    """
    try:
        nbytes = float(nbytes)
    except OverflowError:  # a shape like 10^300 pixels: an int no float can hold
        nbytes = math.inf
    if nbytes < 2**28:
        return
    avail = available_memory(device)
    if avail is not None and nbytes > avail:
        where = "GPU" if torch.device(device if device is not None else "cpu").type == "cuda" else "host"
        raise MemoryError(f"{what} needs about {_gib(nbytes)} but only {_gib(avail)} of {where} memory is "
                          "available; use a smaller grid (fewer pixels) or a smaller batch")
