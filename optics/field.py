"""The :class:`Field`: a complex scalar field sampled on a :class:`~optics.grid.Grid`.

A Field is immutable data, not an ``nn.Module``: ``data`` is a complex tensor shaped
``(*batch, ny, nx)`` indexed ``[y, x]``, ``grid`` says how it is sampled, ``wavelength`` is the
vacuum wavelength in metres. Time dependence is exp(-iωt), so a wave travelling towards
+z is exp(+i k z) and a phase ramp exp(+i 2π f x) steers towards +x.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from ._checks import check_complex, check_finite, complex_dtype_of, finite_float, positive_float
from .grid import Grid


@dataclass(frozen=True, eq=False)
class Field:
    """Complex field on a grid.

    Args:
        data: complex tensor, shape ``(*batch, ny, nx)``.
        grid: the sampling of the last two dimensions.
        wavelength: vacuum wavelength in metres (> 0).
    """

    data: torch.Tensor
    grid: Grid
    wavelength: float

    def __post_init__(self):
        check_complex(self.data, "Field data")
        if not isinstance(self.grid, Grid):
            raise TypeError(f"Field grid must be an optics.Grid, got {type(self.grid).__name__}")
        if self.data.dim() < 2 or tuple(self.data.shape[-2:]) != self.grid.shape:
            raise ValueError(
                f"Field data shape {tuple(self.data.shape)} does not match its grid: the last two "
                f"dimensions must be grid.shape = {self.grid.shape} (data is (*batch, ny, nx))"
            )
        object.__setattr__(self, "wavelength", positive_float(self.wavelength, "wavelength"))

    # -- constructors ------------------------------------------------------------------
    @classmethod
    def plane_wave(cls, grid: Grid, wavelength: float, *, amplitude: float = 1.0,
                   angle: tuple[float, float] = (0.0, 0.0), batch_shape=(),
                   dtype=torch.complex64, device=None) -> "Field":
        """A plane wave of the given amplitude, tilted by ``angle = (θy, θx)`` radians.

        A positive θx tilts the wave towards +x: u = A exp(+i k (x sin θx + y sin θy)).
        Each angle must be finite with |θ| ≤ π/2 (a forward-travelling wave); ``amplitude``
        finite; ``dtype`` torch.complex64 or torch.complex128.
        """
        _check_grid(grid)
        k = 2 * math.pi / positive_float(wavelength, "wavelength")
        amplitude = finite_float(amplitude, "plane_wave amplitude", "field units")
        if not isinstance(angle, (tuple, list)) or len(angle) != 2:
            raise ValueError(f"plane_wave angle must be a pair (θy, θx) in radians, got {angle!r}")
        angle = tuple(finite_float(a, "plane_wave angle", "rad") for a in angle)
        if max(abs(a) for a in angle) > math.pi / 2:
            raise ValueError(f"plane_wave angle must lie in [-π/2, π/2] rad (a forward-travelling wave), "
                             f"got {angle!r}")
        _check_dtype(dtype)
        if abs(amplitude) > torch.finfo(dtype).max:  # it would become inf in this dtype
            raise ValueError(f"plane_wave amplitude {amplitude!r} exceeds the largest {dtype} value "
                             f"{torch.finfo(dtype).max:.6g} (field units): use complex128 or a smaller amplitude")
        yy, xx = grid.meshgrid(dtype=torch.float64, device=device)
        phase = k * (xx * math.sin(angle[1]) + yy * math.sin(angle[0]))
        data = (amplitude * torch.exp(1j * phase)).to(dtype)
        return cls(data.expand(*batch_shape, *grid.shape).clone(), grid, wavelength)

    @classmethod
    def gaussian(cls, grid: Grid, wavelength: float, waist: float, *, center=(0.0, 0.0),
                 dtype=torch.complex64, device=None) -> "Field":
        """A Gaussian beam at its waist: u = exp(-r²/w0²), ``waist`` w0 in metres.

        Normalised to unit power (∑|u|² dA = 1).
        """
        _check_grid(grid)
        positive_float(wavelength, "wavelength")
        w0 = positive_float(waist, "waist")
        if not isinstance(center, (tuple, list)) or len(center) != 2:
            raise ValueError(f"gaussian center must be a pair (y, x) in metres, got {center!r}")
        center = tuple(finite_float(c, "gaussian center") for c in center)
        _check_dtype(dtype)
        yy, xx = grid.meshgrid(dtype=torch.float64, device=device)
        r2 = (yy - center[0]) ** 2 + (xx - center[1]) ** 2
        u = torch.exp(-r2 / w0 / w0)  # not w0**2: it overflows a float for w0 > 1e154
        norm = (u.abs() ** 2).sum() * grid.cell_area
        if not float(norm) > 0:
            raise ValueError(f"gaussian waist {w0!r} m at center {center!r} m leaves no power on {grid!r}: "
                             "the beam must overlap the grid by at least a few pixels")
        u = u / torch.sqrt(norm)
        return cls(u.to(dtype), grid, wavelength)

    # -- properties --------------------------------------------------------------------
    @property
    def batch_shape(self) -> torch.Size:
        return self.data.shape[:-2]

    @property
    def dtype(self) -> torch.dtype:
        return self.data.dtype

    @property
    def device(self) -> torch.device:
        return self.data.device

    @property
    def wavenumber(self) -> float:
        """k = 2π/λ in rad/m."""
        return 2 * math.pi / self.wavelength

    # -- physics -----------------------------------------------------------------------
    def intensity(self) -> torch.Tensor:
        """|u|², real tensor of shape ``(*batch, ny, nx)``."""
        return self.data.real**2 + self.data.imag**2

    def power(self) -> torch.Tensor:
        """Total power ∑|u|² · dy·dx (units of |u|² · m²), shape ``(*batch,)``."""
        return self.intensity().sum(dim=(-2, -1)) * self.grid.cell_area

    def phase(self) -> torch.Tensor:
        """arg(u) in radians, in (-π, π]."""
        return torch.angle(self.data)

    # -- utilities ---------------------------------------------------------------------
    def replace(self, **changes) -> "Field":
        """A copy with some of ``data``, ``grid``, ``wavelength`` replaced (validated)."""
        return dataclasses.replace(self, **changes)

    def to(self, *args, **kwargs) -> "Field":
        """``Field`` with ``data.to(*args, **kwargs)``; the dtype must stay complex."""
        return self.replace(data=self.data.to(*args, **kwargs))

    def check_finite(self) -> "Field":
        """Raise a ValueError if the data hold NaN or inf; returns self."""
        check_finite(self.data, "Field data")
        return self

    def __repr__(self) -> str:
        return (f"Field(batch_shape={tuple(self.batch_shape)}, grid={self.grid!r}, "
                f"wavelength={self.wavelength:.6g} m, dtype={self.dtype})")


def _check_grid(grid) -> None:
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an optics.Grid, got {type(grid).__name__}")


def _check_dtype(dtype) -> None:
    if dtype not in (torch.complex64, torch.complex128):
        raise TypeError(f"dtype must be torch.complex64 or torch.complex128, got {dtype!r}")


def as_complex(x: torch.Tensor) -> torch.Tensor:
    """Promote a real tensor to the matching complex dtype (float64 -> complex128)."""
    return x if x.is_complex() else x.to(complex_dtype_of(x.dtype))
