"""DAT step vs PAT step on the interference PNN (3 meshes of 64 modes, bs = ps = 0.06, batch
500, one thread): median process CPU time and wall time of each, interleaved in one run, and
the DAT/PAT ratios. ``dat-conv`` is DAT with every SEPN conv through the convolution routine
(``training.sepn.DENSE_SMALL_CONVS`` off), the baseline of the dense small convs in the same run.
``--device cuda``: the same steps on a GPU (each call ends with ``torch.cuda.synchronize()``;
compare the wall-time ratios there, the CPU times are the host's).
Usage: ``python bench/dat_step.py [--repeats N] [--device cpu|cuda]``; prints one JSON line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved_wall_cpu  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    a = ap.parse_args()
    cuda = a.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print(json.dumps({"bench": "dat_step", "skipped": "CUDA is not available", "device": a.device}))
        return
    torch.set_num_threads(a.threads)
    from training.study import mesh_task
    from hardware import PhysicalSystem
    from training import TrainConfig, Trainer

    g = torch.Generator().manual_seed(0)
    images, labels = torch.rand(500, 28, 28, generator=g), torch.randint(0, 10, (500,), generator=g)

    def trainer(method, **kw):
        task = mesh_task(modes=64, meshes=3, seed=0)
        phys = PhysicalSystem(task.device_model, preset="bs=0.06,ps=0.06", seed=1)
        return Trainer(task, TrainConfig(method=method, device=a.device, **kw), physical=phys)

    import training.sepn as sepn

    def step(t, dense=True):
        sepn.DENSE_SMALL_CONVS = dense
        try:
            t.step(images, labels)
            if cuda:
                torch.cuda.synchronize()
        finally:
            sepn.DENSE_SMALL_CONVS = True

    arms = {"pat": trainer("pat"), "dat": trainer("dat"), "dat-is": trainer("dat", internal_states=True),
            # dat-mpnn's DAT w/ IS arm: the reference code's fusion rule, no joint similarity gradients
            "dat-ref-is": trainer("dat", internal_states=True, dat_fusion="reference", reference_joint=False)}
    calls = {k: (lambda t=t: step(t)) for k, t in arms.items()}
    calls["dat-conv"] = lambda t=trainer("dat"): step(t, dense=False)
    wall, cpu = interleaved_wall_cpu(calls, repeats=a.repeats)
    print(json.dumps({"bench": "dat_step", "batch": 500, "threads": a.threads, "device": a.device,
                      "device_name": torch.cuda.get_device_name(a.device) if cuda else "cpu",
                      "wall_ms": wall, "cpu_ms": cpu,
                      "ratio_dat_pat_cpu": cpu["dat"] / cpu["pat"], "ratio_dat_is_pat_cpu": cpu["dat-is"] / cpu["pat"],
                      "ratio_dat_pat_wall": wall["dat"] / wall["pat"],
                      "ratio_dat_is_pat_wall": wall["dat-is"] / wall["pat"],
                      "ratio_dat_ref_is_pat_cpu": cpu["dat-ref-is"] / cpu["pat"],
                      "ratio_dat_ref_is_pat_wall": wall["dat-ref-is"] / wall["pat"],
                      "ratio_dat_dense_vs_conv_cpu": cpu["dat"] / cpu["dat-conv"],
                      "ratio_goal": 2.5}))


if __name__ == "__main__":
    main()
