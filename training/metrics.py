"""Evaluation metrics (no gradients; plain Python numbers or int64 tensors), and :func:`evaluate`:
accuracy, loss and confusion matrix of a task over a data set, numerically or measured, on any
device and over the ranks of torch.distributed."""

from __future__ import annotations

import torch

from .distributed import DistContext
from .losses import pcc, scaled_cross_entropy
from .progress import progress_bar

__all__ = ["accuracy", "confusion_matrix", "mean_pcc", "energy_distribution", "evaluate", "check_labels"]


def _labels(labels, batch_shape, name="labels") -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.is_complex():
        got = labels.dtype if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise TypeError(f"{name} must be an integer tensor of class indices, got {got}")
    if labels.shape != batch_shape:
        raise ValueError(f"{name} shape {tuple(labels.shape)} must equal the batch shape {tuple(batch_shape)}")
    return labels.long()


def check_labels(labels, n: int, n_classes: int | None = None, *, name: str = "labels") -> None:
    """``labels`` are ``n`` class indices, an integer tensor ``(n,)`` with every value in
    ``[0, n_classes)`` (when ``n_classes`` is given); otherwise a one-line error that says what
    was given (instead of one from inside the loss)."""
    _labels(labels, torch.Size([n]), name)
    if n_classes is not None and labels.numel():
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= n_classes:
            raise ValueError(f"{name} must be class indices in [0, {n_classes - 1}], got values from {lo} to {hi}")


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


def energy_distribution(task, images: torch.Tensor, labels: torch.Tensor, *,
                        batch_size: int = 250, progress: bool = True) -> dict:
    """How the numerical model of a :class:`training.DiffractiveTask` distributes the light over
    the detector plane, on ``images``.

    Per sample: ``E_c`` the energy in detector c, ``E_out`` in the whole simulated output plane,
    ``E_in`` of the input field. Returns (JSON-able; fractions are dimensionless):

    * ``fraction_of_output_by_class`` ``(C, C)``: mean of ``E_c / E_out`` over the samples of
      each true class (rows true class, columns detector);
    * ``correct_of_output``, ``detectors_of_output``: means of ``E_true / E_out`` and
      ``Σ_c E_c / E_out``; ``correct_of_detectors``: mean of ``E_true / Σ_c E_c``;
    * ``output_of_input``: mean of ``E_out / E_in`` (the rest left the simulated window);
    * ``mean_output_intensity_by_class`` ``(C, ny, nx)`` (a tensor, not JSON): the mean output
      intensity of each class, each sample normalised to ``E_in = 1``;
    * ``n_by_class`` and ``n``.
    """
    c = task.regions.shape[0]
    frac = torch.zeros(c, c, dtype=torch.float64)
    pattern = torch.zeros(c, *task.grid.shape, dtype=torch.float64)
    count = torch.zeros(c, dtype=torch.float64)
    sums = {"correct_of_output": 0.0, "detectors_of_output": 0.0, "correct_of_detectors": 0.0, "output_of_input": 0.0}
    tiny = 1e-30
    with torch.no_grad():
        for i in progress_bar(range(0, len(labels), batch_size), desc="energy distribution", enabled=progress,
                              leave=False):
            x = task.encode(images[i:i + batch_size])
            y = labels[i:i + batch_size].long()
            out, _ = task.numeric(x)
            inten = task.intensity(out).double()
            e_in = task.intensity(x).double().flatten(1).sum(1).clamp_min(tiny)
            e_out = inten.flatten(1).sum(1).clamp_min(tiny)
            e = task.detector_energies(inten)
            e_true = e.gather(1, y[:, None])[:, 0]
            frac.index_add_(0, y, e / e_out[:, None])
            pattern.index_add_(0, y, inten / e_in[:, None, None])
            count += torch.bincount(y, minlength=c).double()
            sums["correct_of_output"] += float((e_true / e_out).sum())
            sums["detectors_of_output"] += float((e.sum(1) / e_out).sum())
            sums["correct_of_detectors"] += float((e_true / e.sum(1).clamp_min(tiny)).sum())
            sums["output_of_input"] += float((e_out / e_in).sum())
    n = len(labels)
    seen = count.clamp_min(1)
    return {**{k: v / n for k, v in sums.items()},
            "fraction_of_output_by_class": (frac / seen[:, None]).tolist(),
            "mean_output_intensity_by_class": (pattern / seen[:, None, None]).float(),
            "n_by_class": count.long().tolist(), "n": n}


def batch_order(n: int, batch_size: int, generator: torch.Generator | None):
    """Index tensors of ``batch_size`` (the last may be shorter) over ``n`` samples, in the order
    of ``torch.randperm(n, generator=generator)``, or in order when ``generator`` is None."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` on ``device`` (itself when it is there; from pinned memory, asynchronously, when it
    goes from the CPU to CUDA)."""
    if x.device == device:
        return x
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def evaluate(task, images, labels, *, physical=None, batch_size: int = 1000, ctx: DistContext | None = None,
             score_scale: float = 1.0) -> dict:
    """Accuracy, mean cross-entropy (of the scores times ``score_scale``, as in
    :class:`~training.config.TrainConfig`) and confusion matrix, numerically or on ``physical``.

    Under several ranks (``ctx``) each rank evaluates its shard of every batch; the counts
    are summed over ranks, so every rank returns the totals of one process (``local_samples``
    is this rank's share).
    """
    ctx = ctx or DistContext(device=task_device(task))
    check_labels(labels, len(images), getattr(task, "n_classes", None))
    correct, loss_sum, n_seen = 0, 0.0, 0
    confusion = None
    with torch.no_grad():
        for batch in batch_order(len(labels), batch_size, None):
            idx = ctx.shard(batch)
            if len(idx) == 0:
                continue
            x = task.encode(to_device(images[idx], ctx.device))
            if physical is None:
                out, _ = task.numeric(x)
                scores = task.scores(task.intensity(out))
            else:
                scores = task.scores(physical.measure(x))
            y = to_device(labels[idx], scores.device)
            loss_sum += float(scaled_cross_entropy(scores, y, score_scale, reduction="sum"))
            correct += int((scores.argmax(-1) == y).sum())
            c = confusion_matrix(scores.argmax(-1).cpu(), y.cpu(), scores.shape[-1])
            confusion = c if confusion is None else confusion + c
            n_seen += len(idx)
    n_classes = ctx.max(0 if confusion is None else confusion.shape[0])
    if confusion is None:
        confusion = torch.zeros(n_classes, n_classes, dtype=torch.int64)
    correct, loss_sum = ctx.sum(correct), ctx.sum(loss_sum)
    confusion = ctx.sum(confusion)
    return {"accuracy": correct / len(labels), "loss": loss_sum / len(labels), "confusion": confusion,
            "local_samples": n_seen}


def task_device(task) -> torch.device:
    """The device of ``task``'s first parameter (the CPU for a task without parameters)."""
    for p in task.parameters():
        return p.device
    return torch.device("cpu")
