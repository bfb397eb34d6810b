"""Image transforms and input encodings for photonic networks.

Images are tensors ``(..., H, W)`` indexed ``[y, x]``: uint8 grey values 0..255 as loaded
by :func:`training.load_dataset`, or floating grey values in [0, 1] after :func:`to_float`.

- free-space (diffractive) inputs: :func:`encode_amplitude` puts the grey value in the
  field amplitude, :func:`encode_phase` in its phase (docs/references.md#diffusers, #d2nn); both resize
  the image (optional) and centre it on the optical grid with zero padding;
- mesh (interference) inputs: :func:`encode_fourier_crop`, the Fourier-crop encoder of
  Zheng et al. 2023 (:func:`photonics.encode_fourier_crop`, re-exported here beside the other
  ``encode_*`` functions).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch
import torch.nn.functional as F

from optics import Field, Grid
from optics._deprecation import renamed
from photonics import encode_fourier_crop

__all__ = ["to_float", "resize", "pad_to", "encode_amplitude", "encode_phase", "encode_fourier_crop", "fourier_crop"]


def _check_images(images, name: str = "images") -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (..., H, W), got {type(images).__name__}")
    if images.dim() < 2:
        raise ValueError(f"{name} must be (..., H, W), got shape {tuple(images.shape)}")


def _size_pair(size, name: str) -> tuple[int, int]:
    pair = tuple(size) if isinstance(size, (tuple, list, torch.Size)) else (size, size)
    if len(pair) != 2 or any(isinstance(n, bool) or not isinstance(n, Integral) or n < 1 for n in pair):
        raise ValueError(f"{name} must be a positive int or a pair (height, width) of them, got {size!r}")
    return int(pair[0]), int(pair[1])


def to_float(images: torch.Tensor) -> torch.Tensor:
    """Grey values as floats in [0, 1].

    Args:
        images: uint8 ``(..., H, W)`` (divided by 255 into float32), or a floating tensor,
            assumed already in [0, 1] and returned unchanged (float64 stays float64).

    Shape:
        ``(..., H, W) -> (..., H, W)``.
    """
    _check_images(images)
    if images.dtype == torch.uint8:
        return images.to(torch.float32) / 255.0
    if images.is_floating_point():
        return images
    raise TypeError(f"images must be uint8 (0..255) or floating ([0, 1]), got {images.dtype}")


def resize(images: torch.Tensor, size) -> torch.Tensor:
    """Bilinear resampling of the last two dimensions.

    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)``:
    pixel centres map to pixel centres (half-pixel convention), and no low-pass filter is
    applied, which is what Luo et al. 2022 mean by "28 -> 160 bilinear" (upsampling, where
    anti-aliasing would make no difference). Downsampling by large factors aliases.

    Args:
        images: floating ``(..., H, W)`` (uint8 is converted by :func:`to_float` first).
        size: ``(height, width)`` in pixels, or one int for a square.

    Shape:
        ``(..., H, W) -> (..., height, width)``.
    """
    images = to_float(images)
    out = _size_pair(size, "size")
    if tuple(images.shape[-2:]) == out:
        return images
    batch = images.shape[:-2]
    flat = images.reshape(-1, 1, *images.shape[-2:])
    flat = F.interpolate(flat, size=out, mode="bilinear", align_corners=False, antialias=False)
    return flat.reshape(*batch, *out)


def pad_to(images: torch.Tensor, shape) -> torch.Tensor:
    """Centre images in a larger frame of zeros.

    The image is placed ``(ny - H) // 2`` rows from the top and ``(nx - W) // 2`` columns
    from the left. With an even margin its centre coincides with the grid centre (the
    optical axis of :class:`optics.Grid`); with an odd margin it sits half a pixel towards
    -y / -x.

    Args:
        images: ``(..., H, W)`` of any dtype.
        shape: ``(ny, nx)`` target size in pixels, at least ``(H, W)``.

    Shape:
        ``(..., H, W) -> (..., ny, nx)``.
    """
    _check_images(images)
    ny, nx = _size_pair(shape, "shape")
    h, w = images.shape[-2:]
    if h > ny or w > nx:
        raise ValueError(f"cannot pad images of size {h}×{w} to {ny}×{nx}: the target must be at "
                         f"least as large in both dimensions (resize first)")
    top, left = (ny - h) // 2, (nx - w) // 2
    return F.pad(images, (left, nx - w - left, top, ny - h - top))


def _on_grid(images: torch.Tensor, grid: Grid, size_px) -> torch.Tensor:
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an optics.Grid, got {type(grid).__name__}")
    images = to_float(images)
    if size_px is not None:
        images = resize(images, size_px)
    return pad_to(images, grid.shape)


def _complex_dtype(images: torch.Tensor, dtype):
    if dtype is None:
        return torch.complex128 if images.dtype == torch.float64 else torch.complex64
    if dtype not in (torch.complex64, torch.complex128):
        raise TypeError(f"dtype must be torch.complex64 or torch.complex128, got {dtype}")
    return dtype


def encode_amplitude(images: torch.Tensor, grid: Grid, wavelength: float, *, size_px=None,
                     dtype=None) -> Field:
    """Amplitude encoding: the grey value is the field amplitude, phase zero (Luo et al. 2022).

    The image is converted by :func:`to_float`, optionally resized to ``size_px``
    (:func:`resize`), then centred on the grid with zeros around it (:func:`pad_to`).
    Example (§C): 28×28 digits, ``size_px=160`` on a 240×240 grid of 0.3 mm pitch. The field
    power is ``Σ a² · dy · dx`` with ``a`` the resized grey values.

    Args:
        images: ``(..., H, W)`` uint8 or floating in [0, 1].
        grid: the input plane; its shape must hold the (resized) image.
        wavelength: vacuum wavelength in metres.
        size_px: ``(height, width)`` or int, the image size on the grid in pixels; None
            keeps the image size (one image pixel per grid pixel).
        dtype: complex dtype; default complex128 for float64 images, else complex64.

    Returns:
        :class:`optics.Field` with data ``(..., ny, nx)``.
    """
    a = _on_grid(images, grid, size_px)
    return Field(a.to(_complex_dtype(a, dtype)), grid, wavelength)


def encode_phase(images: torch.Tensor, grid: Grid, wavelength: float, *, size_px=None,
                 max_phase: float = math.pi, dtype=None) -> Field:
    """Phase encoding: ``u = exp(i · max_phase · x)`` with ``x`` the grey value in [0, 1].

    Resizing and centring as in :func:`encode_amplitude`. The field has unit modulus on the
    whole grid: the zero padding becomes phase 0, i.e. a phase object in a plane wave.

    Args:
        images: ``(..., H, W)`` uint8 or floating in [0, 1].
        grid: the input plane.
        wavelength: vacuum wavelength in metres.
        size_px: image size on the grid in pixels (see :func:`encode_amplitude`).
        max_phase: phase of a white pixel in radians (default π).
        dtype: complex dtype; default complex128 for float64 images, else complex64.

    Returns:
        :class:`optics.Field` with data ``(..., ny, nx)``, ``|data| = 1``.
    """
    if isinstance(max_phase, bool) or not isinstance(max_phase, Real) or not math.isfinite(max_phase):
        raise ValueError(f"max_phase must be a finite real number in radians, got {max_phase!r}")
    x = _on_grid(images, grid, size_px)
    cdtype = _complex_dtype(x, dtype)
    real = torch.float64 if cdtype == torch.complex128 else torch.float32
    return Field(torch.polar(torch.ones_like(x, dtype=real), float(max_phase) * x.to(real)), grid, wavelength)


fourier_crop = renamed(encode_fourier_crop, "training.fourier_crop", "training.encode_fourier_crop")
