"""``TrainConfig.score_scale``: the factor on the class scores inside the cross-entropy task loss.
Checked against the cross-entropy written out by hand (log Σ exp − the true class), for the
numerical, PAT and validation losses; predictions and accuracy do not depend on it."""

import math

import pytest
import torch

from hardware import PhysicalSystem
from training.trainer import TrainConfig, Trainer

from _synthetic import mesh_task, synthetic_images


def _hand_cross_entropy(scores: torch.Tensor, labels: torch.Tensor, k: float) -> float:
    """Mean over the batch of log Σ_j exp(k s_j) − k s_y, in plain Python floats."""
    total = 0.0
    for row, y in zip(scores.tolist(), labels.tolist()):
        total += math.log(sum(math.exp(k * s) for s in row)) - k * row[y]
    return total / len(labels)


def _frozen_trainer(task, config, physical=None):
    trainer = Trainer(task, config, physical=physical)
    trainer.pnn_opt.step = lambda *a, **k: None  # the loss at the given parameters, nothing moves
    return trainer


@pytest.mark.parametrize("k", [1.0, 7.5])
def test_ideal_step_loss_is_the_cross_entropy_of_scaled_scores(k):
    task = mesh_task(dtype=torch.float64)
    images, labels = synthetic_images(8, seed=2)
    x = task.encode(images.double())
    with torch.no_grad():
        out, _ = task.numeric(x)
        scores = task.scores(task.intensity(out))
    stats = _frozen_trainer(task, TrainConfig(method="ideal", score_scale=k)).step(images.double(), labels)
    assert stats["loss"] == pytest.approx(_hand_cross_entropy(scores, labels, k), rel=1e-12)


def test_pat_step_loss_uses_the_measured_scores_scaled():
    task = mesh_task(dtype=torch.float64)
    device = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1", seed=3)
    images, labels = synthetic_images(8, seed=5)
    measured = task.scores(device.measure(task.encode(images.double())))
    trainer = _frozen_trainer(task, TrainConfig(method="pat", score_scale=4.0), physical=device)
    stats = trainer.step(images.double(), labels)
    assert stats["loss"] == pytest.approx(_hand_cross_entropy(measured, labels, 4.0), rel=1e-12)


def test_scaled_gradient_is_k_times_softmax_minus_onehot():
    # d/ds_j of log Σ exp(k s) − k s_y = k (softmax(k s)_j − [j = y]): checked on one image through
    # the gradient the trainer leaves on a leaf that carries the scores
    task = mesh_task(dtype=torch.float64)
    images, labels = synthetic_images(1, seed=7)
    k = 6.0
    captured = {}
    original = task.scores

    def scores_leaf(intensity):
        s = original(intensity).detach().requires_grad_(True)
        captured["s"] = s
        return s

    task.scores = scores_leaf
    _frozen_trainer(task, TrainConfig(method="ideal", score_scale=k)).step(images.double(), labels)
    s = captured["s"].detach()[0].tolist()
    z = sum(math.exp(k * v) for v in s)
    expected = [k * (math.exp(k * v) / z - (j == int(labels[0]))) for j, v in enumerate(s)]
    assert captured["s"].grad[0].tolist() == pytest.approx(expected, rel=1e-10, abs=1e-14)


def test_validation_accuracy_does_not_depend_on_the_scale_and_its_loss_does():
    task = mesh_task(dtype=torch.float64)
    images, labels = synthetic_images(12, seed=9)
    with torch.no_grad():
        out, _ = task.numeric(task.encode(images.double()))
        scores = task.scores(task.intensity(out))
    results = {k: Trainer(task, TrainConfig(method="ideal", score_scale=k)).validate(images.double(), labels)
               for k in (1.0, 9.0)}
    assert results[1.0]["accuracy"] == results[9.0]["accuracy"]
    for k, r in results.items():
        assert r["loss"] == pytest.approx(_hand_cross_entropy(scores, labels, k), rel=1e-12)


@pytest.mark.parametrize("bad", [0, -2.0, float("nan"), float("inf"), True])
def test_score_scale_must_be_a_positive_number(bad):
    with pytest.raises(ValueError, match="score_scale must be a finite number > 0"):
        TrainConfig(score_scale=bad)
