"""Benchmark: FreeSpace per field across batch sizes against the in-place FFTW limit.

For N ∈ {200, 512} (complex64, 2× padding, the THz D2NN geometry) and batch sizes
1, 2, 8, 31, 32, 33, 64, 128, forward and forward+backward (loss Σ|u|² through autograd; the limit is
wrapped in an autograd Function whose backward is its filter with conj(H)), it times ``FreeSpace`` (default backend, input
checks on) against ``_limit.InPlace`` planned for exactly that batch, interleaved in the
same run: medians of wall and process-CPU time, per field. Both use ``torch.get_num_threads()``
threads: the limit as FFTW threads of its one plan over the batch, the module as FFTW threads
of one lane below two fields per thread, else as that many parallel lanes of single-threaded
plans (recorded per line: ``limit_fftw_threads``, ``module_lanes``, ``module_fftw_threads_per_lane``). Batches ≤ 2 also time the
module forced onto torch.fft and onto the planned FFTW filter (what ``auto`` chooses from).
Peak memory: one fresh process per (implementation, N, batch) runs a warm-up call, then
the measured call, and reports the peak resident set (``VmHWM``) of the process and its
part above the process's RSS before the input was made. One JSON line per case.

    python bench/batch_sweep.py [--repeats 5] [--sizes 200 512] [--batches 1 2 8 ...] [--no-memory]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from pathlib import Path

import torch

from optics import Field, FreeSpace, Grid, _fftw, _wisdom
from optics.functional import asm_transfer_function

from _limit import InPlace, InPlaceFilter, peak_mb, reset_peak, rss_mb
from _timing import emit, interleaved_wall_cpu

LAM, PITCH, Z = 0.75e-3, 0.4e-3, 0.03
BATCHES = [1, 2, 8, 31, 32, 33, 64, 128]


def _setup(n: int, b: int, impl: str):
    grid = Grid(n, PITCH)
    data = torch.randn(b, n, n, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    x = data.clone().requires_grad_(True)
    if impl == "limit":
        h = asm_transfer_function(grid, LAM, Z)
        hn, hc = h.numpy(), h.conj().resolve_conj().numpy()
        plan = InPlace(b, (n, n), tuple(h.shape))
        dn = data.numpy()

        def fb_limit():  # the same loss and autograd graph as the module's, around the limit
            y = InPlaceFilter.apply(x, plan, hn, hc)
            (y.real.square() + y.imag.square()).sum().backward()

        return (lambda: plan(dn, hn)), fb_limit
    layer = FreeSpace(grid, LAM, Z, fft_backend={"module": "auto", "module_torch": "torch",
                                                 "module_pyfftw": "pyfftw"}[impl])
    layer.warm_up()
    field = Field(data, grid, LAM)

    def fwd():
        with torch.no_grad():
            layer(field)

    def fb():
        layer(Field(x, grid, LAM)).intensity().sum().backward()

    return fwd, fb


def memory_probe(impl: str, n: int, b: int) -> dict:
    """Peak RSS (MB) of this process in one forward and one forward+backward call, after a warm-up."""
    base = rss_mb()
    fwd, fb = _setup(n, b, impl)
    out = {"base_mb": base}
    for mode, fn in (("forward", fwd), ("forward+backward", fb)):
        fn()
        gc.collect()
        if not reset_peak():
            return {"memory": "unavailable (no /proc/self/clear_refs)"}
        fn()
        peak = peak_mb()
        out[mode] = {"peak_mb": round(peak, 1), "above_base_mb": round(peak - base, 1)}
    return out


def _probe(impl, n, b) -> dict:
    cmd = [sys.executable, str(Path(__file__)), "--memory-probe", impl, str(n), str(b)]
    res = subprocess.run(cmd, cwd=Path(__file__).parent, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _repeats(base: int, n: int, b: int) -> int:
    """Fewer repeats for the long cases (keeps a run to minutes)."""
    return base if b * (n / 200) ** 2 <= 64 else max(3, (base + 1) // 2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 512])
    ap.add_argument("--batches", type=int, nargs="+", default=BATCHES)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--memory-probe", nargs=3, metavar=("IMPL", "N", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_probe:
        impl, n, b = args.memory_probe
        print(json.dumps(memory_probe(impl, int(n), int(b))))
        return
    _wisdom.load()
    for n in args.sizes:
        for b in args.batches:
            impls = ["limit", "module"] + (["module_torch", "module_pyfftw"] if b <= 2 else [])
            cases = {k: _setup(n, b, k) for k in impls}
            _wisdom.save()  # the limit's plans too: the memory probes' processes reuse them
            r = _repeats(args.repeats, n, b)
            mem = {} if args.no_memory else {k: _probe(k, n, b) for k in ("limit", "module")}
            for i, mode in enumerate(("forward", "forward+backward")):
                wall, cpu = interleaved_wall_cpu({k: c[i] for k, c in cases.items()}, repeats=r)
                threads = torch.get_num_threads()  # what the limit's plans and the module's filter both use
                lanes = _fftw.lanes(threads, -(-b // _fftw.CHUNK_FIELDS))
                rec = {"bench": "batch_sweep", "n": n, "batch": b, "mode": mode, "dtype": "complex64",
                       "pad_factor": 2, "repeats": r, "limit_fftw_threads": threads, "module_lanes": lanes,
                       "module_fftw_threads_per_lane": threads if lanes == 1 else 1}
                for k in impls:
                    rec[f"{k}_ms_per_field"] = round(wall[k] / b, 4)
                    rec[f"{k}_cpu_ms_per_field"] = round(cpu[k] / b, 4)
                rec["module_vs_limit"] = round(wall["module"] / wall["limit"], 3)
                rec["module_vs_limit_cpu"] = round(cpu["module"] / cpu["limit"], 3)
                for k, m in mem.items():
                    if mode in m:
                        rec[f"{k}_peak_mb"] = m[mode]["peak_mb"]
                        rec[f"{k}_above_base_mb"] = m[mode]["above_base_mb"]
                if "limit_peak_mb" in rec and "module_peak_mb" in rec:
                    rec["module_vs_limit_peak"] = round(rec["module_peak_mb"] / rec["limit_peak_mb"], 3)
                    rec["module_vs_limit_above_base"] = round(rec["module_above_base_mb"] / rec["limit_above_base_mb"], 3)
                emit(rec)
            del cases
            gc.collect()


if __name__ == "__main__":
    main()
