"""Fourier-crop input encoder (Zheng et al. 2023)."""

import numpy as np
import pytest
import torch

from photonics import FourierCropEncoder, encode_fourier_crop


def test_matches_numpy_reference_on_28x28():
    img = torch.rand(3, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = encode_fourier_crop(img)
    spec = np.fft.fftshift(np.fft.fft2(img.numpy()), axes=(-2, -1))
    crop = spec[:, 10:18, 10:18].reshape(3, 64)  # rows/cols 10..17, row-major
    crop = crop / np.abs(crop).mean(-1, keepdims=True)
    assert x.shape == (3, 64) and x.dtype == torch.complex128
    np.testing.assert_allclose(x.numpy(), crop, atol=1e-12)
    np.testing.assert_allclose(x.abs().mean(-1).numpy(), 1.0, atol=1e-12)


def test_dc_sits_at_row_4_col_4_of_the_crop():
    x = FourierCropEncoder()(torch.ones(28, 28))  # a constant image has only a DC component
    assert x.dtype == torch.complex64
    assert x.abs().argmax().item() == 4 * 8 + 4
    assert x.abs().sum().item() == pytest.approx(64, rel=1e-5)


def test_bad_images():
    with pytest.raises(TypeError, match="real"):
        encode_fourier_crop(torch.ones(28, 28, dtype=torch.complex64))
    with pytest.raises(ValueError, match="exceeds"):
        encode_fourier_crop(torch.ones(6, 6), 8)
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W\)"):
        encode_fourier_crop(torch.ones(28))
    assert torch.equal(encode_fourier_crop(torch.zeros(28, 28)), torch.zeros(64, dtype=torch.complex64))
