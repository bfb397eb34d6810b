"""File writers for a :class:`hardware.export.HeightMap` (docs/export.md).

* HDF5 (always): heights, level indices, implied phase and amplitude, with units and the
  material, pitch and wavelength as attributes; schema ``onnsim.export/1``.
* PNG: one 16-bit greyscale height map per layer, scaled to the full 0 … 65535 range, plus a
  JSON sidecar with the scale (metres per pixel, metres per grey count, height at count 0, the
  number of levels and the counts per level).
* CSV: one file per layer, heights in µm, one row per pixel row.
* STL (binary, millimetres): one printable plate per layer, each pixel a square column on a
  base plate; a closed, consistently oriented surface.
* GDSII (needs ``gdstk``): one cell per layer, one GDS layer per quantization level; the
  pixels of one level are merged into polygons (one per connected region), units µm.

Pixel (row i, column j) covers x ∈ [j, j+1)·pitch, y ∈ [ny − 1 − i, ny − i)·pitch, so row 0 is
at the top when the plate or mask is viewed from +z (as in the PNG).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import torch

from .export import HeightMap
from .materials import Material

__all__ = ["SCHEMA", "write_hdf5", "read_hdf5", "write_png16", "read_png16", "write_csv", "write_stl",
           "stl_triangles", "write_gds", "level_rectangles"]

SCHEMA = "onnsim.export/1"


@contextmanager
def _naming_path(path, action: str):
    """Re-raise I/O errors of h5py, gdstk and PIL (which often omit it) with the path."""
    try:
        yield
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        if str(path) in str(exc):
            raise
        kind = type(exc) if isinstance(exc, OSError) else ValueError
        raise kind(f"cannot {action} {os.fspath(path)!r}: {exc}") from exc


def write_hdf5(hmap: HeightMap, path: Path, *, attrs: dict | None = None) -> Path:
    """All layers in one file; datasets carry a ``units`` attribute."""
    path = Path(path)
    with _naming_path(path, "write HDF5 file"), h5py.File(path, "w") as f:
        f.attrs.update({"schema": SCHEMA, "pitch_m": hmap.pitch, "wavelength_m": hmap.wavelength,
                        "levels": -1 if hmap.levels is None else hmap.levels, "base_thickness_m": hmap.base_thickness,
                        "material": json.dumps(hmap.material.to_dict()), "height_per_2pi_m": hmap.period,
                        "axes": "layer, row (y, top first), column (x)"})
        for k, v in (attrs or {}).items():
            f.attrs[k] = json.dumps(v) if isinstance(v, (dict, list)) else v
        for name, arr, units in (("height", hmap.height, "m (total thickness, base included)"),
                                 ("level", hmap.level, "1 (level index, −1 = not quantized)"),
                                 ("phase", hmap.phase(), "rad (relief phase delay at the design wavelength)"),
                                 ("amplitude_transmission", hmap.amplitude(), "1 (exp(−2πκh/λ))")):
            f.create_dataset(name, data=arr.cpu().numpy()).attrs["units"] = units
    return path


def read_hdf5(path: Path) -> HeightMap:
    """Read a file written by :func:`write_hdf5`."""
    with _naming_path(path, "read HDF5 file"), h5py.File(path, "r") as f:
        if f.attrs.get("schema") != SCHEMA:
            raise ValueError(f"{path} is not an onnsim export (schema {f.attrs.get('schema')!r}, expected {SCHEMA!r})")
        m = json.loads(f.attrs["material"])
        mat = Material(m["name"], m["refractive_index"], m["extinction"], m["wavelength_m"], m["source"])
        levels = int(f.attrs["levels"])
        return HeightMap(torch.from_numpy(f["height"][()]), torch.from_numpy(f["level"][()]),
                         None if levels < 0 else levels, float(f.attrs["pitch_m"]), float(f.attrs["wavelength_m"]),
                         mat, float(f.attrs["base_thickness_m"]))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png16(img: np.ndarray) -> bytes:
    """A 16-bit greyscale PNG (ISO/IEC 15948: IHDR bit depth 16, colour type 0, filter 0 rows)."""
    ny, nx = img.shape
    rows = np.zeros((ny, 1 + 2 * nx), np.uint8)
    rows[:, 1:] = img.astype(">u2").view(np.uint8).reshape(ny, 2 * nx)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", nx, ny, 16, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + _png_chunk(b"IEND", b""))


def write_png16(hmap: HeightMap, directory: Path, *, stem: str = "height") -> list[Path]:
    """``{stem}_layer{l}.png`` (16-bit) + ``.json`` sidecar per layer.

    The image uses the full 16-bit range: count g maps to height ``height_at_zero_m +
    g·m_per_count``. With N quantization levels, level k is stored as count
    ``round(k·65535/(N − 1))`` (the lowest level 0, the highest 65535; ``counts_per_level`` =
    65535/(N − 1), so ``level = round(g / counts_per_level)``) and the heights read back lie
    within half a count, ``m_per_count/2``, of the quantized heights. Continuous heights spread
    the relief [0, λ/(n − 1)] over 0 … 65535.
    """
    directory = Path(directory)
    written = []
    if hmap.levels is not None:
        counts_per_level = 65535 / (hmap.levels - 1)
        m_per_count = hmap.step / counts_per_level
        grey = torch.round(hmap.level.clamp_min(0).double() * counts_per_level).long()
    else:
        counts_per_level = None
        m_per_count = hmap.period / 65535
        grey = torch.round(hmap.relief / m_per_count).clamp(0, 65535).long()
    for i in range(hmap.height.shape[0]):
        png = directory / f"{stem}_layer{i}.png"
        png.write_bytes(_png16(grey[i].cpu().numpy().astype(np.uint16)))
        side = png.with_suffix(".json")
        side.write_text(json.dumps({
            "schema": SCHEMA, "image": png.name, "layer": i, "bit_depth": 16, "m_per_pixel": hmap.pitch,
            "m_per_count": m_per_count, "height_at_zero_m": hmap.base_thickness, "levels": hmap.levels,
            "counts_per_level": counts_per_level, "m_per_level": hmap.step,
            "wavelength_m": hmap.wavelength, "material": hmap.material.to_dict(),
            "note": "height (m) = height_at_zero_m + count * m_per_count; quantized: level = "
                    "round(count / counts_per_level), m_per_level apart; row 0 is the top (+y) edge"}, indent=1))
        written += [png, side]
    return written


def read_png16(png: Path) -> torch.Tensor:
    """Heights (m) ``(ny, nx)`` from a PNG written by :func:`write_png16` and its sidecar."""
    from PIL import Image

    with _naming_path(png, "read PNG height map (and its .json sidecar)"):
        meta = json.loads(Path(png).with_suffix(".json").read_text())
        grey = np.asarray(Image.open(png)).astype(np.float64)
    return torch.from_numpy(meta["height_at_zero_m"] + grey * meta["m_per_count"])


def write_csv(hmap: HeightMap, directory: Path, *, stem: str = "height") -> list[Path]:
    """``{stem}_layer{l}.csv``: total heights in µm, rows top first; ``#`` header lines give the scale."""
    written = []
    for i in range(hmap.height.shape[0]):
        path = Path(directory) / f"{stem}_layer{i}.csv"
        header = (f"onnsim export layer {i}: total height in um (base {hmap.base_thickness * 1e6:.6g} um included), "
                  f"pixel pitch {hmap.pitch * 1e6:.6g} um, wavelength {hmap.wavelength * 1e6:.6g} um, "
                  f"material {hmap.material.name} (n={hmap.material.refractive_index}, "
                  f"kappa={hmap.material.extinction}), levels {hmap.levels}; row 0 = top")
        np.savetxt(path, hmap.height[i].cpu().numpy() * 1e6, fmt="%.6f", delimiter=",", header=header)
        written.append(path)
    return written


def stl_triangles(top: np.ndarray, pitch: float) -> np.ndarray:
    """Triangles ``(T, 3, 3)`` of a plate whose pixel (i, j) is a column of height ``top[i, j]`` > 0.

    Faces: a square top per pixel, a square bottom per pixel at z = 0, and vertical walls
    wherever neighbouring columns (or the outside, height 0) differ. Each wall's vertical edges
    are split at every column height meeting at that corner, so walls, tops and bottoms share
    whole edges (no T-junctions): every edge is used equally often in both directions.
    """
    top = np.asarray(top, np.float64)
    if top.ndim != 2 or not np.all(np.isfinite(top)) or np.any(top <= 0):
        raise ValueError("STL column heights must be a finite 2-D array > 0 (use a base thickness > 0)")
    ny, nx = top.shape
    p = np.pad(top, 1)  # outside = 0
    tris, normals = [], []

    def xy(i, j):  # corner (row line i, column line j) → (x, y)
        return j * pitch, (ny - i) * pitch

    def corner_z(i, j):
        return np.unique(p[i:i + 2, j:j + 2])  # includes 0 on the boundary

    def add(a, b, c, nrm):
        tris.append((a, b, c))
        normals.append(nrm)

    for i in range(ny):
        for j in range(nx):
            (x0, y1), (x1, y0) = xy(i, j), xy(i + 1, j + 1)
            z = top[i, j]
            add((x0, y0, z), (x1, y0, z), (x1, y1, z), (0, 0, 1))
            add((x0, y0, z), (x1, y1, z), (x0, y1, z), (0, 0, 1))
            add((x0, y0, 0), (x1, y1, 0), (x1, y0, 0), (0, 0, -1))
            add((x0, y0, 0), (x0, y1, 0), (x1, y1, 0), (0, 0, -1))

    def wall(ca, cb, ha, hb, nrm):
        lo, hi = min(ha, hb), max(ha, hb)
        za, zb = [z for z in corner_z(*ca) if lo <= z <= hi], [z for z in corner_z(*cb) if lo <= z <= hi]
        (xa, ya), (xb, yb) = xy(*ca), xy(*cb)
        a, b = 0, 0
        while a < len(za) - 1 or b < len(zb) - 1:
            if a < len(za) - 1 and (b == len(zb) - 1 or za[a + 1] <= zb[b + 1]):
                add((xa, ya, za[a]), (xa, ya, za[a + 1]), (xb, yb, zb[b]), nrm)
                a += 1
            else:
                add((xa, ya, za[a]), (xb, yb, zb[b + 1]), (xb, yb, zb[b]), nrm)
                b += 1

    for i in range(ny):  # walls on vertical grid lines x = j·pitch, between p[i+1, j] and p[i+1, j+1]
        for j in range(nx + 1):
            left, right = p[i + 1, j], p[i + 1, j + 1]
            if left != right:
                wall((i, j), (i + 1, j), left, right, (1 if left > right else -1, 0, 0))
    for i in range(ny + 1):  # walls on horizontal grid lines, between p[i, j+1] (above, +y) and p[i+1, j+1]
        for j in range(nx):
            up, down = p[i, j + 1], p[i + 1, j + 1]
            if up != down:
                wall((i, j), (i, j + 1), up, down, (0, -1 if up > down else 1, 0))
    t = np.asarray(tris, np.float64)
    n = np.asarray(normals, np.float64)
    flip = np.einsum("ij,ij->i", np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), n) < 0
    t[flip] = t[flip][:, ::-1]  # counter-clockwise seen from outside
    return t


def write_stl(hmap: HeightMap, directory: Path, *, stem: str = "plate") -> list[Path]:
    """Binary STL per layer, coordinates in **millimetres** (stated in the 80-byte header)."""
    if hmap.base_thickness <= 0:
        raise ValueError("an STL plate needs a base thickness > 0 (export with base_thickness > 0, "
                         "e.g. --base-thickness-mm 0.5)")
    written = []
    for i in range(hmap.height.shape[0]):
        t = stl_triangles(hmap.height[i].cpu().numpy() * 1e3, hmap.pitch * 1e3).astype(np.float32)
        nrm = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
        nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
        rec = np.zeros(len(t), dtype=[("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attr", "<u2")])
        rec["normal"], rec["vertices"] = nrm, t
        header = f"onnsim plate layer {i}; units mm; pitch {hmap.pitch * 1e3:.6g} mm".encode()[:80].ljust(80, b" ")
        path = Path(directory) / f"{stem}_layer{i}.stl"
        path.write_bytes(header + struct.pack("<I", len(t)) + rec.tobytes())
        written.append(path)
    return written


def level_rectangles(level: np.ndarray, k: int) -> list[tuple[int, int, int, int]]:
    """Rectangles ``(r0, r1, c0, c1)`` (pixel rows ``r0 ≤ r < r1``, columns ``c0 ≤ c < c1``) that
    tile exactly the pixels where ``level == k``, without overlap: maximal runs along each row,
    and runs with the same column span in consecutive rows stacked into one rectangle."""
    mask = np.asarray(level) == k
    ny, nx = mask.shape
    edges = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    rects, open_runs = [], {}  # (c0, c1) -> first row of the rectangle growing downwards
    for r in range(ny):
        runs = set(zip(np.flatnonzero(edges[r] == 1).tolist(), np.flatnonzero(edges[r] == -1).tolist()))
        for span in [s for s in open_runs if s not in runs]:
            rects.append((open_runs.pop(span), r, *span))
        for span in runs:
            open_runs.setdefault(span, r)
    rects += [(r0, ny, *span) for span, r0 in open_runs.items()]
    return sorted(rects)


def write_gds(hmap: HeightMap, path: Path) -> Path:
    """GDSII (µm units, 1 nm precision): cell ``LAYER{l}`` per layer, GDS layer k = level k.

    The pixels of each level are merged (:func:`level_rectangles`, then a boolean union) into
    one polygon per connected region; a region with holes is one polygon whose boundary reaches
    each hole along a zero-width cut, as GDSII has no holes. The area per level is exact.
    """
    try:
        import gdstk
    except ImportError as exc:
        raise ImportError("GDSII export needs gdstk: pip install gdstk (or pip install 'onnsim[gds]')") from exc
    if hmap.levels is None:
        raise ValueError("GDSII export needs a quantized design (levels ≥ 2): one GDS layer per level")
    lib = gdstk.Library(unit=1e-6, precision=1e-9)
    p = hmap.pitch * 1e6
    for i in range(hmap.level.shape[0]):
        cell = lib.new_cell(f"LAYER{i}")
        lev = hmap.level[i].cpu().numpy()
        ny = lev.shape[0]
        for k in np.unique(lev).tolist():
            rects = [gdstk.rectangle((c0 * p, (ny - r1) * p), (c1 * p, (ny - r0) * p))
                     for r0, r1, c0, c1 in level_rectangles(lev, k)]
            cell.add(*gdstk.boolean(rects, [], "or", precision=1e-3, layer=int(k), datatype=0))
    with _naming_path(path, "write GDSII file"):
        lib.write_gds(str(path))
    return Path(path)
