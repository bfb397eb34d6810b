"""Random phase diffuser as a layer (wraps :func:`optics.functional.random_diffuser`)."""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import nn

from .._checks import positive_float
from ..field import Field
from ..functional.diffuser import random_diffuser
from ..grid import Grid

__all__ = ["Diffuser", "DiffuserSet"]


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


class DiffuserSet(nn.Module):
    """A set of ``n`` thin diffusers, every input field seen through each of them:
    ``u_out[..., k, :, :] = t_k · u_in``.

    The set is what an imaging network is trained and tested through (Luo et al., eLight 2, 4
    (2022): every object of a batch through all the diffusers of the epoch). It holds no
    parameters: the transmittances are a non-persistent buffer, replaced with :meth:`set`
    (e.g. draws of :func:`optics.functional.random_diffuser`) or for a block of code with
    :meth:`holding`. Empty (the default, or ``set(None)``): no diffuser, ``n = 1`` and
    ``t = 1``.

    Args:
        grid: sampling of the diffuser plane.

    Shape:
        forward: Field ``(*batch, ny, nx)`` -> Field ``(*batch, n, ny, nx)``;
        transmittances ``(n, ny, nx)`` or ``(ny, nx)`` (one diffuser), complex.
    """

    transmittance: torch.Tensor

    def __init__(self, grid: Grid):
        super().__init__()
        if not isinstance(grid, Grid):
            raise TypeError(f"DiffuserSet: grid must be an optics.Grid, got {type(grid).__name__}")
        self.grid = grid
        self.register_buffer("transmittance", torch.zeros(0, *grid.shape, dtype=torch.complex64), persistent=False)

    @property
    def n(self) -> int:
        """Number of diffusers (1 when empty: the bare field)."""
        return max(1, self.transmittance.shape[0])

    def set(self, transmittances: torch.Tensor | None) -> "DiffuserSet":
        """Hold ``transmittances`` ``(n, ny, nx)`` (or one ``(ny, nx)``), or none; returns self."""
        if transmittances is None:
            t = self.transmittance.new_zeros(0, *self.grid.shape)
        else:
            t = transmittances if transmittances.dim() == 3 else transmittances[None]
            if not t.is_complex() or tuple(t.shape[-2:]) != self.grid.shape or t.shape[0] < 1:
                raise ValueError(f"DiffuserSet: transmittances must be complex (n, {self.grid.ny}, {self.grid.nx}), "
                                 f"got {tuple(transmittances.shape)} {transmittances.dtype}")
        self.transmittance = t
        return self

    @contextmanager
    def holding(self, transmittances: torch.Tensor | None):
        """``with s.holding(t): ...`` — the set holds ``t`` inside the block, its own after."""
        kept = self.transmittance
        self.set(transmittances)
        try:
            yield self
        finally:
            self.transmittance = kept

    def forward(self, field: Field) -> Field:
        _check_field_matches(field, self.grid, None, "DiffuserSet")
        u = field.data.unsqueeze(-3)
        if self.transmittance.shape[0]:
            u = u * self.transmittance.to(device=u.device, dtype=u.dtype)
        return field.replace(data=u)

    def extra_repr(self) -> str:
        return f"grid={self.grid!r}, n={self.transmittance.shape[0]}"
