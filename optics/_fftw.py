"""The planned FFTW filter: per-field chunks on small reused workspaces, plans kept as wisdom.

``y = crop(F^{-1}(h ⊙ F pad(x)))`` for a batch ``x`` ``(B, ny, nx)`` runs as ``ceil(B / k)``
chunks of ``k`` fields (:data:`CHUNK_FIELDS`) through one pair of FFTW plans on aligned
workspaces ``pad`` and ``spec`` of ``(k, My, Mx)``: copy the chunk into the zero-padded
corner of ``pad``, transform out of place into ``spec``, multiply by ``h`` there, transform
back in place, write the scaled crop into the result. So

* the plans depend on the padded shape only, not on the batch: any batch size (odd last
  batches, evaluation batches) reuses them, and the cost per field is flat;
* the workspaces hold ``2k`` fields whatever the batch: memory beyond the input and the
  result is a few MB, below an in-place transform of the whole batch;
* one field of a 400² or 1024² transform stays in cache between the two transforms and the
  multiply. Measured on the 2-core machine (complex64, 2 FFTW threads, load < 1, ms per field):
  k = 1 0.69 (400²) and 8.0 (1024²); k = 8 1.2 and 10.5; one in-place plan over a batch of
  32 2.6 and 11.1.

Threads: with ``workers`` > 1 the chunks are handed out to ``workers`` lanes, each with its
own workspace and single-threaded plans, in a thread pool (pyfftw and numpy release the
GIL): one synchronisation per call. FFTW's own threads split every transform and meet at
barriers several times per field, which on a loaded machine cost more than the transform
(400², batch 32, 2 threads, load ≈ 8 on 2 cores: 38 ms per field against 7.5 for one
in-place plan over the batch). But a lane costs a hand-off per call (waking a pool thread),
which a few fields do not pay back: a batch of fewer than :data:`LANE_MIN_CHUNKS` chunks per
lane runs on one lane with ``workers`` FFTW threads, as the in-place limit of bench/ does
(200² padded to 400², 2 threads, quiet machine, per field against that limit: batch 2 with two
lanes 1.4–1.6×, on one lane 0.9–1.0×; batches 4 and 8 with lanes 0.8–1.4× from run to run,
on one lane 0.8–1.0×). On a loaded machine those small batches wait at FFTW's barriers like
the limit does. A child forked after its parent ran FFTW's (OpenMP) threads runs single-threaded
plans: libgomp's pool does not survive a fork.

Workspaces are cached per (shape, padded shape, dtype, threads, chunk, lane) in an LRU
bounded in bytes (:func:`workspace_limit`: ``$ONNSIM_FFT_WORKSPACE_MB`` or 1/16 of the
physical memory, at most 1 GiB); a chunk shrinks to fit the bound, and a workspace larger than the bound is
used once and dropped. :func:`release` frees them all. Plans are FFTW_MEASURE, at most
:data:`PLAN_TIME_LIMIT_S` of measuring per plan; the wisdom
is persisted per machine (:mod:`optics._wisdom`), so a new process plans from it at once;
:func:`warm_up` plans ahead of the first call.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
import weakref

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from . import _wisdom

__all__ = ["CHUNK_FIELDS", "LANE_MIN_CHUNKS", "LIMIT_ENV", "workspace_limit", "lanes", "release", "prepare",
           "warm_up", "filter2", "cached_bytes"]

CHUNK_FIELDS = 1  # fields per FFTW execution (measured best, see the module docstring)
LANE_MIN_CHUNKS = 8  # chunks a parallel lane needs to be worth its hand-off (see lanes())
LIMIT_ENV = "ONNSIM_FFT_WORKSPACE_MB"
_MAX_DEFAULT = 1 << 30
PLAN_TIME_LIMIT_S = 2.0  # FFTW_MEASURE gives up measuring after this (a huge or awkward shape)
_SAVE_AFTER_S = 0.02  # planning slower than this measured something new: persist the wisdom
_DTYPES = {torch.complex64: "complex64", torch.complex128: "complex128"}
_ITEMSIZE = {torch.complex64: 8, torch.complex128: 16}


def workspace_limit() -> int:
    """Bytes all cached workspaces may hold: ``$ONNSIM_FFT_WORKSPACE_MB`` (read per call),
    else 1/16 of the physical memory, at most 1 GiB."""
    env = os.environ.get(LIMIT_ENV, "").strip()
    if env:
        try:
            mb = float(env)
        except ValueError:
            raise ValueError(f"{LIMIT_ENV}={env!r} is not a number of MiB") from None
        if not mb >= 0:
            raise ValueError(f"{LIMIT_ENV} must be ≥ 0 MiB, got {env!r}")
        return int(mb * (1 << 20))
    return min(_MAX_DEFAULT, _physical_memory() // 16)


@functools.lru_cache(maxsize=1)
def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 << 30


class Workspace:
    """Plans and aligned workspaces ``pad`` → ``spec`` for ``chunk`` fields ``n`` padded to ``s``."""

    def __init__(self, n: tuple, s: tuple, dtype: str, workers: int, chunk: int, *, flags=("FFTW_MEASURE",)):
        import pyfftw

        self.n, self.s, self.chunk = n, s, chunk
        self.pad = pyfftw.empty_aligned((chunk, *s), dtype=dtype)  # zeroed once planned
        self.spec = pyfftw.empty_aligned((chunk, *s), dtype=dtype)
        self.nbytes = self.pad.nbytes + self.spec.nbytes
        self.scale = self.pad.real.dtype.type(1.0 / (s[0] * s[1]))
        t0 = time.perf_counter()
        kw = dict(axes=(-2, -1), threads=workers, flags=flags, planning_timelimit=PLAN_TIME_LIMIT_S)
        self.fw = pyfftw.FFTW(self.pad, self.spec, direction="FFTW_FORWARD", **kw)
        self.bw = pyfftw.FFTW(self.spec, self.spec, direction="FFTW_BACKWARD", **kw)
        self.plan_s = time.perf_counter() - t0
        self.pad[...] = 0  # planning may scribble on the arrays; only the corner is written later

    def spectrum(self, x: np.ndarray) -> np.ndarray:
        """F pad(x) for ``x`` ``(k ≤ chunk, ny, nx)``: a view of ``spec`` valid until the next call."""
        k = x.shape[0]
        ny, nx = self.n
        np.copyto(self.pad[:k, :ny, :nx], x)
        self.fw.execute()
        return self.spec[:k]

    def finish(self, h: np.ndarray, out: np.ndarray) -> None:
        """``out`` ``(k, ny, nx)`` ← crop(F^{-1}(h ⊙ spec))."""
        np.multiply(self.spec, h, out=self.spec)
        self.bw.execute()
        ny, nx = self.n
        np.multiply(self.spec[: out.shape[0], :ny, :nx], self.scale, out=out)


_CACHE: dict = {}  # key → Workspace, least recently used first


def cached_bytes() -> int:
    """Bytes held by the cached workspaces."""
    return sum(w.nbytes for w in _CACHE.values())


def release() -> None:
    """Free every cached workspace (plans are re-made from wisdom when needed again)."""
    _CACHE.clear()


def _workspace(key: tuple, limit: int, wisdom_only: bool = False) -> Workspace:
    """The cached workspace ``key``, made (planned) if missing. ``wisdom_only``: plan only from
    the wisdom already loaded; RuntimeError when it does not have the plans."""
    ws = _CACHE.pop(key, None)
    if ws is None:
        n, s, dtype, threads, chunk, _lane = key
        _wisdom.load()
        flags = ("FFTW_MEASURE", "FFTW_WISDOM_ONLY") if wisdom_only else ("FFTW_MEASURE",)
        ws = Workspace(n, s, _DTYPES[dtype], threads, chunk, flags=flags)
        if ws.plan_s > _SAVE_AFTER_S and not wisdom_only:
            _wisdom.save()
    if ws.nbytes <= limit:
        _CACHE[key] = ws  # most recently used last
        while cached_bytes() > limit:
            _CACHE.pop(next(iter(_CACHE)))
    return ws


def lanes(workers: int, chunks: int) -> int:
    """Parallel lanes for a batch of ``chunks`` chunks: ``min(workers, chunks // LANE_MIN_CHUNKS)``,
    at least one. A lane is worth its hand-off (waking a pool thread, one synchronisation)
    only when it has :data:`LANE_MIN_CHUNKS` chunks or more to run; below that the batch runs
    on one lane with all ``workers`` as FFTW threads."""
    return max(1, min(workers, chunks // LANE_MIN_CHUNKS))


def _workspaces(n: tuple, s: tuple, dtype: torch.dtype, workers: int, batch: int, wisdom_only: bool = False) -> list:
    """One workspace per lane (:func:`lanes`). Several lanes run single-threaded plans on their
    own chunks in parallel threads (one synchronisation per call); a single lane gets all
    ``workers`` as FFTW threads."""
    limit = workspace_limit()
    field = 2 * s[0] * s[1] * _ITEMSIZE[dtype]
    chunk = max(1, min(CHUNK_FIELDS, batch, limit // field))
    n_lanes = lanes(workers, -(-batch // chunk))
    threads = workers if n_lanes == 1 and _omp_ok() else 1
    return [_workspace((n, s, dtype, threads, chunk, lane), limit, wisdom_only) for lane in range(n_lanes)]


_OMP_PID = None  # the process that first ran FFTW's OpenMP threads


def _omp_ok() -> bool:
    """Whether FFTW's OpenMP threads may run here: not in a child forked after its parent ran
    them (libgomp's pool does not survive a fork: a parallel region in the child hangs)."""
    global _OMP_PID
    if _OMP_PID is None:
        _OMP_PID = os.getpid()
    return _OMP_PID == os.getpid()


def warm_up(n: tuple, s: tuple, dtype: torch.dtype = torch.complex64, threads: int | None = None, *,
            wisdom_only: bool = False) -> float:
    """Plan (or load from wisdom) the filter of ``n`` ``(ny, nx)`` fields padded to ``s`` ``(My, Mx)``,
    for a single field and for batches. Returns the planning time in seconds (near zero when
    the wisdom already had it). ``wisdom_only``: plan only what this machine's wisdom already
    has (milliseconds, never a measurement); the rest is left to the first call."""
    workers = torch.get_num_threads() if threads is None else int(threads)
    batches = (1, LANE_MIN_CHUNKS * workers * CHUNK_FIELDS)  # one lane of `workers` threads; all lanes
    wss = {}
    for b in batches:
        try:
            wss.update((id(w), w) for w in _workspaces(tuple(n), tuple(s), dtype, workers, b, wisdom_only))
        except RuntimeError:  # FFTW_WISDOM_ONLY: the wisdom does not have this plan
            if not wisdom_only:
                raise
    return sum(w.plan_s for w in wss.values())


def prepare() -> None:
    """Import pyfftw and this machine's wisdom now (a second or so of imports, once per
    process), so that the first filter call only plans, from the wisdom."""
    import pyfftw  # noqa: F401

    _wisdom.load()


_POOL = (None, 0, -1)  # (executor, size, pid): a forked child makes its own


def _pool(size: int):
    global _POOL
    pool, have, pid = _POOL
    if pool is None or have < size or pid != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="onnsim-fftw")
        _POOL = (pool, size, os.getpid())
    return pool


def _run(wss: list, x: np.ndarray, h: np.ndarray, out: np.ndarray, check=None) -> None:
    """The chunked filter: ``out`` ``(B, ny, nx)`` ← crop(F^{-1}(h ⊙ F pad(x))), chunks handed
    out to the lanes ``wss`` as they come free (pyfftw and numpy release the GIL)."""
    batch, chunk = x.shape[0], wss[0].chunk
    # a check that says it is thread-safe runs in the lanes side by side, others one at a time
    shared = check is not None and getattr(check, "thread_safe", False)
    if check is not None:  # a band-loss check takes numpy spectra as they are (optics.functional._bandloss)
        check = getattr(check, "check_numpy", None) or (lambda spec, chunk, fn=check: fn(torch.from_numpy(spec)))
    if len(wss) == 1:  # one lane: no locks, no pool
        ws = wss[0]
        with np.errstate(invalid="ignore", over="ignore"):
            for i in range(0, batch, chunk):
                j = min(batch, i + chunk)
                spec = ws.spectrum(x[i:j])
                if check is not None:
                    check(spec, x[i:j])
                ws.finish(h, out[i:j])
        return
    starts = iter(range(0, batch, chunk))
    lock = threading.Lock()
    check_lock = contextlib.nullcontext() if shared else threading.Lock()

    def lane(ws):
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite input: the caller's check says so
            while True:
                with lock:
                    i = next(starts, None)
                if i is None:
                    return
                j = min(batch, i + chunk)
                spec = ws.spectrum(x[i:j])
                if check is not None:
                    with check_lock:
                        check(spec, x[i:j])
                ws.finish(h, out[i:j])

    futures = [_pool(len(wss) - 1).submit(lane, ws) for ws in wss[1:]]
    try:
        lane(wss[0])
    finally:
        for f in futures:  # the workspaces are free again only when every lane is done
            f.result()


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().resolve_conj().resolve_neg().numpy()


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, *t.shape[-2:])


class _ChunkedFilter(torch.autograd.Function):
    """y = crop(F^{-1}(h ⊙ F pad(x))) in chunks. Adjoints: x̄ = the same filter with conj(h) on
    g; h̄ = Σ_batch conj(F pad(x)) ⊙ F pad(g) / M, recomputed per chunk from the saved input
    (no spectrum of the whole batch is kept)."""

    @staticmethod
    def forward(ctx, x, h, workers, check):
        out = _filter(x, h, workers, check)
        ctx.workers = workers
        ctx.save_for_backward(h, x if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        h, x = ctx.saved_tensors
        ny, nx = g.shape[-2:]
        s = tuple(h.shape[-2:])
        gf = _np(_flat(g))
        wss = _workspaces((ny, nx), s, g.dtype, ctx.workers, gf.shape[0])
        hc = _conj(h)
        gx = gh = None
        if ctx.needs_input_grad[0]:
            gx = torch.empty(g.shape, dtype=g.dtype)
            _run(wss, gf, hc, gx.view(-1, ny, nx).numpy())
        if ctx.needs_input_grad[1]:  # rare (a differentiable distance): one lane
            ws, xf = wss[0], _np(_flat(x))
            acc = np.zeros(s, dtype=gf.dtype)
            for i in range(0, gf.shape[0], ws.chunk):
                j = min(gf.shape[0], i + ws.chunk)
                gspec = ws.spectrum(gf[i:j]).copy()
                acc += (ws.spectrum(xf[i:j]).conj() * gspec).sum(0)
            gh = torch.from_numpy(acc / (s[0] * s[1]))
        return gx, gh, None, None


def _filter(x: torch.Tensor, h: torch.Tensor, workers: int, check) -> torch.Tensor:
    """The forward filter on numpy views, no autograd: a fresh result of ``x``'s shape."""
    ny, nx = x.shape[-2:]
    xf = _np(x).reshape(-1, ny, nx)  # a view for a contiguous x (numpy's reshape: cheaper than torch's)
    out = torch.empty(x.shape, dtype=x.dtype)
    _run(_workspaces((ny, nx), tuple(h.shape[-2:]), x.dtype, workers, xf.shape[0]), xf, _np(h),
         out.numpy().reshape(-1, ny, nx), check)
    return out


_CONJ: tuple = (None, -1, None)  # (weakref to h, h's version, conj(h) as numpy): the last backward's


def _conj(h: torch.Tensor) -> np.ndarray:
    """conj(h) as numpy, reused while ``h`` is the same, unmodified tensor (a layer's transfer
    function in every backward): no fresh array of the padded size per call."""
    global _CONJ
    ref, version, hc = _CONJ
    if ref is not None and ref() is h and version == h._version:
        return hc
    hc = _np(h).conj()
    _CONJ = (weakref.ref(h, _forget_conj), h._version, hc)
    return hc


def _forget_conj(ref) -> None:
    """``h`` is gone: drop its conjugate with it."""
    global _CONJ
    if _CONJ[0] is ref:
        _CONJ = (None, -1, None)


def filter2(x: torch.Tensor, h: torch.Tensor, workers: int, spectrum_check=None) -> torch.Tensor:
    """The planned filter for a CPU complex ``x`` ``(*batch, ny, nx)`` and ``h`` ``(My, Mx)`` of its dtype.

    ``spectrum_check``, if given, is called once per chunk with that chunk's padded spectrum.
    Without a gradient to track (no_grad, or neither input requires grad) it runs without
    an autograd node: the same computation, less per-call overhead."""
    if torch.is_grad_enabled() and (x.requires_grad or h.requires_grad):
        return _ChunkedFilter.apply(x, h, workers, spectrum_check)
    return _filter(x, h, workers, spectrum_check)
