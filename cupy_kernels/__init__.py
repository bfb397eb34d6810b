"""Optional fused GPU kernels (CuPy). The ONLY package in onnsim that imports ``cupy``.

Importing this package never fails: without CuPy or a CUDA device the kernels are simply
unavailable, and :func:`is_available` / :func:`why_unavailable` say so. ``optics`` and
``photonics`` load it lazily and fall back to their torch reference code.

Dispatch (docs/gpu.md): library functions take ``backend="auto" | "torch" | "cupy"`` and
ask :func:`use_cupy`. ``"auto"`` takes the CuPy kernels only for CUDA tensors when
:func:`is_available` (never probing CuPy for CPU tensors, so CPU results cannot change);
``"torch"`` always runs the torch reference; ``"cupy"`` insists and raises a clear error
when it cannot (no CuPy/GPU: the message carries :func:`why_unavailable`).

Operations (:mod:`cupy_kernels.ops`, each a torch custom operator ``torch.ops.onnsim.*``
with a fake implementation and a hand-written backward, so ``torch.compile`` traces through
them): :func:`filter2` (fused transfer-function filter for propagation),
:func:`phase_modulate` (fused phase modulation + placement of the phase window) and
:func:`mesh_columns` (MZI mesh columns in one launch). The availability probe is a
constant to ``torch.compile`` (probed once, never traced). Torch references of each are in
:mod:`cupy_kernels.reference`; CUDA sources in :mod:`cupy_kernels._sources` (compiled to PTX
without a GPU by :func:`cupy_kernels._nvrtc.compile_ptx` in the CPU tests).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError as _NotInstalled, version as _version

try:  # the installed distribution's version; a bare source tree has none
    __version__ = _version("onnsim")
except _NotInstalled:
    __version__ = "0.0.0+unknown"

import functools

import torch

__all__ = ["BACKENDS", "is_available", "why_unavailable", "check_backend", "use_cupy", "filter2",
           "phase_modulate", "mesh_columns", "pool_bytes"]

BACKENDS = ("auto", "torch", "cupy")


@torch.compiler.assume_constant_result  # dynamo calls it (a constant) instead of tracing the import of cupy
def _probe() -> str | None:
    """None when CuPy can allocate on a CUDA device, else the reason it cannot (cached)."""
    return _probe_once()


@functools.lru_cache(maxsize=1)
def _probe_once() -> str | None:
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
    try:  # the kernels need cuFFT and NVRTC, which CuPy ≥ 14 loads lazily from the CUDA libraries
        from cupy.cuda import cufft  # noqa: F401

        cupy.cuda.nvrtc.getVersion()
    except Exception as exc:
        return (f"cupy cannot load cuFFT/NVRTC: {type(exc).__name__}: {str(exc).splitlines()[0]} "
                "(install the CUDA libraries, e.g. pip install 'cupy-cuda12x[ctk]')")
    return None


def is_available() -> bool:
    """True when CuPy is installed and can allocate on a CUDA device."""
    return _probe() is None


def why_unavailable() -> str | None:
    """The reason the CuPy kernels cannot run here, or None when they can."""
    return _probe()


def check_backend(backend) -> str:
    """Validate a ``backend`` argument (``"auto"``, ``"torch"`` or ``"cupy"``)."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be 'auto', 'torch' or 'cupy', got {backend!r}")
    return backend


def use_cupy(backend: str, *tensors, unsupported=None, what: str = "this operation") -> bool:
    """Whether a call with ``backend`` on ``tensors`` runs the CuPy kernel.

    ``unsupported``: optional zero-argument callable returning why the kernel cannot take
    these inputs (or None); under ``"auto"`` such inputs quietly take the torch path, under
    ``"cupy"`` they raise ValueError. ``"cupy"`` raises RuntimeError (naming
    :func:`why_unavailable`) without CuPy or a GPU, ValueError for CPU tensors.
    """
    check_backend(backend)
    if backend == "torch":
        return False
    on_cuda = all(getattr(t, "is_cuda", False) for t in tensors)
    if backend == "auto":
        if not on_cuda or not is_available():
            return False
        return unsupported is None or unsupported() is None
    if not is_available():
        raise RuntimeError(f"backend='cupy' for {what} is unavailable: {why_unavailable()}; "
                           "use backend='auto' or 'torch' (install with pip install -e .[gpu])")
    if not on_cuda:
        devices = sorted({str(getattr(t, "device", "?")) for t in tensors})
        raise ValueError(f"backend='cupy' for {what} needs CUDA tensors, got tensors on {', '.join(devices)}; "
                         "use backend='auto' or 'torch'")
    why = unsupported() if unsupported is not None else None
    if why:
        raise ValueError(f"backend='cupy' cannot run {what}: {why}; use backend='auto' or 'torch'")
    return True


def filter2(*args, **kwargs):
    """See :func:`cupy_kernels.ops.filter2`."""
    from . import ops

    return ops.filter2(*args, **kwargs)


def phase_modulate(*args, **kwargs):
    """See :func:`cupy_kernels.ops.phase_modulate`."""
    from . import ops

    return ops.phase_modulate(*args, **kwargs)


def mesh_columns(*args, **kwargs):
    """See :func:`cupy_kernels.ops.mesh_columns`."""
    from . import ops

    return ops.mesh_columns(*args, **kwargs)


def pool_bytes() -> int:
    """Bytes held by CuPy's memory pool (cuFFT work areas; 0 without CuPy)."""
    if not is_available():
        return 0
    from . import _runtime

    return _runtime.pool_bytes()
