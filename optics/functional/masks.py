"""Thin optical elements: transmittance masks, thin lenses and apertures.

A thin element multiplies the field by a complex transmittance t(x, y):
u_out = t · u_in. Phase masks have t = exp(iφ), amplitude masks t = a ∈ [0, 1].
A thin lens of focal length f has t = exp(−i π r² / (λ f)) (Goodman Eq. 5-10, with the
exp(−iωt) convention: a converging lens, f > 0, delays the edge less than the centre so
that a plane wave becomes a spherical wave converging to z = f).
"""

from __future__ import annotations

import math

import torch

from .._checks import SamplingError, finite_float, positive_float
from ..field import Field
from ..grid import Grid

__all__ = [
    "modulate",
    "phase_mask",
    "amplitude_mask",
    "thin_lens_phase",
    "thin_lens",
    "circular_aperture",
    "rectangular_aperture",
]


def _check_on_grid(t: torch.Tensor, grid: Grid, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() < 2 or tuple(t.shape[-2:]) != grid.shape:
        raise ValueError(
            f"{name} shape {tuple(t.shape)} does not match the field's grid {grid.shape} "
            "(expected (..., ny, nx))"
        )


def _require_field(field) -> None:
    if not isinstance(field, Field):
        raise TypeError(f"expected an optics.Field, got {type(field).__name__}")


def modulate(field: Field, transmittance: torch.Tensor) -> Field:
    """Multiply a field by a complex (or real) transmittance ``(..., ny, nx)``.

    The transmittance broadcasts against the field's batch dimensions.
    """
    _require_field(field)
    _check_on_grid(transmittance, field.grid, "transmittance")
    return field.replace(data=field.data * transmittance.to(field.device))


def phase_mask(field: Field, phase: torch.Tensor) -> Field:
    """Apply a phase-only mask, u · exp(iφ); ``phase`` in radians, real, ``(..., ny, nx)``."""
    _require_field(field)
    _check_on_grid(phase, field.grid, "phase")
    if phase.is_complex():
        raise TypeError("phase must be real (radians); for a complex transmittance use modulate()")
    t = torch.polar(torch.ones_like(phase), phase)
    return modulate(field, t.to(field.dtype))


def amplitude_mask(field: Field, amplitude: torch.Tensor) -> Field:
    """Apply a real amplitude mask (values in [0, 1] for a passive element)."""
    _require_field(field)
    _check_on_grid(amplitude, field.grid, "amplitude")
    if amplitude.is_complex():
        raise TypeError("amplitude must be real; for a complex transmittance use modulate()")
    return modulate(field, amplitude.to(field.data.real.dtype))


def thin_lens_phase(grid: Grid, wavelength: float, focal_length: float, *,
                    aperture_radius: float | None = None, check_sampling: bool = True,
                    dtype=torch.float64, device=None) -> torch.Tensor:
    """Phase −π r² / (λ f) of a thin lens in radians, shape ``(ny, nx)``.

    Args:
        grid: sampling plane; the lens is centred on the optical axis.
        wavelength: λ in metres.
        focal_length: f in metres (negative for a diverging lens, non-zero).
        aperture_radius: radius (m) inside which the phase must be sampled without aliasing
            (default: the whole grid, i.e. its corner).

    Raises:
        SamplingError: the local frequency r/(λ|f|) of the lens phase exceeds the Nyquist
            frequency 1/(2d) inside the aperture (the lens would alias).
    """
    lam = positive_float(wavelength, "wavelength")
    f = finite_float(focal_length, "focal_length")
    if f == 0:
        raise ValueError("focal_length must be non-zero (in m)")
    if lam * abs(f) == 0 or not math.isfinite(math.pi / (lam * abs(f))):
        raise ValueError(f"wavelength × focal_length = {lam!r} m × {f!r} m underflows: the lens phase "
                         "π r²/(λ f) is not representable; use physical units (metres)")
    if check_sampling:
        if aperture_radius is None:
            ry, rx = (grid.ny - 1) / 2 * grid.dy, (grid.nx - 1) / 2 * grid.dx
        else:
            ry = rx = positive_float(aperture_radius, "aperture_radius")
        for axis, r, d in (("y", ry, grid.dy), ("x", rx, grid.dx)):
            if r / (lam * abs(f)) > 0.5 / d:
                raise SamplingError(
                    f"thin lens phase is aliased along {axis}: its local frequency r/(λ|f|) reaches "
                    f"{r / (lam * abs(f)):.4g} cycles/m at r = {r:.4g} m, above the Nyquist frequency "
                    f"{0.5 / d:.4g} cycles/m. Valid: pitch ≤ {lam * abs(f) / (2 * r):.4g} m, "
                    f"|focal_length| ≥ {2 * r * d / lam:.4g} m, or an aperture_radius ≤ {lam * abs(f) / (2 * d):.4g} m"
                )
    r2 = grid.radius(dtype=torch.float64, device=device) ** 2
    return (-math.pi * r2 / (lam * f)).to(dtype)


def thin_lens(field: Field, focal_length: float, *, aperture_radius: float | None = None) -> Field:
    """Apply a thin lens (and, if ``aperture_radius`` is given, a circular pupil)."""
    _require_field(field)
    phase = thin_lens_phase(field.grid, field.wavelength, focal_length, aperture_radius=aperture_radius,
                            device=field.device)
    t = torch.polar(torch.ones_like(phase), phase)
    if aperture_radius is not None:
        t = t * circular_aperture(field.grid, aperture_radius, device=field.device)
    return modulate(field, t.to(field.dtype))


def circular_aperture(grid: Grid, radius: float, *, center=(0.0, 0.0), dtype=torch.float64,
                      device=None) -> torch.Tensor:
    """Binary circular pupil: 1 where the pixel centre lies within ``radius`` (m), shape (ny, nx)."""
    r0 = positive_float(radius, "aperture radius")
    cy, cx = (finite_float(c, "aperture center") for c in center)
    yy, xx = grid.meshgrid(device=device)
    return (((yy - cy) ** 2 + (xx - cx) ** 2) <= r0 * r0 * (1 + 1e-12)).to(dtype)


def rectangular_aperture(grid: Grid, size, *, center=(0.0, 0.0), dtype=torch.float64,
                         device=None) -> torch.Tensor:
    """Binary rectangular pupil of full size ``(height, width)`` metres (a float: square)."""
    h, w = size if isinstance(size, (tuple, list)) else (size, size)
    h, w = positive_float(h, "aperture height"), positive_float(w, "aperture width")
    cy, cx = (finite_float(c, "aperture center") for c in center)
    yy, xx = grid.meshgrid(device=device)
    eps = 1e-12
    inside = ((yy - cy).abs() <= h / 2 * (1 + eps)) & ((xx - cx).abs() <= w / 2 * (1 + eps))
    return inside.to(dtype)


