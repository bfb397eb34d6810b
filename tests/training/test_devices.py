"""Device placement: everything a run touches lives on TrainConfig.device; results agree with
the CPU; `--device cuda` without CUDA is a one-line error. GPU cases are marked `gpu`."""

import sys
from pathlib import Path

import pytest
import torch

from experiments import EXPERIMENTS
from experiments.__main__ import main
from hardware import PhysicalSystem
from training import TrainConfig, Trainer

from _synthetic import diffractive_task, mesh_task, synthetic_images

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_cuda_without_cuda_is_a_clear_cli_error(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["run", "dat-mpnn", "--scale", "smoke", "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CUDA is not available" in err[0]
    assert main(["run", "dat-mpnn", "--scale", "smoke", "--device", "tpu", "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()


def _train(kind, device):
    images, labels = synthetic_images(120, seed=5)
    if kind == "mesh-dat":
        task = mesh_task(seed=2, dtype=torch.float64)
        physical = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1", seed=3)
        cfg = TrainConfig(method="dat", epochs=2, batch_size=30, lr=1e-2, sepn_features=(4, 6, 8),
                          internal_states=True, device=device)
    elif kind == "mesh-noise":
        from hardware import mesh_error_model

        task = mesh_task(seed=2, dtype=torch.float64)
        trainer = Trainer(task, TrainConfig(method="noise", epochs=2, batch_size=30, lr=1e-2, device=device),
                          error_model=mesh_error_model("bs=0.1,ps=0.1"))
        trainer.fit(images.double(), labels, progress=False)
        return trainer
    else:
        task = diffractive_task(seed=4).double()
        physical = PhysicalSystem(task.system, preset="shift_px=0.5,gap_rel=0.02", seed=6)
        cfg = TrainConfig(method="pat", epochs=2, batch_size=30, lr=5e-2, device=device)
    trainer = Trainer(task, cfg, physical=physical)
    trainer.fit(images.double(), labels, progress=False)
    return trainer


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("kind", ["mesh-dat", "diffractive-pat", "mesh-noise"])
def test_training_on_cuda_matches_the_cpu(kind):
    gpu, cpu = _train(kind, "cuda"), _train(kind, "cpu")
    for p in gpu.task.parameters():
        assert p.device.type == "cuda"
    if gpu.sepns is not None:
        assert all(p.device.type == "cuda" for p in gpu.sepns.parameters())
    for k, v in cpu.task.state_dict().items():
        torch.testing.assert_close(gpu.task.state_dict()[k].cpu(), v, rtol=1e-6, atol=1e-8, msg=k)
    assert gpu.queries == cpu.queries


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_accepts_device_cuda(tmp_path, name):
    exp = EXPERIMENTS[name]
    if exp.requires is not None and not exp.requires()[0]:
        pytest.skip(f"{name} needs an external tool")
    assert main(["run", name, "--scale", "smoke", "--device", "cuda", "--out", str(tmp_path / name)]) == 0


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_two_gpu_nccl_ranks_train_like_one_process(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_distributed import torchrun

    torchrun("-m", "experiments", "run", "dat-mpnn", "--scale", "smoke", "--device", "cuda", "--out", str(tmp_path / "two"))
    assert main(["run", "dat-mpnn", "--scale", "smoke", "--device", "cuda", "--out", str(tmp_path / "one")]) == 0
    import json

    a, b = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("one", "two"))
    for arm in a:
        assert a[arm]["queries_train"] == b[arm]["queries_train"]
        assert abs(a[arm]["numeric_accuracy"] - b[arm]["numeric_accuracy"]) <= 0.02
