"""Intensity detection and detector regions.

A detector plane is read out as the integrated intensity ``E_r = Σ_pixels w_r |u|² dA``
over weighted regions ``w_r`` (Lin et al., Science 361, 1004 (2018): ten square regions on
the output plane, one per class). Regions are tensors ``(R, ny, nx)`` of bools (pixel in or
out) or non-negative floats (weights, e.g. fill factors).

Pixel membership of a square: a pixel belongs to the square of centre ``c`` and side ``s``
when its centre satisfies ``-s/2 ≤ p - c < s/2`` per axis (half-open, with a 1e-9-pixel
tolerance), so a square whose edges fall on pixel centres holds exactly ``s/d`` pixels per
axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._checks import positive_float
from ..field import Field
from ..grid import Grid

__all__ = ["intensity", "region_energies", "square_regions", "ten_region_layout"]


def intensity(x) -> torch.Tensor:
    """|u|² of a Field or a complex tensor (real, units of |u|²).

    Shape:
        ``(*batch, ny, nx) -> (*batch, ny, nx)``.
    """
    data = x.data if isinstance(x, Field) else x
    if not isinstance(data, torch.Tensor) or not data.is_complex():
        raise TypeError("intensity: x must be an optics.Field or a complex tensor, got "
                        f"{type(data).__name__ if not isinstance(data, torch.Tensor) else data.dtype}")
    return data.real**2 + data.imag**2


def _check_regions(regions, shape, fname: str) -> torch.Tensor:
    if not isinstance(regions, torch.Tensor):
        raise TypeError(f"{fname}: regions must be a tensor (R, ny, nx), got {type(regions).__name__}")
    if regions.dim() != 3 or tuple(regions.shape[-2:]) != tuple(shape):
        raise ValueError(f"{fname}: regions shape {tuple(regions.shape)} must be (R, ny, nx) with "
                         f"(ny, nx) = grid.shape {tuple(shape)}")
    if regions.is_complex():
        raise TypeError(f"{fname}: regions must be bool or real weights, got {regions.dtype}")
    return regions


def region_energies(x, regions: torch.Tensor, *, grid: Grid | None = None) -> torch.Tensor:
    """Integrated intensity in each detector region: ``E_r = Σ w_r(y, x) |u(y, x)|² dy dx``.

    One matrix product over the flattened pixels, ``|u|² (…, N) @ w (N, R)``.

    Args:
        x: a Field, or a complex tensor ``(*batch, ny, nx)`` with ``grid`` (for dA).
        regions: bool or real weights ``(R, ny, nx)``.
        grid: sampling of a tensor input (must match a Field's grid if given).

    Returns:
        Energies in units of |u|² · m².

    Shape:
        ``(*batch, ny, nx), (R, ny, nx) -> (*batch, R)``.
    """
    if isinstance(x, Field):
        if grid is not None and grid != x.grid:
            raise ValueError(f"region_energies: grid= {grid!r} differs from the Field's grid "
                             f"{x.grid!r}")
        grid, data = x.grid, x.data
    else:
        if grid is None:
            raise ValueError("region_energies: a tensor input needs grid= (for the pixel area)")
        if not isinstance(grid, Grid):
            raise TypeError(f"region_energies: grid must be an optics.Grid, got {type(grid).__name__}")
        data = x
        if not isinstance(data, torch.Tensor) or data.dim() < 2 or tuple(data.shape[-2:]) != grid.shape:
            shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
            raise ValueError(f"region_energies: input {shape} must be (*batch, ny, nx) with "
                             f"(ny, nx) = grid.shape {grid.shape}")
    regions = _check_regions(regions, grid.shape, "region_energies")
    inten = intensity(data)
    w = regions.to(device=inten.device, dtype=inten.dtype).reshape(regions.shape[0], -1)
    flat = inten.reshape(*inten.shape[:-2], -1)
    return (flat @ w.T) * grid.cell_area


def _squares_to_masks(grid: Grid, centers: torch.Tensor, sizes: tuple[float, float],
                      fname: str) -> torch.Tensor:
    sy, sx = sizes
    hy, hx = grid.extent[0] / 2, grid.extent[1] / 2
    eps_y, eps_x = 1e-9 * grid.dy, 1e-9 * grid.dx
    boxes = []
    for i, (cy, cx) in enumerate(centers.tolist()):
        y0, y1, x0, x1 = cy - sy / 2, cy + sy / 2, cx - sx / 2, cx + sx / 2
        if y0 < -hy - eps_y or y1 > hy + eps_y or x0 < -hx - eps_x or x1 > hx + eps_x:
            raise ValueError(
                f"{fname}: region {i} (centre (y, x) = ({cy:.6g}, {cx:.6g}) m, size "
                f"({sy:.6g}, {sx:.6g}) m) spans y [{y0:.6g}, {y1:.6g}], x [{x0:.6g}, {x1:.6g}] m "
                f"and falls outside the grid (y, x within ±({hy:.6g}, {hx:.6g}) m)")
        boxes.append((y0, y1, x0, x1))
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            if (min(a[1], b[1]) - max(a[0], b[0]) > eps_y
                    and min(a[3], b[3]) - max(a[2], b[2]) > eps_x):
                raise ValueError(
                    f"{fname}: regions {i} and {j} overlap (centres (y, x) = "
                    f"({centers[i, 0]:.6g}, {centers[i, 1]:.6g}) and "
                    f"({centers[j, 0]:.6g}, {centers[j, 1]:.6g}) m, size ({sy:.6g}, {sx:.6g}) m)")
    y, x = grid.coords(dtype=torch.float64)
    masks = []
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        my = (y >= y0 - eps_y) & (y < y1 - eps_y)
        mx = (x >= x0 - eps_x) & (x < x1 - eps_x)
        m = my[:, None] & mx[None, :]
        if not bool(m.any()):
            raise ValueError(f"{fname}: region {i} contains no pixel centre; make size ≥ the "
                             f"pitch {grid.pitch} m")
        masks.append(m)
    return torch.stack(masks)


def square_regions(grid: Grid, centers, size) -> torch.Tensor:
    """Boolean masks of square (or rectangular) detector regions.

    Args:
        grid: the detector-plane sampling.
        centers: ``(R, 2)`` centres ``(y, x)`` in metres (sequence or tensor).
        size: side length in metres, or ``(size_y, size_x)``.

    Returns:
        Bool tensor ``(R, ny, nx)``.

    Raises:
        ValueError: naming the region(s) that fall outside the grid, overlap, or hold no pixel.
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"square_regions: grid must be an optics.Grid, got {type(grid).__name__}")
    c = torch.as_tensor(centers, dtype=torch.float64)
    if c.dim() != 2 or c.shape[1] != 2 or c.shape[0] < 1:
        raise ValueError(f"square_regions: centers must be (R, 2) pairs (y, x) in metres, got "
                         f"shape {tuple(c.shape)}")
    if not bool(torch.isfinite(c).all()):
        raise ValueError("square_regions: centers must be finite")
    if isinstance(size, Sequence) and not isinstance(size, str):
        if len(size) != 2:
            raise ValueError(f"square_regions: size must be a float or (size_y, size_x), got {size!r}")
        sizes = (positive_float(size[0], "region size_y"), positive_float(size[1], "region size_x"))
    else:
        s = positive_float(size, "region size")
        sizes = (s, s)
    return _squares_to_masks(grid, c, sizes, "square_regions")


def ten_region_layout(grid: Grid, *, size: float, spacing: float | None = None):
    """The standard ten square detectors of a diffractive classifier, rows of 3-4-3.

    Lin et al., Science 361, 1004 (2018), Fig. 2: ten detector squares on the output plane
    in three rows (3, 4, 3), centred on the optical axis. Rows are ``spacing`` apart in y
    (at y = -spacing, 0, +spacing); within a row neighbours are ``spacing`` apart in x, the
    3-rows at x = -spacing, 0, +spacing and the 4-row at x = ±spacing/2, ±3·spacing/2.

    Class order: row by row from the smallest row index (y = -spacing, the top of an image
    shown with row 0 at the top), left to right (increasing x): classes 0-2 first row,
    3-6 middle row, 7-9 last row.

    Args:
        grid: the detector-plane sampling.
        size: side length of every square in metres.
        spacing: centre-to-centre distance in metres (default ``2 * size``); must be
            ≥ ``size`` (at equality neighbouring squares abut).

    Returns:
        ``(regions, centers)``: bool ``(10, ny, nx)`` and float64 ``(10, 2)`` centres (y, x) m.
    """
    size = positive_float(size, "detector size")
    spacing = 2 * size if spacing is None else positive_float(spacing, "detector spacing")
    rows = ((-spacing, (-1.0, 0.0, 1.0)), (0.0, (-1.5, -0.5, 0.5, 1.5)), (spacing, (-1.0, 0.0, 1.0)))
    centers = [(cy, k * spacing) for cy, ks in rows for k in ks]
    c = torch.tensor(centers, dtype=torch.float64)
    return _squares_to_masks(grid, c, (size, size), "ten_region_layout"), c
