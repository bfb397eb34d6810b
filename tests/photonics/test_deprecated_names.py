"""Renamed API (docs/design.md#deprecations): each old name still works for one release, behaves
exactly as the new one and warns with one line that names the new one."""

import warnings

import pytest
import torch

import photonics
import training
from photonics import ClementsMesh, MeshNetwork, ReckMesh, encode_fourier_crop


def _one_warning(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1, [str(w.message) for w in caught]
    msg = str(deprecations[0].message)
    assert "\n" not in msg
    assert deprecations[0].filename == __file__  # points at the caller's line
    return out, msg


def _images():
    return torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("alias, new", [(photonics.fourier_crop_encode, "photonics.encode_fourier_crop"),
                                        (training.fourier_crop, "training.encode_fourier_crop")])
def test_fourier_crop_aliases(alias, new):
    x = _images().float() / 255
    out, msg = _one_warning(alias, x, 8)
    assert new in msg
    assert torch.equal(out, encode_fourier_crop(x, 8))
    assert training.encode_fourier_crop is photonics.encode_fourier_crop  # one function, one name


def test_fourier_crop_alias_matches_the_old_uint8_path():
    """training.fourier_crop took uint8 images (÷255 first); the new name does the same."""
    x = _images()
    out, _ = _one_warning(training.fourier_crop, x)
    assert torch.equal(out, encode_fourier_crop(x.to(torch.float32) / 255.0))


@pytest.mark.parametrize("cls", [ClementsMesh, ReckMesh])
def test_mesh_n_keyword_and_attribute(cls):
    new = cls(n_modes=6, generator=torch.Generator().manual_seed(1))
    old, msg = _one_warning(cls, n=6, generator=torch.Generator().manual_seed(1))
    assert f"{cls.__name__}(n_modes=...)" in msg
    assert torch.equal(old.matrix(), new.matrix()) and old.n_modes == new.n_modes == 6
    n, msg = _one_warning(getattr, new, "n")
    assert n == 6 and "n_modes" in msg
    with pytest.raises(TypeError, match="n_modes"):
        cls(6, n=6)
    with pytest.raises(TypeError, match="n_modes"):
        cls()


def test_forward_with_errors_alias():
    g = torch.Generator().manual_seed(2)
    net = MeshNetwork(n_modes=16, n_meshes=2, generator=g)
    errors = [photonics.sample_mesh_errors(m, bs_sigma=0.05, ps_sigma=0.05, generator=g) for m in net.meshes]
    x = torch.randn(5, 16, dtype=torch.complex64, generator=g)
    (old, old_taps), msg = _one_warning(net.forward_with_errors, x, errors, return_intermediates=True)
    new, new_taps = net.port_intensities(x, errors, return_intermediates=True)
    assert "MeshNetwork.port_intensities" in msg
    assert torch.equal(old, new) and all(torch.equal(a, b) for a, b in zip(old_taps, new_taps))


def test_new_names_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        mesh = ClementsMesh(8, generator=torch.Generator().manual_seed(3))
        assert mesh.n_modes == 8
        encode_fourier_crop(_images())
        MeshNetwork(n_modes=16, n_meshes=1).port_intensities(torch.ones(16, dtype=torch.complex64))
