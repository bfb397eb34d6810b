"""Public assertion helpers for tests of photonic components (usable in downstream tests)."""

from __future__ import annotations

import torch

from .functional import haar_unitary

__all__ = ["assert_unitary", "assert_power_conserved", "haar_unitary"]


def _default_atol(dtype: torch.dtype) -> float:
    return 1e-12 if dtype in (torch.complex128, torch.float64) else 1e-5


def assert_unitary(u: torch.Tensor, *, atol: float | None = None) -> None:
    """Assert ``max|U^† U - I| <= atol`` for a square matrix (or a batch ``(..., n, n)``).

    Default ``atol``: 1e-12 in double precision (a product of ~n² rounded 2×2 unitaries
    stays within a few hundred ulps for n <= 64), 1e-5 in single precision.
    """
    if not isinstance(u, torch.Tensor) or u.dim() < 2 or u.shape[-1] != u.shape[-2]:
        raise AssertionError(f"expected a square matrix (..., n, n), got {getattr(u, 'shape', type(u))}")
    atol = _default_atol(u.dtype) if atol is None else atol
    eye = torch.eye(u.shape[-1], dtype=u.dtype, device=u.device)
    err = float((u.mH @ u - eye).detach().abs().max()) if u.numel() else 0.0
    if not err <= atol:
        raise AssertionError(f"matrix is not unitary: max|U^† U - I| = {err:.3e} > atol = {atol:.1e}")


def assert_power_conserved(x: torch.Tensor, y: torch.Tensor, *, rtol: float | None = None) -> None:
    """Assert ``sum |y|² == sum |x|²`` over the last axis, per sample, to relative ``rtol``."""
    px = (x.abs() ** 2).sum(-1)
    py = (y.abs() ** 2).sum(-1)
    rtol = _default_atol(x.dtype) if rtol is None else rtol
    err = float(((py - px).abs() / px.clamp_min(1e-300)).detach().max()) if px.numel() else 0.0
    if not err <= rtol:
        raise AssertionError(f"power not conserved: max relative change {err:.3e} > rtol = {rtol:.1e}")
