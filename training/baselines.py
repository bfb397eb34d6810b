"""Conventional digital baselines, with parameter counts for fair comparisons.

- :class:`MLP`: fully connected ReLU network on flattened images.
- :class:`LeNet5`: LeNet-5-style CNN on 28×28 images (LeCun et al., Proc. IEEE 86, 2278
  (1998); here with "same"-padded first conv, max pooling and ReLU): 61,706 parameters.
- :class:`ComplexLinearNetwork`: the "digital counterpart" of :class:`photonics.MeshNetwork`
  — the same depth, width, activation and readout, but each mesh replaced by an
  unconstrained complex matrix (no unitarity, no bias).

:func:`count_parameters` counts a complex parameter as two real ones.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from photonics import ElectroOpticActivation, Photodetector, haar_unitary

from ._params import count_parameters

__all__ = ["MLP", "LeNet5", "ComplexLinearNetwork", "count_parameters"]


def _flatten(x: torch.Tensor, n: int, name: str) -> torch.Tensor:
    """``(N, ...)`` with ``prod(...) == n`` → ``(N, n)``."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x[0].numel() != n:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} expects a batch (N, ...) of {n} features per sample, got {got}")
    return x.reshape(x.shape[0], n)


class MLP(nn.Module):
    """Fully connected network ``in → hidden… → n_classes`` with ReLU between layers.

    Args:
        in_features: inputs per sample (784 for 28×28 images).
        hidden: widths of the hidden layers.
        n_classes: outputs (logits).
        generator: random generator for the initial weights.

    Shape:
        ``(N, *sample)`` with ``prod(sample) == in_features`` → ``(N, n_classes)``.
    """

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (100,), n_classes: int = 10, *,
                 generator: torch.Generator | None = None):
        super().__init__()
        sizes = [in_features, *hidden, n_classes]
        if not all(isinstance(s, int) and s >= 1 for s in sizes):
            raise ValueError(f"in_features, hidden and n_classes must be positive ints, got {sizes}")
        self.in_features = in_features
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        _reinit(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _flatten(x, self.in_features, "MLP")
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class LeNet5(nn.Module):
    """LeNet-5-style CNN for 28×28 single-channel images.

    conv 5×5 (6, padding 2) → ReLU → max-pool 2 → conv 5×5 (16) → ReLU → max-pool 2 →
    fc 400→120 → ReLU → fc 120→84 → ReLU → fc 84→n_classes. Parameters (n_classes = 10):
    156 + 2,416 + 48,120 + 10,164 + 850 = 61,706.

    Shape:
        ``(N, 1, 28, 28)`` or ``(N, 28, 28)`` → ``(N, n_classes)``.
    """

    def __init__(self, n_classes: int = 10, *, generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(n_classes, int) or n_classes < 1:
            raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 84), nn.Linear(84, n_classes)
        _reinit(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.dim() == 3:
            x = x.unsqueeze(1)
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"LeNet5 expects (N, 1, 28, 28) or (N, 28, 28) images, got {got}")
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc3(F.relu(self.fc2(x)))


def _reinit(module: nn.Module, generator: torch.Generator | None) -> None:
    """PyTorch's default bound ±1/√fan_in for weights and biases, drawn from ``generator``."""
    if generator is None:
        return
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                bound = 1.0 / m.weight[0].numel() ** 0.5
                for p in (m.weight, m.bias):
                    p.copy_(torch.rand(p.shape, generator=generator, dtype=p.dtype) * (2 * bound) - bound)


class ComplexLinearNetwork(nn.Module):
    """Digital counterpart of :class:`photonics.MeshNetwork`: ``depth`` unconstrained complex
    ``width × width`` matrices (no bias) with the same activation between them and the same
    readout (first ``n_classes`` of the L2-normalised ``|z|²``, Zheng et al. 2023).

    Each matrix starts Haar-random unitary (the distribution of a Haar-initialised mesh) and
    is then trained without constraint. Real parameters: ``depth · width² · 2`` (24,576 for
    the 3 × 64 network of Zheng et al. 2023).

    Args:
        width: modes per layer.
        depth: number of matrices.
        activation: module applied between matrices; ``None`` uses
            :class:`photonics.ElectroOpticActivation` with the values of Zheng et al. 2023, as
            ``MeshNetwork`` does (pass ``nn.Identity()`` for a purely linear network).
        n_classes: ports read as class scores.
        dtype: complex64 or complex128.
        generator: random generator for the initial matrices.

    Shape:
        ``(..., width)`` complex → ``(..., n_classes)`` real scores.
    """

    def __init__(self, width: int = 64, depth: int = 3, *, activation: nn.Module | None = None,
                 n_classes: int = 10, dtype: torch.dtype = torch.complex64,
                 generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(width, int) or width < 1 or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"width and depth must be positive ints, got width={width!r}, depth={depth!r}")
        if not isinstance(n_classes, int) or not 1 <= n_classes <= width:
            raise ValueError(f"n_classes must be an int in [1, width={width}], got {n_classes!r}")
        if dtype not in (torch.complex64, torch.complex128):
            raise TypeError(f"dtype must be torch.complex64 or torch.complex128, got {dtype}")
        self.width = width
        self.weights = nn.ParameterList(
            nn.Parameter(haar_unitary(width, generator=generator, dtype=torch.complex128).to(dtype))
            for _ in range(depth))
        self.activation = activation if activation is not None else ElectroOpticActivation()
        self.readout = Photodetector(n_classes, normalize=True)

    def fields(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Output modes and the fields right after each matrix (``y = W @ x``, ``W[out, in]``)."""
        if not isinstance(x, torch.Tensor) or not x.is_complex() or x.dim() < 1 or x.shape[-1] != self.width:
            got = (tuple(x.shape), x.dtype) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"ComplexLinearNetwork expects complex (..., {self.width}) mode vectors, got {got}")
        states, z = [], x
        for i, w in enumerate(self.weights):
            if i > 0:
                z = self.activation(z)
            z = z @ w.to(z.dtype).transpose(-2, -1)
            states.append(z)
        return z, states

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, _ = self.fields(x)
        return self.readout(z)

    def extra_repr(self) -> str:
        return f"width={self.width}, depth={len(self.weights)}"
