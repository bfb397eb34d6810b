"""The in-place FFTW limit the benchmarks compare with, and peak-memory probes.

``InPlace``: the padded filter ``crop(F^{-1}(h ⊙ F pad(x)))`` of a whole batch ``(B, ny, nx)``
on one aligned ``(B, My, Mx)`` buffer with FFTW_MEASURE plans made for that batch (planning
not timed): zero the buffer, copy the batch into its corner, transform in place, multiply in
place, transform back in place, write the scaled crop into a fresh result. Nothing is
allocated but the result; it is what a hand-written planned FFTW pipeline costs per batch.
``InPlaceFilter`` wraps it as an autograd Function (backward: the same filter with conj(h))
for the hand-written D2NN step.

Peak memory: :func:`reset_peak` sets the kernel's high-water mark of the resident set to the
current RSS (``/proc/self/clear_refs``), :func:`peak_mb` reads it (``VmHWM``), :func:`rss_mb`
the current RSS (``VmRSS``); Linux only (None elsewhere).
"""

from __future__ import annotations

import re

import numpy as np
import pyfftw
import torch


class InPlace:
    """In-place planned FFTW filter of a ``(batch, ny, nx)`` batch padded to ``s`` ``(My, Mx)``."""

    def __init__(self, batch: int, n: tuple, s: tuple, dtype="complex64", threads: int | None = None):
        threads = torch.get_num_threads() if threads is None else threads
        self.n, self.s = n, s
        self.buf = pyfftw.empty_aligned((batch, *s), dtype=dtype)
        self.fw = pyfftw.FFTW(self.buf, self.buf, axes=(-2, -1), direction="FFTW_FORWARD", threads=threads,
                              flags=("FFTW_MEASURE",))
        self.bw = pyfftw.FFTW(self.buf, self.buf, axes=(-2, -1), direction="FFTW_BACKWARD", threads=threads,
                              flags=("FFTW_MEASURE",))
        self.scale = self.buf.real.dtype.type(1.0 / (s[0] * s[1]))

    def __call__(self, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        ny, nx = self.n
        self.buf[...] = 0
        self.buf[:, :ny, :nx] = x
        self.fw.execute()
        np.multiply(self.buf, h, out=self.buf)
        self.bw.execute()
        return np.multiply(self.buf[:, :ny, :nx], self.scale)


class InPlaceFilter(torch.autograd.Function):
    """``InPlace`` as an autograd Function: y = filter(x, h); x̄ = filter(ḡ, conj h)."""

    @staticmethod
    def forward(ctx, x, plan, h, hc):
        ctx.plan, ctx.hc = plan, hc
        return torch.from_numpy(plan(x.detach().numpy(), h))

    @staticmethod
    def backward(ctx, g):
        return torch.from_numpy(ctx.plan(g.detach().resolve_conj().numpy(), ctx.hc)), None, None, None


def _status(key: str):
    try:
        m = re.search(rf"{key}:\s+(\d+) kB", open("/proc/self/status").read())
    except OSError:
        return None
    return int(m.group(1)) / 1024 if m else None


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_mb():
    return _status("VmHWM")


def rss_mb():
    return _status("VmRSS")
