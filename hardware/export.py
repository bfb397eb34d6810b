"""Phase mask → printable height map (docs/export.md; Lin et al., Science 361, 1004 (2018)).

A relief of thickness h in a material of complex index n + iκ, in air, delays the wave by
``φ = 2π(n − 1)h/λ`` and transmits the amplitude ``exp(−2πκh/λ)``. A trained phase φ is
therefore printed as ``h = base + λ·wrap(φ)/(2π(n − 1))`` with ``wrap(φ) ∈ [0, 2π)``; the
relief spans one "2π height" ``λ/(n − 1)``. Quantization to N levels rounds the relief to
``k·λ/(N(n − 1))``, k = 0 … N − 1 (a wrapped phase that rounds to 2π becomes level 0).

All lengths are metres. Writers for the file formats are in :mod:`hardware.writers`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .materials import Material, get_material

__all__ = ["HeightMap", "resolve_material", "phase_to_height", "height_to_phase", "quantize",
           "amplitude_transmission", "export_heights"]

TWO_PI = 2 * math.pi


def resolve_material(material: Material | str | None = None, *, n: float | None = None,
                     kappa: float = 0.0, wavelength: float | None = None) -> Material:
    """A :class:`Material` from a table name, a Material, or an explicit index ``n`` (and κ)."""
    if material is not None and n is not None:
        raise ValueError("give either material or n (refractive index), not both")
    if isinstance(material, Material):
        return material
    if isinstance(material, str):
        return get_material(material)
    if material is not None:
        raise TypeError(f"material must be a Material or a table name, got {type(material).__name__}")
    if n is None:
        raise ValueError("give a material (name or Material) or a refractive index n")
    _finite(n, "refractive index n")
    return Material("custom", float(n), float(kappa), float(wavelength or 1.0), "given by the user")


def _finite(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")


def _check_wavelength(wavelength):
    _finite(wavelength, "wavelength (m)")
    if wavelength <= 0:
        raise ValueError(f"wavelength must be > 0 m, got {wavelength!r}")


def _check_levels(levels):
    if levels is None:
        return
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
        raise ValueError(f"levels must be an integer ≥ 2 (or None for continuous heights), got {levels!r}")


def _check_base(base_thickness):
    _finite(base_thickness, "base_thickness (m)")
    if base_thickness < 0:
        raise ValueError(f"base_thickness must be ≥ 0 m, got {base_thickness!r}")


def quantize(relief: torch.Tensor, *, levels: int, period: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Round a relief in [0, period) to ``levels`` equal steps; returns ``(relief_q, index)``.

    ``index = round(relief·levels/period) mod levels`` (int64) and ``relief_q = index·period/levels``;
    the wrapped error is at most half a step, ``period/(2·levels)``.
    """
    _check_levels(levels)
    index = torch.remainder(torch.round(relief / period * levels), levels).long()
    return index.to(relief.dtype) * (period / levels), index


def phase_to_height(phase: torch.Tensor, *, wavelength: float, material: Material | str | None = None,
                    n: float | None = None, levels: int | None = None, base_thickness: float = 0.0) -> torch.Tensor:
    """Total thickness (m) ``base + λ·wrap(φ)/(2π(n − 1))``, quantized to ``levels`` when given.

    Shape: any; ``phase`` in radians (float, finite).
    """
    phase = torch.as_tensor(phase)
    if phase.is_complex() or not phase.is_floating_point():
        raise TypeError(f"phase must be a real floating-point tensor (rad), got {phase.dtype}")
    if not bool(torch.isfinite(phase).all()):
        raise ValueError(f"phase contains {int((~torch.isfinite(phase)).sum())} NaN/inf values; "
                         "export needs finite phases (rad)")
    _check_wavelength(wavelength)
    _check_levels(levels)
    _check_base(base_thickness)
    mat = resolve_material(material, n=n, wavelength=wavelength)
    period = wavelength / (mat.refractive_index - 1)
    relief = torch.remainder(phase.double(), TWO_PI) / TWO_PI * period
    if levels is not None:
        relief, _ = quantize(relief, levels=levels, period=period)
    return relief + base_thickness


def height_to_phase(height: torch.Tensor, *, wavelength: float, material: Material | str | None = None,
                    n: float | None = None, base_thickness: float = 0.0) -> torch.Tensor:
    """Phase delay (rad) ``2π(n − 1)(h − base)/λ`` of a relief above the base (not wrapped)."""
    _check_wavelength(wavelength)
    _check_base(base_thickness)
    mat = resolve_material(material, n=n, wavelength=wavelength)
    return TWO_PI * (mat.refractive_index - 1) * (torch.as_tensor(height) - base_thickness) / wavelength


def amplitude_transmission(height: torch.Tensor, *, wavelength: float, material: Material | str | None = None,
                           kappa: float | None = None) -> torch.Tensor:
    """Amplitude transmitted through a total thickness ``height`` (m): ``exp(−2πκh/λ)``."""
    _check_wavelength(wavelength)
    if kappa is None:
        if material is None:
            raise ValueError("give a material or an extinction coefficient kappa")
        kappa = resolve_material(material).extinction
    _finite(kappa, "extinction κ")
    if kappa < 0:
        raise ValueError(f"extinction κ must be ≥ 0, got {kappa!r}")
    return torch.exp(-TWO_PI * kappa * torch.as_tensor(height) / wavelength)


@dataclass(frozen=True, eq=False)
class HeightMap:
    """A fabrication-ready design: L layers of square pixels.

    Shape:
        ``height`` (L, ny, nx) total thickness in m (base included); ``level`` (L, ny, nx)
        int64 level indices (−1 everywhere when not quantized).

    ``levels`` is None for continuous heights; ``pitch`` and ``wavelength`` in m.
    """

    height: torch.Tensor
    level: torch.Tensor
    levels: int | None
    pitch: float
    wavelength: float
    material: Material
    base_thickness: float

    @property
    def period(self) -> float:
        """The 2π height λ/(n − 1) in m."""
        return self.wavelength / (self.material.refractive_index - 1)

    @property
    def step(self) -> float | None:
        """Height of one quantization level (m)."""
        return None if self.levels is None else self.period / self.levels

    @property
    def relief(self) -> torch.Tensor:
        return self.height - self.base_thickness

    def phase(self, wavelength: float | None = None) -> torch.Tensor:
        """Phase delay (rad) of the relief at ``wavelength`` (default: the design wavelength)."""
        return height_to_phase(self.height, wavelength=wavelength or self.wavelength, material=self.material,
                               base_thickness=self.base_thickness)

    def amplitude(self, wavelength: float | None = None) -> torch.Tensor:
        """Amplitude transmission of the whole thickness (base included) at ``wavelength``."""
        return amplitude_transmission(self.height, wavelength=wavelength or self.wavelength,
                                      kappa=self.material.extinction)


def export_heights(phases: torch.Tensor, *, wavelength: float, pitch: float, material: Material | str | None = None,
                   n: float | None = None, levels: int | None = None, base_thickness: float = 0.0) -> HeightMap:
    """Convert phase masks ``(L, ny, nx)`` or ``(ny, nx)`` (rad) into a :class:`HeightMap`."""
    phases = torch.as_tensor(phases).detach()
    if phases.ndim == 2:
        phases = phases[None]
    if phases.ndim != 3:
        raise ValueError(f"phases must have shape (L, ny, nx) or (ny, nx), got {tuple(phases.shape)}")
    if 0 in phases.shape:
        raise ValueError(f"phases must hold at least one layer of at least 1×1 pixels, got shape "
                         f"{tuple(phases.shape)}")
    _finite(pitch, "pitch (m)")
    if pitch <= 0:
        raise ValueError(f"pitch must be > 0 m, got {pitch!r}")
    mat = resolve_material(material, n=n, wavelength=wavelength)
    height = phase_to_height(phases, wavelength=wavelength, material=mat, levels=levels, base_thickness=base_thickness)
    period = wavelength / (mat.refractive_index - 1)
    if levels is None:
        level = torch.full(height.shape, -1, dtype=torch.long)
    else:
        level = torch.round((height - base_thickness) / period * levels).long()
    return HeightMap(height, level, levels, float(pitch), float(wavelength), mat, float(base_thickness))
