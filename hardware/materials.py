"""Printable and lithographic materials for fabrication export (docs/export.md).

A material is described at one design wavelength by its complex refractive index
n + iκ. A layer of thickness h then delays the wave by φ = 2π(n − 1)h/λ (relative to the
same thickness of air) and transmits the amplitude exp(−2πκh/λ) (docs/references.md#d2nn;
Lin et al., Science 361, 1004 (2018)). Dispersion is ignored: the values hold near
``wavelength``; use them far from it at your own risk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Material", "MATERIALS", "get_material"]


@dataclass(frozen=True)
class Material:
    """Complex refractive index n + iκ of a material at ``wavelength`` (m).

    Args:
        name: short identifier used on the command line.
        refractive_index: n (> 1).
        extinction: κ (≥ 0); intensity absorption coefficient α = 4πκ/λ.
        wavelength: the wavelength (m) at which n and κ hold.
        source: where the numbers come from (``assumed`` when not measured by us or a paper).
    """

    name: str
    refractive_index: float
    extinction: float
    wavelength: float
    source: str

    def __post_init__(self):
        if not (isinstance(self.refractive_index, (int, float)) and math.isfinite(self.refractive_index)
                and self.refractive_index > 1):
            raise ValueError(f"Material {self.name!r}: refractive_index must be a finite number > 1 "
                             f"(a relief of index ≤ 1 gives no positive phase delay), got {self.refractive_index!r}")
        if not (isinstance(self.extinction, (int, float)) and math.isfinite(self.extinction) and self.extinction >= 0):
            raise ValueError(f"Material {self.name!r}: extinction κ must be a finite number ≥ 0, got {self.extinction!r}")
        if not (math.isfinite(self.wavelength) and self.wavelength > 0):
            raise ValueError(f"Material {self.name!r}: wavelength must be > 0 m, got {self.wavelength!r}")

    def to_dict(self) -> dict:
        return {"name": self.name, "refractive_index": self.refractive_index, "extinction": self.extinction,
                "wavelength_m": self.wavelength, "source": self.source}


MATERIALS: dict[str, Material] = {m.name: m for m in (
    Material("thz-resin", 1.7227, 0.031, 0.75e-3,
             "3-D printing photopolymer (Stratasys VeroBlackPlus RGD875) at 0.4 THz measured by THz time-domain "
             "spectroscopy, Lin et al., Science 361, 1004 (2018), supplementary materials; "
             "rounds it to n ≈ 1.72, κ ≈ 0.03 (assumed for other resins)"),
    Material("fused-silica", 1.4570, 0.0, 632.8e-9,
             "Malitson, J. Opt. Soc. Am. 55, 1205 (1965), Sellmeier fit at 632.8 nm; absorption negligible"),
    Material("fused-silica-520", 1.4614, 0.0, 520e-9,
             "Malitson, J. Opt. Soc. Am. 55, 1205 (1965), Sellmeier fit at 520 nm; absorption negligible"),
    Material("su-8", 1.59, 0.0, 633e-9,
             "cured SU-8 photoresist; literature values 1.57-1.60 over 520-633 nm (e.g. the MicroChem SU-8 "
             "datasheet and refractiveindex.info); 1.59 at 633 nm assumed; absorption negligible above 400 nm"),
)}


def get_material(name: str) -> Material:
    """The table entry ``name`` (see :data:`MATERIALS`)."""
    if name not in MATERIALS:
        raise ValueError(f"unknown material {name!r}; known materials: {', '.join(sorted(MATERIALS))} "
                         "(or pass refractive_index/extinction explicitly)")
    return MATERIALS[name]
