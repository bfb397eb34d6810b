"""An arm's record carries the physical test accuracy of its last epoch beside the selected
one (what a user who trains to the end gets): checked against the last checkpoint evaluated
afresh on a rebuilt physical system."""

import torch

from training.runtime import Runtime
from training.study import Arm, load_data, mesh_task, run_arms
from hardware import PhysicalSystem
from training import TrainConfig, evaluate
from training.checkpoint import load_checkpoint


def _build():
    task = mesh_task(modes=16, meshes=2, seed=0)
    return task, PhysicalSystem(task.device_model, preset="bs=0.08,ps=0.08", seed=3), None


def test_last_epoch_physical_accuracy_equals_the_last_checkpoint_tested_afresh(tmp_path):
    data = load_data("mnist", 300, 200, 0)
    cfg = TrainConfig(method="pat", epochs=4, batch_size=30, lr=0.2, val_fraction=0.2, seed=0, device="cpu")
    r = run_arms(tmp_path, [Arm("mesh-pat", "mesh", "pat", _build, cfg)], data, resume=False,
                 runtime=Runtime(progress=False))["mesh-pat"]
    assert r["last_epoch"] == 4
    # the checkpoint holds the trainer's state after its last epoch; test it on a fresh copy of the
    # same physical system (same error draw)
    state = load_checkpoint(tmp_path / "checkpoints" / "mesh-pat.pt")
    task, physical, _ = _build()
    task.load_state_dict(state["task"])
    physical.load_parameters(task.device_model.state_dict())
    _, _, xt, yt = data
    with torch.no_grad():
        fresh = evaluate(task, xt, yt, physical=physical)["accuracy"]
    assert r["physical_accuracy_last"] == fresh
    if r["best_epoch"] != 4:  # selection kept an earlier epoch: the last one was tested separately
        assert r["queries_test_last"] > 0
    # the saved selected parameters are the selected ones again, not the last epoch's
    best = torch.load(tmp_path / "checkpoints" / "mesh-pat.best.pt", weights_only=True)
    task.load_state_dict(best)
    physical.load_parameters(task.device_model.state_dict())
    with torch.no_grad():
        assert evaluate(task, xt, yt, physical=physical)["accuracy"] == r["physical_accuracy"]
