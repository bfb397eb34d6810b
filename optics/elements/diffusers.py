"""Random phase diffuser as a layer (wraps :func:`optics.functional.random_diffuser`)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import positive_float
from ..field import Field
from ..functional.diffuser import random_diffuser
from ..grid import Grid

__all__ = ["Diffuser"]


def _check_field_matches(field, grid: Grid, wavelength: float | None, owner: str) -> None:
    """Raise unless ``field`` is a Field on ``grid`` (and at ``wavelength``), printing both."""
    if not isinstance(field, Field):
        raise TypeError(f"{owner}: input must be an optics.Field, got {type(field).__name__}")
    if field.grid != grid:
        raise ValueError(f"{owner}: the input Field's grid {field.grid!r} does not match the "
                         f"layer's grid {grid!r}")
    if wavelength is not None and not math.isclose(field.wavelength, wavelength, rel_tol=1e-9):
        raise ValueError(f"{owner}: the input Field's wavelength {field.wavelength:.9g} m does "
                         f"not match the layer's wavelength {wavelength:.9g} m")


class Diffuser(nn.Module):
    """A fixed random thin phase diffuser: ``u_out = t · u_in``.

    ``t = exp(i 2π Δn D / λ)`` with ``D`` i.i.d. Gaussian heights smoothed by a unit-sum
    Gaussian of std ``sigma`` (Luo et al., eLight 2, 4 (2022); see
    :mod:`optics.functional.diffuser`). The transmittance is a non-persistent buffer (it is
    not in the state dict; save it with :mod:`optics.io` if needed) and is redrawn by
    :meth:`resample`. Not learnable.

    Args:
        grid: sampling of the diffuser plane.
        wavelength: vacuum wavelength in metres.
        sigma: smoothing std in metres (e.g. ``4 * wavelength``).
        delta_n: refractive-index contrast (default 0.74).
        height_mean: mean height in metres (default 25λ).
        height_std: std of the unsmoothed heights in metres (default 8λ).
        generator: source of randomness for the first draw (keyword-only, required).
        dtype: complex dtype of the buffer (complex64 default).

    Shape:
        forward: Field ``(*batch, ny, nx)`` -> Field ``(*batch, ny, nx)``.
    """

    transmittance: torch.Tensor

    def __init__(self, grid: Grid, wavelength: float, *, sigma: float, delta_n: float = 0.74,
                 height_mean=None, height_std=None, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.complex64):
        super().__init__()
        if not isinstance(grid, Grid):
            raise TypeError(f"Diffuser: grid must be an optics.Grid, got {type(grid).__name__}")
        self.grid = grid
        self.wavelength = positive_float(wavelength, "Diffuser wavelength")
        self.sigma = positive_float(sigma, "Diffuser sigma")
        self.delta_n = delta_n
        self.height_mean = height_mean
        self.height_std = height_std
        self.register_buffer("transmittance", self._draw(generator, dtype), persistent=False)

    def _draw(self, generator, dtype) -> torch.Tensor:
        return random_diffuser(self.grid, self.wavelength, sigma=self.sigma, delta_n=self.delta_n,
                               height_mean=self.height_mean, height_std=self.height_std,
                               generator=generator, dtype=dtype)

    @torch.no_grad()
    def resample(self, *, generator: torch.Generator) -> "Diffuser":
        """Draw a new independent transmittance in place (same device and dtype); returns self."""
        t = self._draw(generator, self.transmittance.dtype)
        self.transmittance = t.to(self.transmittance.device)
        return self

    def forward(self, field: Field) -> Field:
        _check_field_matches(field, self.grid, self.wavelength, "Diffuser")
        return field.replace(data=field.data * self.transmittance.to(field.data.dtype))

    def extra_repr(self) -> str:
        return (f"grid={self.grid!r}, wavelength={self.wavelength:.6g} m, "
                f"sigma={self.sigma:.6g} m, delta_n={self.delta_n}")
