"""DAT's warm-up: during the first ``dat_warmup_epochs`` epochs the task step runs the numerical
model with SEPN weight 0, afterwards with weight 1 (observed through the public Trainer API:
with weight 0 the PNN gradient of a step cannot depend on the SEPN parameters)."""

import pytest
import torch

from hardware import PhysicalSystem
from training.trainer import TrainConfig, Trainer

from _synthetic import mesh_task, synthetic_images


def _pnn_gradient(trainer, images, labels):
    trainer.step(images, labels)
    return [p.grad.clone() for p in trainer.task.pnn_parameters()]


@pytest.mark.parametrize("warmup", [0, 2])
def test_sepn_weight_is_zero_exactly_during_the_warmup_epochs(warmup):
    images, labels = synthetic_images(16, seed=5)
    task = mesh_task(modes=16, meshes=2, seed=2, dtype=torch.float64)
    device = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1", seed=4)
    trainer = Trainer(task, TrainConfig(method="dat", dat_warmup_epochs=warmup, sepn_features=(4, 6, 8),
                                        internal_states=False), physical=device)
    # freeze every parameter (the optimizers' steps do nothing): each step sees the same model
    trainer.pnn_opt.step = trainer.sepn_opt.step = lambda *a, **k: None
    sepn_params = list(trainer.sepns.parameters())
    uses_sepn = []
    for epoch in range(warmup + 2):
        trainer.epoch = epoch
        before = _pnn_gradient(trainer, images, labels)
        saved = [p.detach().clone() for p in sepn_params]
        gen = torch.Generator().manual_seed(epoch)
        with torch.no_grad():  # a different SEPN (its output layer starts at zero: draw one) ...
            for p in sepn_params:
                p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype))
        after = _pnn_gradient(trainer, images, labels)
        with torch.no_grad():
            for p, v in zip(sepn_params, saved):
                p.copy_(v)
        # ... leaves the PNN gradient unchanged (to rounding) iff the SEPN weight is 0
        diff = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(after, before))
        assert diff < 1e-12 or diff > 1e-4, diff  # nothing in between: the answer is not rounding
        uses_sepn.append(diff > 1e-4)
    assert uses_sepn == [False] * warmup + [True, True]
