"""The FFT seam (docs/performance.md): all of optics transforms through these functions.

Three backends, chosen per call with ``backend=``:

* ``"torch"`` — ``torch.fft``; the reference, and the only one for CUDA tensors.
* ``"scipy"`` — ``scipy.fft`` (pocketfft) threaded with ``workers``; always installed.
* ``"pyfftw"`` — FFTW through ``pyfftw`` (the optional ``fft`` extra), threaded, plans cached.
  Without pyfftw, ``"auto"`` falls back to ``"torch"``/``"scipy"`` below (same results).

``"auto"`` (the default) picks, for CPU tensors: for the padded filter of propagation,
``"pyfftw"`` (the chunked planned filter of :mod:`optics._fftw`: per-field chunks on small
reused workspaces, plans independent of the batch size and persisted as FFTW wisdom) from
:data:`AUTO_FILTER_MIN_ELEMENTS` padded elements at any batch size, ``"torch"`` below; for
bare transforms (and filters without pyfftw) ``"scipy"`` when the transform is batched and
large (see :data:`AUTO_MIN_BATCH`), ``"torch"`` otherwise. The
environment variable ``ONNSIM_FFT_BACKEND`` (one of the names above) replaces that CPU
choice, for benchmarking. The CPU backends are optional twins of the torch reference
(STYLE habit 9): each transform is a ``torch.autograd.Function`` whose backward is the
adjoint transform, run on numpy views of the tensors' memory (no copies, complex64 stays
complex64). Thread count is ``torch.get_num_threads()`` unless ``threads`` is given.
Why: measured per filter on the 2-core machine (32 × 200² padded to 400², complex64, one
thread, CPU time): torch.fft 140 ms, scipy 63 ms, planned FFTW with reused workspaces 49 ms;
in a whole 5-layer D2NN training step the reuse matters more than the transform (no fresh
40 MB arrays to page-fault per call): torch 1.53 s, scipy 1.03 s, planned FFTW 0.56 s
(docs/performance.md). pyfftw's own scipy-like interface, which allocates per call, is the
bare-transform path and is slower than scipy there.

Conventions (all backends): the last two dimensions, unnormalised forward / 1/M-normalised
inverse (numpy's "backward" norm). ``fft2(x, s)`` zero-pads at the end to ``s``;
``filter2(x, h)`` is ``crop(ifft2(h · fft2(x, s=h.shape)))`` fused into one Function.
"""

from __future__ import annotations

import math
import os

import torch
from torch.autograd.function import once_differentiable

__all__ = ["BACKENDS", "is_available", "resolve_backend", "fft2", "ifft2", "filter2"]

BACKENDS = ("auto", "torch", "scipy", "pyfftw")
ENV_VAR = "ONNSIM_FFT_BACKEND"


# --------------------------------------------------------------------------------------
# numpy-side backends: fft2(a, s, workers) / ifft2(a, workers, overwrite)
# --------------------------------------------------------------------------------------
class _Scipy:
    name = "scipy"

    def __init__(self):
        import scipy.fft as sf

        self._sf = sf

    def fft2(self, a, s, workers, overwrite=False):
        return self._sf.fft2(a, s=s, axes=(-2, -1), workers=workers, overwrite_x=overwrite)

    def ifft2(self, a, workers, overwrite=False):
        return self._sf.ifft2(a, axes=(-2, -1), workers=workers, overwrite_x=overwrite)


class _Pyfftw:
    name = "pyfftw"

    def __init__(self):
        import pyfftw
        import pyfftw.interfaces.scipy_fft as pf

        pyfftw.interfaces.cache.enable()  # plans and aligned workspaces, cached per shape
        pyfftw.interfaces.cache.set_keepalive_time(60.0)
        self._pf = pf

    def fft2(self, a, s, workers, overwrite=False):
        return self._pf.fft2(a, s=s, axes=(-2, -1), workers=workers, overwrite_x=overwrite)

    def ifft2(self, a, workers, overwrite=False):
        return self._pf.ifft2(a, axes=(-2, -1), workers=workers, overwrite_x=overwrite)


_IMPLS: dict = {}
_MISSING: dict = {}


def _impl(name: str):
    if name not in _IMPLS and name not in _MISSING:
        try:
            _IMPLS[name] = {"scipy": _Scipy, "pyfftw": _Pyfftw}[name]()
        except ImportError as exc:
            hint = " (the fft extra: pip install 'onnsim[fft]')" if name == "pyfftw" else ""
            _MISSING[name] = f"{name} is not installed{hint}: {exc}"
    if name in _MISSING:
        raise RuntimeError(f"FFT backend {name!r} is unavailable: {_MISSING[name]}; install it "
                           f"or choose one of {available()}")
    return _IMPLS[name]


def is_available(name: str) -> tuple[bool, str]:
    """``(True, "")`` when backend ``name`` can run here, else ``(False, why not)``."""
    _check_name(name)
    if name in ("auto", "torch"):
        return True, ""
    try:
        _impl(name)
    except RuntimeError:
        return False, _MISSING[name]
    return True, ""


def available() -> tuple[str, ...]:
    """Names of the backends that can run here."""
    return tuple(n for n in BACKENDS if is_available(n)[0])


def _check_name(name) -> None:
    if name not in BACKENDS:
        raise ValueError(f"unknown FFT backend {name!r}; choose one of {BACKENDS}")


# Under "auto", CPU transforms stay on torch.fft unless they are batched (≥ AUTO_MIN_BATCH
# 2-D transforms) and large (≥ AUTO_MIN_ELEMENTS padded output elements in all): for a single
# or small transform torch's own threading and lower per-call overhead win. Measured on the
# 2-core CI machine (scipy/torch time for one padded filter, complex64): batch 1 × 1024² 2.1,
# batch 2 × 1024² 1.3, batch 4 × 1024² 0.56, batch 4 × 400² 1.8, batch 8 × 400² 1.1,
# batch 32 × 400² 0.53, batch 32 × 256² 0.55, batch 32 × 128² 0.88, batch 32 × 64² 1.5.
AUTO_MIN_BATCH = 4
AUTO_MIN_ELEMENTS = 1 << 21
# The padded filter moves to the chunked FFTW filter (optics._fftw) from this many padded
# elements in all, at any batch size: CPU time planned/torch, one thread, forward and
# forward+backward, 200² → 400²: 0.93 / 0.94 (batch 1), 0.73 / 0.60 (batch 8); 64² → 128²:
# 0.95 / 0.96 (batch 1); 16² → 32²: 1.44 / 1.28 (batch 1: per-call overhead wins there).
AUTO_FILTER_MIN_ELEMENTS = 1 << 14


def resolve_backend(backend: str, x: torch.Tensor, s: tuple[int, int] | None = None, *,
                    op: str = "fft") -> str:
    """The concrete backend (``"torch"``, ``"scipy"`` or ``"pyfftw"``) for tensor ``x``.

    ``s``: the (padded) transform shape (default ``x``'s last two dims), for the "auto"
    choice, which keeps torch below :data:`AUTO_MIN_BATCH` / :data:`AUTO_MIN_ELEMENTS`.
    ``op``: ``"filter"`` (padded propagation filter: auto prefers planned pyfftw) or
    ``"fft"`` (bare transform: auto prefers scipy). While ``torch.compile`` traces
    (:func:`torch.compiler.is_compiling`), ``"auto"`` is always ``"torch"``: dynamo traces
    ``torch.fft`` into the graph but breaks it at every numpy/FFTW call.
    """
    _check_name(backend)
    cpu = x.device.type == "cpu"
    if backend == "auto":
        if not cpu or torch.compiler.is_compiling():  # dynamo traces torch.fft, not the numpy/FFTW backends
            return "torch"
        env = os.environ.get(ENV_VAR, "").strip()
        if env and env != "auto":
            if env not in BACKENDS:
                raise ValueError(f"{ENV_VAR}={env!r} is not an FFT backend; choose one of {BACKENDS}")
            backend = env
        else:
            batch = math.prod(x.shape[:-2]) if x.dim() >= 2 else x[..., :1, :1].numel()
            my, mx = tuple(x.shape[-2:]) if s is None else s
            if op == "filter" and is_available("pyfftw")[0]:
                return "pyfftw" if batch * my * mx >= AUTO_FILTER_MIN_ELEMENTS else "torch"
            big = batch >= AUTO_MIN_BATCH and batch * my * mx >= AUTO_MIN_ELEMENTS
            return "scipy" if big else "torch"
    if backend != "torch":
        if not cpu:
            raise ValueError(f"FFT backend {backend!r} works on CPU tensors only, got a tensor on "
                             f"{x.device}; use backend='auto' or 'torch'")
        _impl(backend)  # raises when unavailable
    return backend


def _workers(threads) -> int:
    n = torch.get_num_threads() if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    return n


def _np(t: torch.Tensor):
    """A numpy view of a CPU tensor's memory (copies only to resolve a conj/neg bit)."""
    return t.detach().resolve_conj().resolve_neg().numpy()


def _complex(x: torch.Tensor) -> torch.Tensor:
    if x.is_complex():
        return x
    return x.to(torch.complex128 if x.dtype == torch.float64 else torch.complex64)


def _crop(a, ny, nx):
    return a[..., :ny, :nx]


# --------------------------------------------------------------------------------------
# autograd Functions (forward on numpy views; backward = adjoint transform)
# --------------------------------------------------------------------------------------
class _FFT2(torch.autograd.Function):
    """X = F · pad(x). Adjoint: pad^T · F^H g = crop(M · F^{-1} g)."""

    @staticmethod
    def forward(ctx, x, s, impl, workers):
        ctx.impl, ctx.workers, ctx.n = impl, workers, tuple(x.shape[-2:])
        return torch.from_numpy(impl.fft2(_np(x), s, workers))

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        m = g.shape[-1] * g.shape[-2]
        gx = ctx.impl.ifft2(_np(g), ctx.workers)
        gx = _crop(gx, *ctx.n)
        gx *= m
        return torch.from_numpy(gx), None, None, None


class _IFFT2(torch.autograd.Function):
    """x = F^{-1} X. Adjoint: (F^{-1})^H g = F g / M."""

    @staticmethod
    def forward(ctx, x, impl, workers):
        ctx.impl, ctx.workers = impl, workers
        return torch.from_numpy(impl.ifft2(_np(x), workers))

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        m = g.shape[-1] * g.shape[-2]
        gx = ctx.impl.fft2(_np(g), None, ctx.workers)
        gx /= m
        return torch.from_numpy(gx), None, None


def _transfer_grad(gspec: torch.Tensor, spec: torch.Tensor) -> torch.Tensor:
    """h̄ = Σ_batch conj(F pad(x)) ⊙ F pad(g) / M, shape ``(My, Mx)``."""
    my, mx = spec.shape[-2:]
    prod = gspec * spec.conj()
    return (prod.reshape(-1, my, mx).sum(0) if prod.dim() > 2 else prod) / (my * mx)


class _Filter(torch.autograd.Function):
    """y = crop(F^{-1}(h ⊙ F pad(x))).

    Adjoints (torch passes conj-Wirtinger gradients; for a C-linear map A the VJP is A^H g):
    x̄ = crop(F^{-1}(conj(h) ⊙ F pad(g))) — the same filter with conj(h), since
    F^H = M F^{-1}; h̄ = Σ_batch conj(F pad(x)) ⊙ F pad(g) / M.
    """

    @staticmethod
    def forward(ctx, x, h, impl, workers, check):
        ny, nx = x.shape[-2:]
        s = tuple(h.shape[-2:])
        spec = impl.fft2(_np(x), s, workers)
        if check is not None:
            check(torch.from_numpy(spec))
        hn = _np(h)
        ctx.impl, ctx.workers, ctx.n = impl, workers, (ny, nx)
        if ctx.needs_input_grad[1]:
            ctx.save_for_backward(h, torch.from_numpy(spec))
            spec = spec * hn
        else:
            ctx.save_for_backward(h)
            spec *= hn
        out = _crop(impl.ifft2(spec, workers, overwrite=True), ny, nx)
        return torch.from_numpy(out)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        impl, workers, (ny, nx) = ctx.impl, ctx.workers, ctx.n
        h = ctx.saved_tensors[0]
        s = tuple(h.shape[-2:])
        gspec = impl.fft2(_np(g), s, workers)
        gh = None
        if ctx.needs_input_grad[1]:
            gh = _transfer_grad(torch.from_numpy(gspec), ctx.saved_tensors[1])
        gx = None
        if ctx.needs_input_grad[0]:
            gspec *= _np(h).conj()
            gx = torch.from_numpy(_crop(impl.ifft2(gspec, workers, overwrite=True), ny, nx))
        return gx, gh, None, None, None


# --------------------------------------------------------------------------------------
# the seam
# --------------------------------------------------------------------------------------
def fft2(x: torch.Tensor, s: tuple[int, int] | None = None, *, backend: str = "auto",
         threads: int | None = None) -> torch.Tensor:
    """2-D forward DFT over the last two dims; ``s`` zero-pads (at the end) to that shape."""
    s = tuple(x.shape[-2:]) if s is None else tuple(int(v) for v in s)
    name = resolve_backend(backend, x, s)
    if name == "torch" or x.numel() == 0:
        return torch.fft.fft2(x, s=s)
    return _FFT2.apply(_complex(x), s, _impl(name), _workers(threads))


def ifft2(x: torch.Tensor, *, backend: str = "auto", threads: int | None = None) -> torch.Tensor:
    """2-D inverse DFT over the last two dims (1/N normalised)."""
    name = resolve_backend(backend, x)
    if name == "torch" or x.numel() == 0:
        return torch.fft.ifft2(x)
    return _IFFT2.apply(_complex(x), _impl(name), _workers(threads))


def filter2(x: torch.Tensor, h: torch.Tensor, *, backend: str = "auto", threads: int | None = None,
            spectrum_check=None) -> torch.Tensor:
    """``crop(ifft2(h · fft2(x, s=h.shape)))`` for ``x`` ``(*batch, ny, nx)``, ``h`` ``(My, Mx)``.

    Zero-pads at the end of each axis to ``h.shape``, filters, transforms back and crops to
    ``(ny, nx)``. ``spectrum_check(spectrum)``, if given, sees the padded spectrum (not for
    gradients). Differentiable in ``x`` and ``h``.
    """
    name = resolve_backend(backend, x, tuple(h.shape[-2:]), op="filter")
    fast = (name != "torch" and h.dim() == 2 and x.is_complex() and h.dtype == x.dtype
            and h.device == x.device and x.numel() > 0)
    if not fast:
        return _torch_filter(x, h, spectrum_check)
    if name == "pyfftw":
        from . import _fftw

        return _fftw.filter2(x, h, _workers(threads), spectrum_check)
    return _Filter.apply(x, h, _impl(name), _workers(threads), spectrum_check)


def _torch_filter(x, h, spectrum_check):
    ny, nx = x.shape[-2:]
    if x.numel() == 0:  # an empty batch (MKL's FFT rejects zero-sized transforms)
        return x * h[..., :ny, :nx]
    spectrum = torch.fft.fft2(x, s=tuple(h.shape[-2:]))
    if spectrum_check is not None:
        spectrum_check(spectrum)
    if h.requires_grad:
        spectrum = spectrum * h
    else:
        spectrum.mul_(h)  # in place: fft2's backward does not need its output
    return torch.fft.ifft2(spectrum)[..., :ny, :nx]
