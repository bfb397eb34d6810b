"""Benchmark: large CPU tensors on transparent huge pages or on 4 KiB pages (optics/_memory.py).

torch reads ``THP_MEM_ALLOC_ENABLE`` once per process, so each setting runs in its own fresh
process; the two processes alternate ``--rounds`` times and each reports medians. Work
measured in every process: ``FreeSpace`` (default backend, and forced onto torch.fft) forward
and forward+backward at N × N, batch 32, 2× padding, and the D2NN Adam step of
bench/d2nn_step.py's network (5 × (PhaseMask → FreeSpace), 200², batch 32). One JSON line per
(case): the median over rounds of each setting's wall and CPU time per call, the minor page
faults per call, and ``on_vs_off`` (< 1: huge pages are faster).

    python bench/huge_pages.py [--sizes 200 512] [--rounds 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from _timing import emit

LAM, PITCH, Z = 0.75e-3, 0.4e-3, 0.03


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def probe(sizes: list[int], repeats: int) -> dict:
    """Times of every case in this process: ``{case: (wall_ms, cpu_ms, faults)}``."""
    import torch

    import optics
    from optics import Field, FreeSpace, Grid, PhaseMask

    from _timing import interleaved_wall_cpu

    fns = {}
    for n in sizes:
        grid = Grid(n, PITCH)
        data = torch.randn(32, n, n, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
        for backend in ("auto", "torch"):
            layer = FreeSpace(grid, LAM, Z, fft_backend=backend)
            layer.warm_up()
            field = Field(data, grid, LAM)
            x = data.clone().requires_grad_(True)

            def fwd(layer=layer, field=field):
                with torch.no_grad():
                    layer(field)

            def fb(layer=layer, x=x, grid=grid):
                y = layer(Field(x, grid, LAM)).data
                (y.real.square() + y.imag.square()).sum().backward()

            fns[f"freespace n={n} {backend} forward"] = fwd
            fns[f"freespace n={n} {backend} forward+backward"] = fb
    grid = Grid(200, PITCH)
    for backend in ("auto", "torch"):
        gen = torch.Generator().manual_seed(0)
        net = torch.nn.Sequential(*[m for _ in range(5) for m in (PhaseMask(grid, init="uniform", generator=gen),
                                                                   FreeSpace(grid, LAM, Z, fft_backend=backend))])
        opt = torch.optim.Adam(net.parameters(), lr=0.01)
        img = torch.rand(32, 200, 200, generator=gen).to(torch.complex64)

        def step(net=net, opt=opt, img=img):
            opt.zero_grad()
            out = net(Field(img, grid, LAM)).data
            (out.real.square() + out.imag.square()).mean().backward()
            opt.step()

        fns[f"d2nn step {backend}"] = step
    faults = {}

    def counted(name, fn):
        def run():
            f0 = _faults()
            fn()
            faults.setdefault(name, []).append(_faults() - f0)
        return run

    wall, cpu = interleaved_wall_cpu({k: counted(k, f) for k, f in fns.items()}, repeats=repeats)
    return {"huge_pages": optics.huge_pages(),
            "cases": {k: (wall[k], cpu[k], statistics.median(faults[k][-repeats:])) for k in fns}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 512])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.sizes, args.repeats)))
        return
    runs = {"0": [], "1": []}
    for _ in range(args.rounds):
        for setting in ("0", "1"):
            cmd = [sys.executable, str(Path(__file__)), "--probe", "--repeats", str(args.repeats),
                   "--sizes", *map(str, args.sizes)]
            env = {**os.environ, "THP_MEM_ALLOC_ENABLE": setting}
            out = subprocess.run(cmd, cwd=Path(__file__).parent, env=env, capture_output=True, text=True,
                                 check=True).stdout
            runs[setting].append(json.loads(out.strip().splitlines()[-1]))
    if any(r["huge_pages"] for r in runs["0"]) or not all(r["huge_pages"] for r in runs["1"]):
        print(json.dumps({"bench": "huge_pages", "skipped": "the kernel or torch did not grant huge pages "
                          "(optics.huge_pages() was False with THP_MEM_ALLOC_ENABLE=1)"}))
        return
    med = statistics.median
    for case in runs["0"][0]["cases"]:
        off = [r["cases"][case] for r in runs["0"]]
        on = [r["cases"][case] for r in runs["1"]]
        rec = {"bench": "huge_pages", "case": case, "rounds": args.rounds, "repeats": args.repeats,
               "off_ms": round(med(v[0] for v in off), 2), "on_ms": round(med(v[0] for v in on), 2),
               "off_cpu_ms": round(med(v[1] for v in off), 2), "on_cpu_ms": round(med(v[1] for v in on), 2),
               "off_faults": med(v[2] for v in off), "on_faults": med(v[2] for v in on)}
        rec["on_vs_off"] = round(rec["on_ms"] / rec["off_ms"], 3)
        rec["on_vs_off_cpu"] = round(rec["on_cpu_ms"] / rec["off_cpu_ms"], 3)
        emit(rec)


if __name__ == "__main__":
    main()
