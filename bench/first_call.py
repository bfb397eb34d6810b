"""Benchmark: the first FreeSpace call of a process against its steady state.

Two fresh processes in turn share a new, empty wisdom cache (``ONNSIM_CACHE_DIR`` in a
temporary directory): the first plans with FFTW_MEASURE and saves the wisdom, the second
plans from it. Each builds ``FreeSpace`` (N × N, 2× padding), times its first forward call
(planning, workspaces, the band-limit check of a new batch shape, lazy imports), then the
median of the following calls. The pair runs ``--rounds`` times (a new cache each time): one JSON
line per (N, batch, process) with the medians over rounds, the ratio first / steady (median and
range), wall and CPU time, and the minor page faults of the first call and the median
of the following ones (the first call's result lands on fresh memory; later results reuse
what the allocator got back from the previous one).

    python bench/first_call.py [--sizes 200 512] [--batch 32] [--repeats 5] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import emit


def probe(n: int, b: int, repeats: int) -> dict:
    import torch

    from optics import Field, FreeSpace, Grid

    grid = Grid(n, 0.4e-3)
    layer = FreeSpace(grid, 0.75e-3, 0.03)
    field = Field(torch.randn(b, n, n, dtype=torch.complex64, generator=torch.Generator().manual_seed(0)),
                  grid, 0.75e-3)
    wall, cpu, faults = [], [], []
    with torch.no_grad():
        for _ in range(repeats + 1):
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            w0, c0 = time.perf_counter(), time.process_time()
            layer(field)
            cpu.append((time.process_time() - c0) * 1e3)
            wall.append((time.perf_counter() - w0) * 1e3)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    return {"first_ms": wall[0], "steady_ms": statistics.median(wall[1:]),
            "first_cpu_ms": cpu[0], "steady_cpu_ms": statistics.median(cpu[1:]),
            "first_page_faults": faults[0], "steady_page_faults": statistics.median(faults[1:])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 512])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5, help="pairs of processes, each pair with a new cache; "
                    "the lines give medians over rounds and the range of the ratio")
    ap.add_argument("--probe", nargs=3, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(*args.probe)))
        return
    for n in args.sizes:
        runs = {"first": [], "second": []}
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "ONNSIM_CACHE_DIR": cache}
                for proc in ("first", "second"):
                    cmd = [sys.executable, str(Path(__file__)), "--probe", str(n), str(args.batch), str(args.repeats)]
                    out = subprocess.run(cmd, cwd=Path(__file__).parent, env=env, capture_output=True, text=True,
                                         check=True).stdout
                    runs[proc].append(json.loads(out.strip().splitlines()[-1]))
        for proc, rs in runs.items():
            ratio = [r["first_ms"] / r["steady_ms"] for r in rs]
            ratio_cpu = [r["first_cpu_ms"] / r["steady_cpu_ms"] for r in rs]
            emit({"bench": "first_call", "n": n, "batch": args.batch, "process": proc, "rounds": args.rounds,
                  **{k: round(statistics.median(r[k] for r in rs), 2) for k in rs[0]},
                  "first_vs_steady": round(statistics.median(ratio), 3),
                  "first_vs_steady_cpu": round(statistics.median(ratio_cpu), 3),
                  "first_vs_steady_range": [round(min(ratio), 3), round(max(ratio), 3)]})

if __name__ == "__main__":
    main()
