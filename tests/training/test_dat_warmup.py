"""DAT's warm-up: during the first ``dat_warmup_epochs`` epochs the task step runs the numerical
model with SEPN weight 0, afterwards with weight 1 (observed through the public Trainer API:
with weight 0 the PNN gradient of a step cannot depend on the SEPN parameters)."""

import pytest
import torch

from _synthetic import frozen_dat_trainer, pnn_gradient, synthetic_images


@pytest.mark.parametrize("warmup", [0, 2])
def test_sepn_weight_is_zero_exactly_during_the_warmup_epochs(warmup):
    images, labels = synthetic_images(16, seed=5)
    # every parameter frozen (the optimizers' steps do nothing): each step sees the same model
    trainer = frozen_dat_trainer(dat_warmup_epochs=warmup, internal_states=False)
    sepn_params = list(trainer.sepns.parameters())
    uses_sepn = []
    for epoch in range(warmup + 2):
        trainer.epoch = epoch
        before = pnn_gradient(trainer, images, labels)
        saved = [p.detach().clone() for p in sepn_params]
        gen = torch.Generator().manual_seed(epoch)
        with torch.no_grad():  # a different SEPN (its output layer starts at zero: draw one) ...
            for p in sepn_params:
                p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype))
        after = pnn_gradient(trainer, images, labels)
        with torch.no_grad():
            for p, v in zip(sepn_params, saved):
                p.copy_(v)
        # ... leaves the PNN gradient unchanged (to rounding) iff the SEPN weight is 0
        diff = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(after, before))
        assert diff < 1e-12 or diff > 1e-4, diff  # nothing in between: the answer is not rounding
        uses_sepn.append(diff > 1e-4)
    assert uses_sepn == [False] * warmup + [True, True]
