"""Timing helpers for benchmarks: interleaved repeats, medians, JSON lines."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time

import torch

from optics import use_huge_pages

#: large tensors on transparent huge pages (optics/_memory.py), as `python -m experiments run` sets it;
#: set before any tensor exists, and fixed for the process, so every record reuses it
HUGE_PAGES = use_huge_pages()


def interleaved(fns: dict, *, repeats: int, warmup: int = 2, clock=time.perf_counter) -> dict:
    """Median time (ms) of each callable, run in alternation so drift hits all alike.

    ``clock``: ``time.perf_counter`` (wall) or ``time.process_time`` (CPU time of the process,
    all threads: what the work costs, less sensitive to other load on a shared machine)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = clock()
            fn()
            times[k].append((clock() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def interleaved_wall_cpu(fns: dict, *, repeats: int, warmup: int = 1) -> tuple[dict, dict]:
    """Median wall time and median process CPU time (ms) of each callable, from the same
    interleaved runs (one pass, both clocks)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    wall, cpu = {k: [] for k in fns}, {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            cpu[k].append((time.process_time() - c0) * 1e3)
            wall[k].append((time.perf_counter() - w0) * 1e3)
    med = statistics.median
    return {k: med(v) for k, v in wall.items()}, {k: med(v) for k, v in cpu.items()}


_ENV = ("OMP_NUM_THREADS", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "ONNSIM_FFT_BACKEND", "THP_MEM_ALLOC_ENABLE")


def emit(record: dict) -> None:
    record.setdefault("env", {k: os.environ[k] for k in _ENV if k in os.environ})  # what threading ran under
    record.setdefault("torch", torch.__version__)
    record.setdefault("threads", torch.get_num_threads())
    record.setdefault("huge_pages", HUGE_PAGES)
    record.setdefault("machine", platform.machine())
    print(json.dumps(record), flush=True)
