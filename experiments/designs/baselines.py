"""baselines — conventional digital networks on the same data and loop: an MLP, a
LeNet-5-style CNN and the digital counterpart of the mesh network (an unconstrained complex
linear network of the same depth and width on the same Fourier-cropped input)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from training import ComplexLinearNetwork, DigitalTask, LeNet5, MLP, TrainConfig, records

from ..registry import register
from training.runtime import Runtime
from training.study import Arm, load_data, run_arms, write_study_record

__all__ = ["BaselinesConfig", "run"]


@dataclass(frozen=True)
class BaselinesConfig:
    dataset: str = "mnist"
    models: str = "mlp,lenet5,complex-linear"  # digital networks trained, comma-separated: mlp, lenet5, complex-linear
    n_train: int = 60000
    n_test: int = 10000
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3  # Adam learning rate of the digital networks' weights [weight unit per step]
    complex_width: int = 64  # modes (complex features) per layer of the complex-linear network [count]
    complex_depth: int = 3  # complex linear layers of the complex-linear network [count]
    val_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self):
        bad = set(self.models.split(",")) - {"mlp", "lenet5", "complex-linear"}
        if bad:
            raise ValueError(f"unknown models {sorted(bad)}; choose from mlp, lenet5, complex-linear")


SCALES = {"smoke": dict(n_train=200, n_test=100, epochs=1, batch_size=50),
          "cpu": dict(n_train=20000, n_test=10000, epochs=3), "paper": dict()}


def _builder(name: str, cfg: BaselinesConfig):
    def build():
        g = torch.Generator().manual_seed(cfg.seed)
        if name == "mlp":
            return DigitalTask(MLP(784, (100,), 10, generator=g)), None, None
        if name == "lenet5":
            return DigitalTask(LeNet5(10, generator=g)), None, None
        crop = int(round(cfg.complex_width ** 0.5))
        net = ComplexLinearNetwork(cfg.complex_width, cfg.complex_depth, n_classes=10, generator=g)
        return DigitalTask(net, encoding="fourier", crop=crop), None, None
    return build


@register("baselines", "Digital baselines (MLP, LeNet-5, complex-linear counterpart of the mesh network)",
          BaselinesConfig, runtime={"smoke": "5 s", "cpu": "3 min", "paper": "20 min"}, scales=SCALES)
def run(cfg: BaselinesConfig, out_dir: Path, *, resume: bool = False, runtime: Runtime | None = None) -> dict:
    runtime = runtime or Runtime()
    records.write_config(out_dir / "config.json", "baselines", cfg, cfg.seed)
    data = load_data(cfg.dataset, cfg.n_train, cfg.n_test, cfg.seed)
    arms = [Arm(name, "digital", "ideal", _builder(name, cfg),
                TrainConfig(method="ideal", epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.learning_rate,
                            val_fraction=cfg.val_fraction, seed=cfg.seed, lr_step_epochs=max(1, cfg.epochs)))
            for name in cfg.models.split(",")]
    results = run_arms(out_dir, arms, data, resume=resume, runtime=runtime)
    if not runtime.is_main:
        return {}
    intro = (f"Digital networks trained by the same loop on {cfg.dataset} ({cfg.n_train} training images incl. "
             f"{100 * cfg.val_fraction:.0f}% validation, {cfg.epochs} epochs). `complex-linear` is the digital "
             f"counterpart of the {cfg.complex_depth}-mesh network: {cfg.complex_depth} unconstrained complex "
             f"{cfg.complex_width}×{cfg.complex_width} matrices with the same activation, input and readout.")
    return write_study_record(out_dir, "baselines", cfg, results, title="baselines: digital networks", intro=intro)
