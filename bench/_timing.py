"""Timing helpers for benchmarks: interleaved repeats, medians, JSON lines."""

from __future__ import annotations

import json
import platform
import statistics
import time

import torch


def interleaved(fns: dict, *, repeats: int, warmup: int = 2) -> dict:
    """Median wall time (ms) of each callable, run in alternation so drift hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def emit(record: dict) -> None:
    record.setdefault("torch", torch.__version__)
    record.setdefault("threads", torch.get_num_threads())
    record.setdefault("machine", platform.machine())
    print(json.dumps(record), flush=True)
