"""Deployment on drifting hardware: rounds of device traffic, with or without recalibration.

After training, a physical network serves inference while its hardware drifts (thermal phase
drift, slow misalignment: :mod:`hardware.drift`). :func:`deploy` plays that out on a device
(anything with the :class:`hardware.protocol` interface, e.g. a :class:`hardware.RemoteDevice`):
``rounds`` rounds of ``round_queries`` device queries each, inference traffic plus the
strategy's recalibration, followed by one test-set evaluation on the device. Every strategy
spends the same number of queries per round, so two strategies compared at the same query
count have seen the same drift (drift advances with the query count or with wall time,
whichever clock the device uses).

Strategies (:attr:`Deployment.strategy`):

* ``None`` — trained once, never recalibrated;
* ``"adapt"`` — ``adapt_steps`` :meth:`training.Trainer.step` calls per round on training
  images: with DAT the SEPNs and the PNN keep learning from the measurements;
* ``"finetune"`` — ``finetune_steps`` steps whenever ``finetune_every`` queries have passed
  since the last fine-tune (a scheduled PAT fine-tune, for example).

Recalibration steps run at :attr:`Deployment.learning_rate` for the PNN, without a scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .metrics import evaluate

__all__ = ["Deployment", "STRATEGIES", "deploy"]

STRATEGIES = (None, "adapt", "finetune")


@dataclass(frozen=True)
class Deployment:
    """How a trained network is deployed: traffic per round, and the recalibration."""

    rounds: int  # deployment rounds, each followed by one test-set evaluation on the device [count]
    round_queries: int  # device queries per round, inference and recalibration together [count]
    strategy: str | None = None  # None, "adapt" or "finetune" (module docstring)
    adapt_steps: int = 15  # "adapt": training steps per round [count]
    finetune_every: int = 100  # "finetune": device queries between two fine-tunes [count]
    finetune_steps: int = 10  # "finetune": training steps per fine-tune [count]
    learning_rate: float | None = None  # Adam learning rate of the PNN while recalibrating; None keeps the trainer's
    batch_size: int = 50  # images per inference query and per recalibration step [count]
    seed: int = 0  # seed of the stream that draws the traffic's and the steps' training images

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of None, 'adapt', 'finetune', got {self.strategy!r}")
        if self.rounds < 1 or self.round_queries < 1 or self.batch_size < 1:
            raise ValueError(f"rounds, round_queries and batch_size must be ≥ 1, got {self.rounds}, "
                             f"{self.round_queries}, {self.batch_size}")
        steps = {"adapt": self.adapt_steps, "finetune": self.finetune_steps}.get(self.strategy)
        if steps is not None and not 0 < steps < self.round_queries:
            raise ValueError(f"{self.strategy} steps must be in [1, round_queries = {self.round_queries}), got {steps}")


def deploy(task, trainer, device, images: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor,
           test_labels: torch.Tensor, plan: Deployment, *, log: Callable[[str], None] | None = None) -> dict:
    """Deploy ``task`` (trained by ``trainer`` against ``device``) for ``plan.rounds`` rounds.

    Args:
        task: the trained task; its ``device_model`` parameters are programmed into ``device``.
        trainer: the :class:`training.Trainer` whose ``step`` recalibrates (its physical system
            must be ``device``); unused when ``plan.strategy`` is None.
        device: the physical system (``load_parameters``, ``measure``, ``queries``).
        images: training images that traffic and recalibration draw from.
        labels: their labels.
        test_images: the images evaluated on the device after every round.
        test_labels: their labels.
        plan: rounds, traffic and strategy.
        log: called with one line per round.

    Returns:
        ``curve`` (per evaluation: ``queries`` so far, ``accuracy``, ``recalibration_queries``
        so far; the first entry is before any round), ``static_accuracy`` (that first entry),
        ``final_accuracy``, ``late_accuracy`` (mean over the last quarter of the rounds),
        ``min_accuracy`` and ``recalibration_queries``.
    """
    gen = torch.Generator().manual_seed(plan.seed)

    def batch():
        idx = torch.randint(len(labels), (plan.batch_size,), generator=gen)
        return images[idx], labels[idx]

    def device_accuracy():
        device.load_parameters(task.device_model.state_dict())
        return evaluate(task, test_images, test_labels, physical=device, batch_size=len(test_labels))["accuracy"]

    if plan.strategy is not None and plan.learning_rate is not None:
        for group in trainer.pnn_opt.param_groups:
            group["lr"] = plan.learning_rate
    acc = device_accuracy()  # every point of the curve: the query count after its evaluation
    curve = [{"queries": device.queries, "accuracy": acc, "recalibration_queries": 0}]
    last_ft, recal_total = device.queries, 0
    for r in range(plan.rounds):
        start = device.queries
        if plan.strategy == "adapt":
            for _ in range(plan.adapt_steps):
                trainer.step(*batch())
        elif plan.strategy == "finetune" and device.queries - last_ft >= plan.finetune_every:
            for _ in range(plan.finetune_steps):
                trainer.step(*batch())
            last_ft = device.queries
        recal_total += device.queries - start
        device.load_parameters(task.device_model.state_dict())
        while device.queries - start < plan.round_queries:  # inference traffic
            device.measure(task.encode(batch()[0]))
        acc = device_accuracy()
        curve.append({"queries": device.queries, "accuracy": acc, "recalibration_queries": recal_total})
        if log is not None:
            log(f"round {r + 1}/{plan.rounds}: {device.queries} queries, device accuracy {100 * acc:.1f}%")
    late = [c["accuracy"] for c in curve[1:]][-max(1, plan.rounds // 4):]
    return {"curve": curve, "static_accuracy": curve[0]["accuracy"], "final_accuracy": curve[-1]["accuracy"],
            "late_accuracy": sum(late) / len(late), "min_accuracy": min(c["accuracy"] for c in curve),
            "recalibration_queries": recal_total}
