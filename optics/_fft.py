"""The FFT seam (DESIGN.md §8): all of optics transforms through these two functions.

Today they call ``torch.fft``; a faster CPU implementation (threaded FFTW/scipy wrapped as
an autograd Function whose backward is the adjoint transform) or a GPU one can replace them
here without touching the physics. Both act on the last two dimensions, unnormalised
forward / 1/N-normalised inverse (numpy's "backward" norm).
"""

from __future__ import annotations

import torch


def fft2(x: torch.Tensor, s: tuple[int, int] | None = None) -> torch.Tensor:
    """2-D forward DFT over the last two dims; ``s`` zero-pads (at the end) to that shape."""
    return torch.fft.fft2(x, s=s)


def ifft2(x: torch.Tensor) -> torch.Tensor:
    """2-D inverse DFT over the last two dims (1/N normalised)."""
    return torch.fft.ifft2(x)
