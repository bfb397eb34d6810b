"""Losses and metrics against closed forms and hand computations."""

import math

import pytest
import torch
import torch.nn.functional as F

from training import (Temperature, accuracy, confusion_matrix, imaging_loss, mean_pcc, mse_to_targets,
                      normalized_intensity_mse, pcc, region_cross_entropy)


# -- PCC ------------------------------------------------------------------------------
def test_pcc_affine_invariance(generator):
    a = torch.rand(3, 5, 6, dtype=torch.float64, generator=generator)
    torch.testing.assert_close(pcc(a, 2 * a + 3), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(pcc(a, -a), -torch.ones(3, dtype=torch.float64))


def test_pcc_closed_form():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 3.0], [2.0, 4.0]], dtype=torch.float64)
    # deviations (-1.5, -.5, .5, 1.5) and (-1.5, .5, -.5, 1.5): 4 / sqrt(5 · 5)
    torch.testing.assert_close(pcc(a, b), torch.tensor(0.8, dtype=torch.float64))
    assert mean_pcc(a[None], b[None]) == pytest.approx(0.8)


def test_pcc_gradcheck_and_constant_image(generator):
    a = torch.rand(2, 3, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    b = torch.rand(2, 3, 4, dtype=torch.float64, generator=generator)
    assert torch.autograd.gradcheck(lambda a: pcc(a, b), (a,))
    assert pcc(torch.ones(3, 3), torch.rand(3, 3, generator=generator)).item() == 0.0


# -- imaging loss (Luo et al., eLight 2022) ----------------------------------------------
def test_imaging_loss_hand_computation():
    o = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    h = torch.tensor([[0.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    # m = [[0, 1], [1, 0]]; Σ(1-m)o = 1 + 4 = 5; Σ m o = 2 + 3 = 5; Σm = 2
    energy = (1.0 * 5 - 0.5 * 5) / 2
    # PCC: deviations of o (-1.5, -.5, .5, 1.5), of h (-.75, .25, 1.25, -.75)
    r = 0.5 / math.sqrt(5 * 2.75)
    assert imaging_loss(o, h).item() == pytest.approx(-r + energy, rel=1e-12)
    assert imaging_loss(o, h, alpha=2.0, beta=0.0).item() == pytest.approx(-r + 5.0, rel=1e-12)
    per = imaging_loss(torch.stack([o, o]), torch.stack([h, h]), reduction="none")
    assert per.shape == (2,)


# -- region cross-entropy -----------------------------------------------------------------
def test_region_cross_entropy_matches_torch(generator):
    e = torch.rand(6, 10, dtype=torch.float64, generator=generator) * 3
    y = torch.randint(0, 10, (6,), generator=generator)
    ref = F.cross_entropy(e / e.sum(-1, keepdim=True) / 0.1, y)
    torch.testing.assert_close(region_cross_entropy(e, y, temperature=0.1), ref)
    # invariant to the input power
    torch.testing.assert_close(region_cross_entropy(7 * e, y, temperature=0.1), ref)


def test_learnable_temperature(generator):
    t = Temperature(0.1, dtype=torch.float64)
    assert t().item() == pytest.approx(0.1)
    e = torch.rand(4, 3, dtype=torch.float64, generator=generator)
    y = torch.tensor([0, 1, 2, 0])
    loss = region_cross_entropy(e, y, temperature=t)
    torch.testing.assert_close(loss, region_cross_entropy(e, y, temperature=0.1))
    loss.backward()
    assert t.log_t.grad is not None and t.log_t.grad != 0
    with pytest.raises(ValueError, match="positive"):
        region_cross_entropy(e, y, temperature=-1.0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        region_cross_entropy(e, torch.tensor([0, 1, 3, 0]), temperature=0.1)
    with pytest.raises(ValueError, match="batch shape"):
        region_cross_entropy(e, torch.tensor([0, 1]), temperature=0.1)


# -- MSE losses ---------------------------------------------------------------------------
def test_mse_to_targets_labels_equal_one_hot(generator):
    p = torch.rand(5, 4, generator=generator)
    y = torch.tensor([0, 3, 1, 2, 3])
    torch.testing.assert_close(mse_to_targets(p, y), F.mse_loss(p, F.one_hot(y, 4).float()))
    torch.testing.assert_close(mse_to_targets(p, p.flip(0)), F.mse_loss(p, p.flip(0)))
    with pytest.raises(ValueError, match="shapes differ"):
        mse_to_targets(p, torch.rand(5, 3))


def test_normalized_intensity_mse_hand_computation():
    a = torch.tensor([3.0, 4.0])  # -> (0.6, 0.8)
    b = torch.tensor([2.0, 0.0])  # -> (1, 0)
    assert normalized_intensity_mse(a, b).item() == pytest.approx((0.16 + 0.64) / 2)
    # complex fields enter through |u|²; scale invariance
    u = torch.tensor([math.sqrt(3.0), 2.0j])
    assert normalized_intensity_mse(u, 5 * b).item() == pytest.approx(0.4)
    img = torch.rand(2, 4, 4)
    assert normalized_intensity_mse(img, 3 * img, dim=(-2, -1)).item() == pytest.approx(0.0, abs=1e-12)


# -- metrics ------------------------------------------------------------------------------
def test_accuracy_and_confusion_matrix_hand_example():
    scores = torch.tensor([[0.9, 0.1, 0.0],   # pred 0, true 0
                           [0.2, 0.7, 0.1],   # pred 1, true 2
                           [0.1, 0.2, 0.7],   # pred 2, true 2
                           [0.6, 0.3, 0.1]])  # pred 0, true 1
    labels = torch.tensor([0, 2, 2, 1])
    assert accuracy(scores, labels) == 0.5
    expected = torch.tensor([[1, 0, 0], [1, 0, 0], [0, 1, 1]])
    cm = confusion_matrix(scores, labels, 3)
    assert cm.dtype == torch.int64 and torch.equal(cm, expected)
    assert torch.equal(confusion_matrix(scores.argmax(-1), labels, 3), expected)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)
    with pytest.raises(TypeError, match="integer"):
        accuracy(scores, labels.float())
