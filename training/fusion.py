"""State fusion: physical values forward, numerical gradients backward.

Physics-aware training (Wright et al., Nature 601, 549 (2022)) and the state fusion of dual
adaptive training (Zheng et al., Nat. Mach. Intell. 5 (2023)) both evaluate a loss on what
the hardware *measured* while differentiating through the numerical model at the same
inputs and parameters. :class:`PhysicalForward` is that rule as an autograd Function:
forward returns the measured tensor, backward hands the incoming gradient unchanged to the
numerical tensor (∂L/∂numeric := ∂L/∂y evaluated at y = measured).
"""

from __future__ import annotations

import torch

__all__ = ["PhysicalForward", "physical_forward", "fuse_amplitude", "fused_amplitude"]


class PhysicalForward(torch.autograd.Function):
    """``y = measured`` in the forward pass; ``∂y/∂numeric = I`` in the backward pass."""

    @staticmethod
    def forward(ctx, numeric: torch.Tensor, measured: torch.Tensor) -> torch.Tensor:
        if numeric.shape != measured.shape:
            raise ValueError(f"measured shape {tuple(measured.shape)} differs from the numerical "
                             f"shape {tuple(numeric.shape)}")
        return measured.detach().to(numeric.dtype).clone()

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def physical_forward(numeric: torch.Tensor, measured: torch.Tensor) -> torch.Tensor:
    """Measured values with the numerical tensor's gradient path (see module docstring)."""
    return PhysicalForward.apply(numeric, measured)


def fuse_amplitude(field: torch.Tensor, measured_intensity: torch.Tensor) -> torch.Tensor:
    """DAT state fusion: ``|physical| · exp(i · numerical phase)`` with numerical gradients.

    Args:
        field: numerical complex field (any shape).
        measured_intensity: measured |u|² of the same shape (real, ≥ 0).
    """
    return physical_forward(field, fused_amplitude(field, measured_intensity))


def fused_amplitude(field: torch.Tensor, measured_intensity: torch.Tensor) -> torch.Tensor:
    """The fused field ``√measured · exp(i · arg field)`` as a constant (no gradient path).

    Args:
        field: numerical complex field (any shape).
        measured_intensity: measured |u|² of the same shape (real, ≥ 0).
    """
    if not field.is_complex():
        raise TypeError(f"fuse_amplitude needs a complex field, got {field.dtype}")
    with torch.no_grad():
        amp = measured_intensity.clamp_min(0).sqrt().to(field.real.dtype)
        return torch.polar(amp, torch.angle(field))
