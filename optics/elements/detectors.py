"""Detector-region read-out as a layer (wraps :func:`optics.functional.region_energies`)."""

from __future__ import annotations

import torch
from torch import nn

from ..field import Field
from ..functional.detectors import _check_regions, region_energies
from ..grid import Grid
from .diffusers import _check_field_matches

__all__ = ["RegionDetector"]


class RegionDetector(nn.Module):
    """Integrated intensity in fixed detector regions: ``E_r = Σ w_r |u|² dA``.

    The regions (bool masks or real weights, e.g. from
    :func:`optics.functional.ten_region_layout`) are kept as a non-persistent buffer.

    Args:
        grid: detector-plane sampling.
        regions: bool or real tensor ``(R, ny, nx)``.

    Shape:
        forward: Field ``(*batch, ny, nx)`` -> real tensor ``(*batch, R)`` in |u|² · m².
    """

    regions: torch.Tensor

    def __init__(self, grid: Grid, regions: torch.Tensor):
        super().__init__()
        if not isinstance(grid, Grid):
            raise TypeError(f"RegionDetector: grid must be an optics.Grid, got {type(grid).__name__}")
        self.grid = grid
        regions = _check_regions(regions, grid.shape, "RegionDetector")
        self.register_buffer("regions", regions.clone(), persistent=False)

    @property
    def num_regions(self) -> int:
        return self.regions.shape[0]

    def forward(self, field: Field) -> torch.Tensor:
        _check_field_matches(field, self.grid, None, "RegionDetector")
        return region_energies(field, self.regions)

    def extra_repr(self) -> str:
        return f"grid={self.grid!r}, num_regions={self.num_regions}"
