"""Parameter counting shared by the SEPN and the digital baselines."""

from __future__ import annotations

from torch import nn

__all__ = ["count_parameters"]


def count_parameters(module: nn.Module, *, real: bool = True, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (buffers are not counted).

    Args:
        module: any ``nn.Module``.
        real: count a complex parameter as two real ones (its real and imaginary parts);
            ``False`` counts tensor elements, complex or not.
        trainable_only: count only parameters with ``requires_grad``.

    Returns:
        The count as a Python int.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"count_parameters expects an nn.Module, got {type(module).__name__}")
    total = 0
    for p in module.parameters():
        if trainable_only and not p.requires_grad:
            continue
        total += p.numel() * (2 if real and p.is_complex() else 1)
    return total
