"""Inverse design of an optical system for one fixed input, as a :class:`training.Trainer`
task: every "sample" is the same input field, so an epoch of one batch is one optimiser step.

Use it for designs that are not classifiers — a beam splitter, a focusing element — and they
get the engine's devices, checkpoints, resume and tracking for free::

    task = DesignTask(system, field, objective=lambda out: loss, metrics=lambda out: {...})
    Trainer(task, TrainConfig(epochs=steps, batch_size=1, lr=0.1, select="last")).fit(*task.data())
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from optics import Field

__all__ = ["DesignTask"]


class DesignTask(nn.Module):
    """Optimise ``system`` so that ``objective(system(field))`` is small.

    Args:
        system: an ``nn.Module`` mapping a :class:`optics.Field` to the output (a Field).
        field: the fixed input Field (batch shape ``()``).
        objective: ``output -> scalar loss`` (differentiable).
        metrics: ``output -> {name: float}`` recorded as validation metrics every step; the
            first key is the selection metric.
    """

    family = "design"
    n_layers = 0

    def __init__(self, system: nn.Module, field: Field, *, objective: Callable, metrics: Callable):
        super().__init__()
        if not isinstance(field, Field):
            raise TypeError(f"DesignTask needs an optics.Field input, got {type(field).__name__}")
        self.system, self.field = system, field
        self._objective, self._metrics = objective, metrics
        self.selection_metric = None

    device_model = property(lambda self: self.system)

    def pnn_parameters(self):
        return list(self.system.parameters())

    @staticmethod
    def data():
        """The dataset of one design step: ``(index (1,), label (1,))`` for :meth:`Trainer.fit`
        (also the validation set, with ``val=``)."""
        return torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long)

    def encode(self, images: torch.Tensor) -> Field:
        dev = next(iter(self.system.parameters())).device
        return self.field.to(dev)

    def numeric(self, x, *, hook=None, errors=None):
        if hook is not None or errors is not None:
            raise ValueError("a design task trains the ideal system only (method 'ideal')")
        return self.system(x), []

    def objective(self, out, x, y):
        return self._objective(out)

    def validate(self, images, labels, *, ctx, batch_size: int) -> dict:
        m = {k: float(v) for k, v in self._metrics(self.system(self.encode(images))).items()}
        self.selection_metric = next(iter(m))
        return m
