"""Data-parallel scaling on torch.distributed: samples per second of 1 vs 2 processes (gloo,
one thread each) for the DAT step of the interference PNN (3 meshes of 64 modes, bs = ps =
0.06, internal states, global batch 500) and for a diffuser-imaging step (cpu geometry: 120²
at 0.3 mm, 4 layers, 12 diffusers, global batch 4).

Both runs happen in this invocation (interleaved: 1, 2, 1, 2 processes ...), and the JSON
line reports the median ratio (2-process throughput / 1-process throughput); the goal is
≥ 1.7. Usage: ``python bench/ddp.py [--steps N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _worker(kind: str, steps: int) -> None:
    sys.path.insert(0, str(ROOT))
    from training import TrainConfig, Trainer
    from training.distributed import init

    torch.set_num_threads(1)
    ctx = init("cpu")
    g = torch.Generator().manual_seed(0)
    if kind == "dat":
        from experiments.study import mesh_task
        from hardware import PhysicalSystem

        task = mesh_task(modes=64, meshes=3, seed=0)
        physical = PhysicalSystem(task.device_model, preset="bs=0.06,ps=0.06", seed=1)
        trainer = Trainer(task, TrainConfig(method="dat", internal_states=True, device="cpu"), physical=physical, ctx=ctx)
        images, labels, batch = torch.rand(500, 28, 28, generator=g), torch.randint(0, 10, (500,), generator=g), 500
    else:
        from experiments.diffusers.imaging import SCALES, ImagingConfig, imaging_task, train_config

        cfg = ImagingConfig(**SCALES["cpu"])
        task = imaging_task(cfg)
        task.start_epoch(0)
        trainer = Trainer(task, train_config(cfg, device="cpu"), ctx=ctx)
        images = (255 * torch.rand(4, 28, 28, generator=g)).to(torch.uint8)
        labels, batch = torch.zeros(4, dtype=torch.long), 4
    idx = ctx.shard(torch.arange(batch))
    trainer.step(images[idx], labels[idx], n_global=batch)  # warm-up (plans, allocations)
    ctx.barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.step(images[idx], labels[idx], n_global=batch)
    ctx.barrier()
    dt = time.perf_counter() - t0
    if ctx.is_main:
        print(json.dumps({"seconds": dt, "samples": steps * batch}), flush=True)


def _run(kind: str, nproc: int, steps: int) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
           "127.0.0.1", "--master_port", str(port), __file__, "--worker", kind, "--steps", str(steps)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    if res.returncode != 0:
        raise SystemExit(f"{kind} with {nproc} processes failed:\n{res.stderr[-2000:]}")
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]
    r = json.loads(line)
    return r["samples"] / r["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--worker")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--kinds", default="dat,imaging")
    a = ap.parse_args()
    if a.worker:
        return _worker(a.worker, a.steps)
    for kind in a.kinds.split(","):
        rates = {1: [], 2: []}
        for _ in range(a.repeats):
            for n in (1, 2):
                rates[n].append(_run(kind, n, a.steps))
        ratios = [r2 / r1 for r1, r2 in zip(rates[1], rates[2])]
        print(json.dumps({"bench": "ddp", "kind": kind, "steps": a.steps, "samples_per_s_1proc": rates[1],
                          "samples_per_s_2proc": rates[2], "ratio_median": statistics.median(ratios),
                          "ratio_goal": 1.7, "threads_per_process": 1, "cpus": os.cpu_count()}), flush=True)


if __name__ == "__main__":
    main()
