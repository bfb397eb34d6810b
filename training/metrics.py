"""Evaluation metrics (no gradients; plain Python numbers or int64 tensors)."""

from __future__ import annotations

import torch

from .losses import pcc

__all__ = ["accuracy", "confusion_matrix", "mean_pcc"]


def _labels(labels, batch_shape, name="labels") -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.is_complex():
        got = labels.dtype if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise TypeError(f"{name} must be an integer tensor of class indices, got {got}")
    if labels.shape != batch_shape:
        raise ValueError(f"{name} shape {tuple(labels.shape)} must equal the batch shape {tuple(batch_shape)}")
    return labels.long()


@torch.no_grad()
def accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of samples whose highest score is the label (ties: the first maximum).

    Shape:
        ``(*batch, C), (*batch,) -> float`` in [0, 1].
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() < 1:
        raise ValueError("scores must be a tensor (*batch, C)")
    labels = _labels(labels, scores.shape[:-1])
    if labels.numel() == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    return float((scores.argmax(dim=-1) == labels).double().mean())


@torch.no_grad()
def confusion_matrix(preds_or_scores: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Counts ``M[true, predicted]``.

    Args:
        preds_or_scores: predicted class indices ``(*batch,)`` (integer) or scores
            ``(*batch, C)`` (floating; the prediction is the argmax).
        labels: true class indices ``(*batch,)``.
        n_classes: number of classes; every index must lie in ``[0, n_classes)``.

    Returns:
        int64 tensor ``(n_classes, n_classes)``: rows are true classes, columns predictions.
    """
    if not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
    p = preds_or_scores
    if not isinstance(p, torch.Tensor):
        raise TypeError(f"preds_or_scores must be a tensor, got {type(p).__name__}")
    if p.is_floating_point():
        if p.dim() < 1 or p.shape[-1] != n_classes:
            raise ValueError(f"scores {tuple(p.shape)} must end in n_classes={n_classes}")
        p = p.argmax(dim=-1)
    elif p.is_complex():
        raise TypeError("preds_or_scores must be real scores or integer predictions, got a complex tensor")
    p = p.long()
    labels = _labels(labels, p.shape)
    for name, t in (("labels", labels), ("predictions", p)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n_classes):
            raise ValueError(f"{name} must lie in [0, {n_classes}), got range [{int(t.min())}, {int(t.max())}]")
    flat = labels.reshape(-1) * n_classes + p.reshape(-1)
    return torch.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


@torch.no_grad()
def mean_pcc(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over samples of :func:`training.losses.pcc` (per-image Pearson correlation).

    Shape:
        ``(*batch, H, W), (*batch, H, W) -> float``.
    """
    return float(pcc(a, b).double().mean())
