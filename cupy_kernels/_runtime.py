"""CuPy side of the kernels: compiled modules, cuFFT plans, DLPack interop, launches.

Imported only when a kernel actually runs (``cupy`` is imported inside the functions, so
importing this module never needs CuPy). Memory: every buffer that outlives a launch is a
torch tensor (allocated by torch's caching allocator and wrapped zero-copy with
``cupy.from_dlpack``), so ``torch.cuda.max_memory_allocated`` sees it; only cuFFT plan work
areas live in CuPy's pool (:func:`pool_bytes`). All work is queued on torch's current CUDA
stream (``cupy.cuda.ExternalStream``), so it orders with torch ops without syncs.
"""

from __future__ import annotations

import contextlib
import functools

import torch

from . import _sources

_THREADS = 256


def _cupy():
    import cupy  # the only place cupy is imported for running kernels (see also __init__._probe)

    return cupy


def precision_of(dtype: torch.dtype) -> str:
    if dtype == torch.complex64 or dtype == torch.float32:
        return "f32"
    if dtype == torch.complex128 or dtype == torch.float64:
        return "f64"
    raise TypeError(f"the CuPy kernels support complex64/complex128 (float32/float64), got {dtype}")


@functools.lru_cache(maxsize=None)
def _module(group: str, precision: str, device: int):
    cp = _cupy()
    with cp.cuda.Device(device):
        return cp.RawModule(code=_sources.source(group, precision))


@functools.lru_cache(maxsize=None)
def kernel(group: str, name: str, precision: str, device: int):
    """The compiled kernel (NVRTC on first use for this device's architecture; CuPy caches
    the binary on disk)."""
    return _module(group, precision, device).get_function(_sources.kernel_name(name, precision))


_STREAMS: dict = {}


def _cupy_stream(cp, stream: torch.cuda.Stream, index: int):
    key = (index, stream.cuda_stream)
    ext = _STREAMS.get(key)
    if ext is None:
        from_external = getattr(cp.cuda.Stream, "from_external", None)  # CuPy ≥ 14
        if from_external is not None and hasattr(stream, "__cuda_stream__"):
            try:
                ext = from_external(stream)
            except Exception:
                ext = None
        if ext is None:
            ext = cp.cuda.ExternalStream(stream.cuda_stream, index)
        if len(_STREAMS) > 64:
            _STREAMS.clear()
        _STREAMS[key] = ext
    return ext


@contextlib.contextmanager
def on_torch_stream(device: torch.device):
    """Make CuPy run on ``device`` and on torch's current stream there (no synchronisation:
    kernels queue behind the torch ops already on that stream, and torch ops after them)."""
    cp = _cupy()
    index = device.index if device.index is not None else torch.cuda.current_device()
    stream = torch.cuda.current_stream(index)
    with cp.cuda.Device(index), _cupy_stream(cp, stream, index):
        yield index


def as_cupy(t: torch.Tensor):
    """Zero-copy CuPy view of a contiguous CUDA tensor (conj/neg bits must be resolved)."""
    return _cupy().from_dlpack(t.detach())


def contiguous(t: torch.Tensor) -> torch.Tensor:
    return t.resolve_conj().resolve_neg().contiguous()


def grid_for(n: int) -> tuple[int]:
    return (max(1, min((n + _THREADS - 1) // _THREADS, 65535 * 4)),)


THREADS = (_THREADS,)


# -- cuFFT ------------------------------------------------------------------------------
_PLANS: dict = {}


def _plan(n: int, stride: int, dist: int, batch: int, double: bool, device: int):
    """A cached 1-D in-place C2C/Z2Z cuFFT plan: ``batch`` transforms of length ``n``, element
    ``i`` of transform ``k`` at ``k * dist + i * stride``."""
    key = (n, stride, dist, batch, double, device)
    plan = _PLANS.get(key)
    if plan is None:
        from cupy.cuda import cufft

        if len(_PLANS) >= 32:  # a handful of shapes in practice; bound the work areas kept alive
            _PLANS.pop(next(iter(_PLANS)))
        fft_type = cufft.CUFFT_Z2Z if double else cufft.CUFFT_C2C
        plan = cufft.PlanNd((n,), (n,), stride, dist, (n,), stride, dist, fft_type, batch, "C", -1, None)
        _PLANS[key] = plan
    return plan


def fft_pruned(buf_cp, my: int, batch: int, mx: int, ny: int, device: int, inverse: bool) -> None:
    """Unnormalised in-place 2-D FFT of a contiguous ``(My, B, Mx)`` buffer, pruned for zero padding.

    Forward: only rows ``y < ny`` are nonzero, so the row pass transforms those ``ny·B``
    contiguous rows and the column pass all ``B·Mx`` columns (stride ``B·Mx``). Inverse:
    the column pass, then the row pass only on the rows ``y < ny`` that the crop keeps
    (rows ``y ≥ ny`` are left half-transformed and must not be read). Exact; it skips
    ``1 − ny/My`` of the row-pass work (half at 2× padding).
    """
    from cupy.cuda import cufft

    double = buf_cp.dtype.itemsize == 16
    rows = _plan(mx, 1, mx, ny * batch, double, device)
    cols = _plan(my, batch * mx, 1, batch * mx, double, device)
    if inverse:
        cols.fft(buf_cp, buf_cp, cufft.CUFFT_INVERSE)
        rows.fft(buf_cp, buf_cp, cufft.CUFFT_INVERSE)
    else:
        rows.fft(buf_cp, buf_cp, cufft.CUFFT_FORWARD)
        cols.fft(buf_cp, buf_cp, cufft.CUFFT_FORWARD)


def pool_bytes() -> int:
    """Bytes held by CuPy's default memory pool (cuFFT work areas), 0 when CuPy is absent."""
    try:
        return int(_cupy().get_default_memory_pool().total_bytes())
    except Exception:
        return 0
