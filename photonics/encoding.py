"""Input encoders that turn images into complex mode vectors for MZI meshes."""

from __future__ import annotations

import torch
from torch import nn

from optics._deprecation import renamed

__all__ = ["encode_fourier_crop", "FourierCropEncoder", "fourier_crop_encode"]


def encode_fourier_crop(images: torch.Tensor, size: int = 8, *, eps: float = 1e-12) -> torch.Tensor:
    """Fourier-crop encoder of Zheng et al. (Nat. Mach. Intell. 5 (2023)); docs/references.md#dat.

    ``F = fftshift(fft2(image))`` (DC at index ``H // 2, W // 2``), keep the central
    ``size × size`` block, rows/cols ``H//2 - size//2 .. H//2 - size//2 + size - 1`` (for
    28×28 and size 8: 10..17, DC included), flatten row-major and scale each sample to
    mean ``|x| = 1``.

    Args:
        images: real tensor ``(..., H, W)`` (e.g. grey values in [0, 1]); uint8 grey values
            are divided by 255 into float32 first.
        size: side of the kept block; ``size²`` modes.
        eps: guard for all-zero images (they encode to zeros).

    Returns:
        complex tensor ``(..., size²)`` (complex128 for float64 images, else complex64).

    Shape:
        ``(..., H, W) -> (..., size**2)``.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype == torch.uint8:
        images = images.to(torch.float32) / 255.0
    if images.is_complex() or not images.is_floating_point():
        raise TypeError(f"images must be a real floating tensor (..., H, W), got {images.dtype}")
    if images.dim() < 2:
        raise ValueError(f"images must be (..., H, W), got shape {tuple(images.shape)}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    h, w = images.shape[-2:]
    if size > min(h, w):
        raise ValueError(f"crop size {size} exceeds the image size {h}×{w}")
    spec = torch.fft.fftshift(torch.fft.fft2(images), dim=(-2, -1))
    r0, c0 = h // 2 - size // 2, w // 2 - size // 2
    x = spec[..., r0 : r0 + size, c0 : c0 + size].flatten(-2)
    return x / x.abs().mean(dim=-1, keepdim=True).clamp_min(eps)


fourier_crop_encode = renamed(encode_fourier_crop, "photonics.fourier_crop_encode", "photonics.encode_fourier_crop")


class FourierCropEncoder(nn.Module):
    """Module form of :func:`encode_fourier_crop` (no parameters).

    Shape:
        ``(..., H, W) -> (..., size**2)``.
    """

    def __init__(self, size: int = 8):
        super().__init__()
        self.size = size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return encode_fourier_crop(images, self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}"
