"""Modules for thin elements: trainable phase and amplitude masks, lenses, apertures."""

from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_finite, positive_float
from ..field import Field
from ..functional import masks as M
from ..grid import Grid
from ._base import check_field_matches

__all__ = ["PhaseMask", "AmplitudeMask", "Lens", "Aperture"]


def _active_slices(grid: Grid, active_shape) -> tuple[slice, slice]:
    if active_shape is None:
        return slice(None), slice(None)
    ay, ax = active_shape if isinstance(active_shape, (tuple, list)) else (active_shape, active_shape)
    if not (isinstance(ay, int) and isinstance(ax, int) and 0 < ay <= grid.ny and 0 < ax <= grid.nx):
        raise ValueError(f"active_shape must be positive ints no larger than the grid {grid.shape}, got {active_shape!r}")
    oy, ox = (grid.ny - ay) // 2, (grid.nx - ax) // 2
    return slice(oy, oy + ay), slice(ox, ox + ax)


class PhaseMask(nn.Module):
    """A trainable phase-only modulator (one diffractive layer or an SLM).

    The learnable parameter ``phase`` (radians) covers the centred ``active_shape`` pixels;
    outside it the element transmits unchanged (``outside="transmit"``) or blocks
    (``outside="block"``). Transmittance t = exp(iφ) (wrapping is left to export).

    Args:
        grid: sampling plane.
        active_shape: ``(ay, ax)`` modulated pixels, centred (default: the whole grid).
        init: ``"zeros"``, ``"uniform"`` (φ ~ U[0, 2π), needs ``generator``) or a tensor.
        outside: ``"transmit"`` or ``"block"``.
        generator: torch.Generator for random initialisation.
        backend: ``"auto"`` (the fused CuPy kernel :func:`cupy_kernels.phase_modulate` for
            CUDA fields when CuPy works, else torch), ``"torch"`` or ``"cupy"``.

    Shape:
        Field data ``(*batch, ny, nx)`` in and out; ``phase`` is ``(ay, ax)``.
    """

    def __init__(self, grid: Grid, *, active_shape=None, init="zeros", outside: str = "transmit",
                 generator: torch.Generator | None = None, dtype=torch.float32, backend: str = "auto"):
        super().__init__()
        import cupy_kernels  # lazily (docs/design.md#dependency-direction); validation only, CuPy is not imported

        self.backend = cupy_kernels.check_backend(backend)
        self.grid = grid
        self._sy, self._sx = _active_slices(grid, active_shape)
        ay = len(range(grid.ny)[self._sy])
        ax = len(range(grid.nx)[self._sx])
        if outside not in ("transmit", "block"):
            raise ValueError(f"outside must be 'transmit' or 'block', got {outside!r}")
        self.outside = outside
        if isinstance(init, torch.Tensor):
            if tuple(init.shape) != (ay, ax) or init.is_complex():
                raise ValueError(f"init phase must be a real tensor of shape {(ay, ax)}, got "
                                 f"{tuple(init.shape)} {init.dtype}")
            phase = init.detach().to(dtype).clone()
            check_finite(phase, "PhaseMask init phase")
        elif init == "zeros":
            phase = torch.zeros(ay, ax, dtype=dtype)
        elif init == "uniform":
            if generator is None:
                raise ValueError("init='uniform' needs a torch.Generator: PhaseMask(..., generator=g)")
            phase = torch.rand(ay, ax, generator=generator, dtype=torch.float64).mul(2 * math.pi).to(dtype)
        else:
            raise ValueError(f"init must be 'zeros', 'uniform' or a tensor, got {init!r}")
        self.phase = nn.Parameter(phase)

    def full_phase(self) -> torch.Tensor:
        """Phase on the whole grid ``(ny, nx)`` in radians (0 outside the active area)."""
        if self.phase.shape == self.grid.shape:
            return self.phase
        full = self.phase.new_zeros(self.grid.shape)
        full[self._sy, self._sx] = self.phase
        return full

    def transmittance(self, dtype=torch.complex64) -> torch.Tensor:
        """Complex transmittance ``(ny, nx)``."""
        phi = self.full_phase()
        amp = torch.ones_like(phi)
        if self.outside == "block" and phi.shape != self.phase.shape:
            amp = torch.zeros_like(phi)
            amp[self._sy, self._sx] = 1
        return torch.polar(amp, phi).to(dtype)

    def forward(self, field: Field) -> Field:
        check_field_matches("PhaseMask", field, self.grid)
        import cupy_kernels

        if cupy_kernels.use_cupy(getattr(self, "backend", "auto"), field.data, self.phase, what="PhaseMask",
                                 unsupported=lambda: self._cupy_unsupported(field)):
            origin = (self._sy.start or 0, self._sx.start or 0)
            return field.replace(data=cupy_kernels.phase_modulate(field.data, self.phase, origin=origin,
                                                                  outside=self.outside))
        return field.replace(data=field.data * self.transmittance(field.dtype).to(field.device))

    def _cupy_unsupported(self, field: Field):
        if field.dtype not in (torch.complex64, torch.complex128):
            return f"needs a complex64/complex128 field, got {field.dtype}"
        if self.phase.device != field.device:
            return f"phase on {self.phase.device} but the field on {field.device}"
        return None


class AmplitudeMask(nn.Module):
    """An amplitude mask a(x, y) ∈ [0, 1], trainable through a sigmoid or fixed.

    Args:
        grid: sampling plane.
        amplitude: initial amplitude ``(ny, nx)`` in [0, 1] (default 0.5 everywhere).
        trainable: learn it (parameter ``logit``, a = sigmoid(logit)) or keep it fixed
            (non-persistent buffer).
    """

    def __init__(self, grid: Grid, *, amplitude: torch.Tensor | None = None, trainable: bool = True):
        super().__init__()
        self.grid = grid
        a = torch.full(grid.shape, 0.5) if amplitude is None else amplitude.detach().double()
        if a.is_complex() or tuple(a.shape) != grid.shape:
            raise ValueError(f"amplitude must be real with shape {grid.shape}, got {tuple(a.shape)} {a.dtype}")
        if not torch.isfinite(a).all() or (a < 0).any() or (a > 1).any():
            raise ValueError("amplitude values must be finite and in [0, 1]")
        self.trainable = trainable
        if trainable:
            self.logit = nn.Parameter(torch.logit(a.clamp(1e-6, 1 - 1e-6)).float())
        else:
            self.register_buffer("fixed", a.float(), persistent=False)

    def amplitude(self) -> torch.Tensor:
        return torch.sigmoid(self.logit) if self.trainable else self.fixed

    def forward(self, field: Field) -> Field:
        check_field_matches("AmplitudeMask", field, self.grid)
        return field.replace(data=field.data * self.amplitude().to(field.device, field.data.real.dtype))


class Lens(nn.Module):
    """A thin lens of focal length f (m), optionally with a circular pupil of radius (m).

    Transmittance exp(−iπ r²/(λ f)) cached as a non-persistent buffer; construction raises
    SamplingError when the lens phase would alias on the grid.
    """

    def __init__(self, grid: Grid, wavelength: float, focal_length: float, *,
                 aperture_radius: float | None = None, dtype=torch.complex64):
        super().__init__()
        self.grid = grid
        self.wavelength = positive_float(wavelength, "wavelength")
        self.focal_length = float(focal_length)
        phase = M.thin_lens_phase(grid, wavelength, focal_length, aperture_radius=aperture_radius)
        t = torch.polar(torch.ones_like(phase), phase)
        if aperture_radius is not None:
            t = t * M.circular_aperture(grid, aperture_radius)
        self.register_buffer("transmittance", t.to(dtype), persistent=False)

    def forward(self, field: Field) -> Field:
        check_field_matches("Lens", field, self.grid, self.wavelength)
        return field.replace(data=field.data * self.transmittance.to(field.device, field.dtype))


class Aperture(nn.Module):
    """A binary aperture: circular (``radius``) or rectangular (``size=(h, w)``), metres."""

    def __init__(self, grid: Grid, *, radius: float | None = None, size=None, center=(0.0, 0.0)):
        super().__init__()
        if (radius is None) == (size is None):
            raise ValueError("Aperture needs exactly one of radius= (circle) or size= (rectangle), in m")
        self.grid = grid
        if radius is not None:
            mask = M.circular_aperture(grid, radius, center=center)
        else:
            mask = M.rectangular_aperture(grid, size, center=center)
        self.register_buffer("mask", mask.float(), persistent=False)

    def forward(self, field: Field) -> Field:
        check_field_matches("Aperture", field, self.grid)
        return field.replace(data=field.data * self.mask.to(field.device, field.data.real.dtype))
