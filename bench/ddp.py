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


def _worker(kind: str, steps: int, shards: int = 1) -> None:
    sys.path.insert(0, str(ROOT))
    from training import TrainConfig, Trainer
    from training.distributed import init

    torch.set_num_threads(1)
    ctx = init("cpu")
    g = torch.Generator().manual_seed(0)
    if kind == "dat":
        from training.study import mesh_task
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
    # shards > 1 in one process: only the first shard, what one rank of `shards` computes
    idx = ctx.shard(torch.arange(batch)) if shards == 1 else torch.tensor_split(torch.arange(batch), shards)[0]
    reduce, spent = ctx.all_reduce_grads, [0.0]

    def timed_reduce(params):
        t = time.perf_counter()
        reduce(params)
        spent[0] += time.perf_counter() - t

    object.__setattr__(ctx, "all_reduce_grads", timed_reduce)  # DistContext is frozen; time the reductions
    trainer.step(images[idx], labels[idx], n_global=batch)  # warm-up (plans, allocations)
    ctx.barrier()
    spent[0] = 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.step(images[idx], labels[idx], n_global=batch)
    ctx.barrier()
    dt = time.perf_counter() - t0
    if ctx.is_main:
        print(json.dumps({"seconds": dt, "samples": steps * batch, "allreduce_s": spent[0]}), flush=True)


def _run(kind: str, nproc: int, steps: int, shards: int = 1) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
           "127.0.0.1", "--master_port", str(port), __file__, "--worker", kind, "--steps", str(steps), "--shards", str(shards)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    if res.returncode != 0:
        raise SystemExit(f"{kind} with {nproc} processes failed:\n{res.stderr[-2000:]}")
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--worker")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--kinds", default="dat,imaging")
    ap.add_argument("--shards", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        _worker(a.worker, a.steps, a.shards)
        from training.distributed import exit_process

        exit_process(0)  # a rank ends without interpreter teardown (see exit_process)
    for kind in a.kinds.split(","):
        rates, half, comm = {1: [], 2: []}, [], []
        for _ in range(a.repeats):
            for n in (1, 2):
                r = _run(kind, n, a.steps)
                rates[n].append(r["samples"] / r["seconds"])
                if n == 2:
                    comm.append(r["allreduce_s"] / r["seconds"])
            r = _run(kind, 1, a.steps, shards=2)  # one process computing one rank's half alone
            half.append(r["samples"] / r["seconds"])  # global samples per second if 2 ranks ran like it
        ratios = [r2 / r1 for r1, r2 in zip(rates[1], rates[2])]
        med = statistics.median
        # the 2-process ratio factors into: what halving the batch gives one process alone
        # (fixed per-step costs), times what running two side by side keeps of that (contention
        # for cache and memory bandwidth, and the all-reduce, whose share of the step is given)
        print(json.dumps({"bench": "ddp", "kind": kind, "steps": a.steps, "samples_per_s_1proc": rates[1],
                          "samples_per_s_2proc": rates[2], "ratio_median": med(ratios),
                          "half_batch_alone_ratio": med([h / r1 for h, r1 in zip(half, rates[1])]),
                          "side_by_side_kept": med([r2 / h for r2, h in zip(rates[2], half)]),
                          "allreduce_share_2proc": med(comm),
                          "ratio_goal": 1.7, "threads_per_process": 1, "cpus": os.cpu_count()}), flush=True)


if __name__ == "__main__":
    main()
