"""Sampling grids of transverse planes.

A :class:`Grid` is a frozen, hashable description of how a plane is sampled: ``shape``
``(ny, nx)`` pixels at ``pitch`` ``(dy, dx)`` metres. Arrays on a grid are indexed
``[y, x]`` (rows are y). Coordinates are pixel centres, symmetric about the optical axis:

    y_j = (j - (ny - 1) / 2) * dy,   x_i = (i - (nx - 1) / 2) * dx

so a centred aperture is symmetric on any grid (for even sizes no pixel sits on the axis).
Spatial frequencies follow ``torch.fft.fftfreq`` order (unshifted) in cycles per metre.
Being hashable, a Grid keys transfer-function caches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

import torch

from ._checks import check_memory, positive_float


def _pair(value, name: str):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be one value or a pair (y, x), got {value!r}")
        return tuple(value)
    return (value, value)


@dataclass(frozen=True)
class Grid:
    """A sampled transverse plane.

    Args:
        shape: ``(ny, nx)`` number of pixels (an int means square).
        pitch: ``(dy, dx)`` pixel pitch in metres (a float means square pixels).
    """

    shape: tuple[int, int]
    pitch: tuple[float, float]

    def __post_init__(self):
        shape = _pair(self.shape, "Grid shape")
        for n in shape:
            if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
                raise ValueError(f"Grid shape must be positive integers (ny, nx), got {self.shape!r}")
        pitch = tuple(positive_float(p, "Grid pitch") for p in _pair(self.pitch, "Grid pitch"))
        object.__setattr__(self, "shape", (int(shape[0]), int(shape[1])))
        object.__setattr__(self, "pitch", pitch)

    # -- sizes -------------------------------------------------------------------------
    @property
    def ny(self) -> int:
        return self.shape[0]

    @property
    def nx(self) -> int:
        return self.shape[1]

    @property
    def dy(self) -> float:
        """Pixel pitch along y in metres."""
        return self.pitch[0]

    @property
    def dx(self) -> float:
        """Pixel pitch along x in metres."""
        return self.pitch[1]

    @property
    def extent(self) -> tuple[float, float]:
        """Physical size ``(ny * dy, nx * dx)`` in metres."""
        return (self.ny * self.dy, self.nx * self.dx)

    @property
    def cell_area(self) -> float:
        """Area of one pixel ``dy * dx`` in m²."""
        return self.dy * self.dx

    @property
    def nyquist(self) -> tuple[float, float]:
        """Nyquist frequencies ``(1/(2 dy), 1/(2 dx))`` in cycles per metre."""
        return (0.5 / self.dy, 0.5 / self.dx)

    # -- coordinates -------------------------------------------------------------------
    def coords(self, *, dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel-centre coordinates ``(y, x)`` in metres, shapes ``(ny,)`` and ``(nx,)``."""
        y = (torch.arange(self.ny, dtype=dtype, device=device) - (self.ny - 1) / 2) * self.dy
        x = (torch.arange(self.nx, dtype=dtype, device=device) - (self.nx - 1) / 2) * self.dx
        return y, x

    def meshgrid(self, *, dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """2-D coordinates ``(Y, X)`` in metres, each shaped ``(ny, nx)``.

        Raises a MemoryError up front when a few complex arrays of this grid (what any caller
        builds from the coordinates) would not fit in the memory available.
        """
        self.check_memory(device=device)
        y, x = self.coords(dtype=dtype, device=device)
        return torch.meshgrid(y, x, indexing="ij")

    def radius(self, *, dtype=torch.float64, device=None) -> torch.Tensor:
        """Distance from the optical axis in metres, shape ``(ny, nx)``."""
        yy, xx = self.meshgrid(dtype=dtype, device=device)
        return torch.sqrt(yy**2 + xx**2)

    def freqs(self, *, dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Spatial frequencies ``(fy, fx)`` in cycles/m, FFT order, shapes ``(ny,)``, ``(nx,)``."""
        fy = torch.fft.fftfreq(self.ny, d=self.dy, dtype=dtype, device=device)
        fx = torch.fft.fftfreq(self.nx, d=self.dx, dtype=dtype, device=device)
        return fy, fx

    def check_memory(self, shape=None, *, arrays: int = 6, itemsize: int = 16, device=None) -> None:
        """MemoryError (stating the estimate and the memory available) when ``arrays`` arrays of
        ``shape`` (default: this grid's) with ``itemsize`` bytes per element do not fit."""
        ny, nx = self.shape if shape is None else shape
        check_memory(arrays * itemsize * ny * nx, f"a {ny}×{nx} grid ({arrays} arrays of {itemsize} bytes per pixel)",
                     device)

    # -- derived grids -----------------------------------------------------------------
    def padded_shape(self, pad_factor: float) -> tuple[int, int]:
        """Shape after zero padding by ``pad_factor`` (≥ 1) per axis, rounded up.

        An axis of one sample is not padded: a ``(1, nx)`` grid is a 1-D problem (the field is
        invariant along y), whose only y frequency is 0. Padding it would instead model a
        strip one pitch tall and hand half its power to the Nyquist row.
        """
        if isinstance(pad_factor, bool) or not isinstance(pad_factor, (int, float)) or not (
            math.isfinite(pad_factor) and pad_factor >= 1
        ):
            raise ValueError(f"pad_factor must be a finite number ≥ 1, got {pad_factor!r}")
        return tuple(n if n == 1 else int(math.ceil(n * pad_factor - 1e-9)) for n in (self.ny, self.nx))

    def with_shape(self, shape) -> "Grid":
        """Same pitch, another shape."""
        return Grid(shape, self.pitch)

    def __repr__(self) -> str:
        return f"Grid(shape={self.shape}, pitch=({self.dy:.4g}, {self.dx:.4g}) m)"
