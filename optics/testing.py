"""Public assertion helpers for tests of optical code (in onnsim's tests and users')."""

from __future__ import annotations

import torch

from .field import Field

__all__ = ["relative_l2", "assert_power_conserved", "assert_fields_close"]


def relative_l2(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """‖actual − expected‖₂ / ‖expected‖₂ over all elements (expected must be non-zero)."""
    actual = torch.as_tensor(actual)
    expected = torch.as_tensor(expected).to(actual.device)
    denom = torch.linalg.vector_norm(expected)
    if float(denom) == 0:
        raise ValueError("relative_l2: the expected tensor is all zeros")
    return float(torch.linalg.vector_norm(actual - expected) / denom)


def assert_power_conserved(before: Field, after: Field, *, rtol: float) -> None:
    """Assert ∑|u|²dA agrees between two fields to ``rtol`` (per batch element)."""
    p0, p1 = before.power(), after.power()
    err = ((p1 - p0).abs() / p0.abs()).max().item()
    if not err <= rtol:
        raise AssertionError(f"power not conserved: relative change {err:.3e} > rtol {rtol:.1e} "
                             f"(before {p0.flatten()[:4].tolist()}, after {p1.flatten()[:4].tolist()})")


def assert_fields_close(actual: Field, expected: Field, *, rtol: float) -> None:
    """Assert same grid and wavelength and relative L2 difference of the data ≤ ``rtol``."""
    if actual.grid != expected.grid:
        raise AssertionError(f"grids differ: {actual.grid!r} vs {expected.grid!r}")
    if actual.wavelength != expected.wavelength:
        raise AssertionError(f"wavelengths differ: {actual.wavelength} vs {expected.wavelength}")
    err = relative_l2(actual.data, expected.data)
    if not err <= rtol:
        raise AssertionError(f"fields differ: relative L2 {err:.3e} > rtol {rtol:.1e}")
