"""Worker for the data-parallel tests: trains one small arm alone (no torchrun) or as one rank
under ``torchrun``; rank 0 writes the final parameters, history and query counts to OUT.

Usage: python _ddp_worker.py {mesh-dat|diffractive-pat} EPOCHS OUT.pt
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import diffractive_task, mesh_task, synthetic_images  # noqa: E402

from hardware import PhysicalSystem  # noqa: E402
from training import TrainConfig, Trainer  # noqa: E402
from training.distributed import exit_process, init  # noqa: E402


def main(kind: str, epochs: int, out: str) -> None:
    ctx = init("cpu")
    torch.set_num_threads(1)
    images, labels = synthetic_images(150, seed=5)
    if kind == "mesh-dat":
        task = mesh_task(seed=2, dtype=torch.float64)
        physical = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1", seed=3)
        cfg = TrainConfig(method="dat", epochs=epochs, batch_size=25, lr=1e-2, sepn_lr=1e-2,
                          sepn_features=(4, 6, 8), internal_states=True, dat_warmup_epochs=1, val_fraction=0.2,
                          eval_batch_size=7, device="cpu")
    elif kind == "diffractive-pat":
        task = diffractive_task(seed=4)
        task.double()
        physical = PhysicalSystem(task.system, preset="shift_px=0.5,gap_rel=0.02", seed=6)
        cfg = TrainConfig(method="pat", epochs=epochs, batch_size=25, lr=5e-2, val_fraction=0.2,
                          eval_batch_size=7, device="cpu")
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    trainer = Trainer(task, cfg, physical=physical, ctx=ctx)
    fit = trainer.fit(images.double(), labels, progress=False)
    if ctx.is_main:
        torch.save({"state": {k: v.detach().clone() for k, v in task.state_dict().items()},
                    "history": fit["history"], "queries": fit["queries"], "samples": fit["samples"],
                    "world_size": ctx.world_size}, out)
    ctx.barrier()
    ctx.close()  # leave the group now, as the CLI does


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
    exit_process(0)  # as the CLI: a rank ends without interpreter teardown (training.distributed.exit_process)
