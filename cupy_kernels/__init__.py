"""Optional fused GPU kernels (CuPy). The ONLY package in onnsim that imports ``cupy``.

Importing this package never fails: without CuPy or a CUDA device the kernels are simply
unavailable, and :func:`is_available` / :func:`why_unavailable` say so. ``optics`` and
``photonics`` load it lazily and fall back to their torch reference code.
"""

from __future__ import annotations

import functools

__all__ = ["is_available", "why_unavailable"]


@functools.lru_cache(maxsize=1)
def _probe() -> str | None:
    """None when CuPy can allocate on a CUDA device, else the reason it cannot."""
    try:
        import cupy  # noqa: F401  (the only cupy import in the project)
    except Exception as exc:  # ImportError, or a broken CUDA runtime raising at import
        return f"cupy is not importable: {type(exc).__name__}: {exc}"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "cupy is installed but no CUDA device is visible"
        cupy.zeros(1)  # CuPy imports without a GPU and fails only at the first allocation
    except Exception as exc:
        return f"cupy cannot use a CUDA device: {type(exc).__name__}: {exc}"
    return None


def is_available() -> bool:
    """True when CuPy is installed and can allocate on a CUDA device."""
    return _probe() is None


def why_unavailable() -> str | None:
    """The reason the CuPy kernels cannot run here, or None when they can."""
    return _probe()
