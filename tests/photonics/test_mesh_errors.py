"""Frozen error realizations: construction, validation, sampling statistics, round trip."""

import pytest
import torch

from photonics import ClementsMesh, MeshErrors, sample_mesh_errors


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_zeros_match_mesh_and_change_nothing():
    mesh = ClementsMesh(8, generator=gen(0), dtype=torch.float64)
    err = MeshErrors.zeros(mesh, dtype=torch.float64)
    assert err.shape == mesh.slot_shape == (8, 4) and err.crosstalk == 0
    torch.testing.assert_close(mesh.matrix(err), mesh.matrix(), atol=1e-14, rtol=0)  # same maths, other formula


@pytest.mark.parametrize("bs,ps", [(0.04, 0.06), (0.11, 0.02)])
def test_sampled_statistics_match_requested_sigma(bs, ps):
    mesh = ClementsMesh(64, init="identity_bar")
    err = sample_mesh_errors(mesh, bs_sigma=bs, ps_sigma=ps, generator=gen(1), dtype=torch.float64)
    # 2048 draws per field: the sample std has relative standard error 1/sqrt(2N) ~ 1.6%
    for field, sigma in (("bs_in", bs), ("bs_out", bs), ("theta_offset", ps), ("phi_offset", ps)):
        values = getattr(err, field).flatten()
        assert values.std().item() == pytest.approx(sigma, rel=0.06)
        assert abs(values.mean().item()) < 4 * sigma / values.numel() ** 0.5
    # draws are independent across fields
    corr = torch.corrcoef(torch.stack([err.bs_in.flatten(), err.theta_offset.flatten()]))[0, 1]
    assert abs(corr) < 0.1


def test_sampling_is_reproducible_and_generator_explicit():
    a = sample_mesh_errors((4, 2), bs_sigma=0.1, ps_sigma=0.1, generator=gen(2))
    b = sample_mesh_errors((4, 2), bs_sigma=0.1, ps_sigma=0.1, generator=gen(2))
    c = sample_mesh_errors((4, 2), bs_sigma=0.1, ps_sigma=0.1, generator=gen(3))
    assert torch.equal(a.bs_in, b.bs_in) and not torch.equal(a.bs_in, c.bs_in)


def test_dict_round_trip_is_bit_exact(tmp_path):
    err = sample_mesh_errors((6, 3), bs_sigma=0.05, ps_sigma=0.02, loss_db=0.1, crosstalk=0.01, generator=gen(4))
    torch.save(err.to_dict(), tmp_path / "err.pt")
    back = MeshErrors.from_dict(torch.load(tmp_path / "err.pt"))
    for name in ("bs_in", "bs_out", "theta_offset", "phi_offset", "loss_db"):
        assert torch.equal(getattr(back, name), getattr(err, name))
    assert back.crosstalk == 0.01


def test_realization_is_frozen():
    err = MeshErrors.zeros((2, 1))
    with pytest.raises(AttributeError):
        err.crosstalk = 0.1


def test_validation_messages():
    z = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(3, 2\)"):
        MeshErrors(z, torch.zeros(3, 3), z, z, z)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        MeshErrors(z + 2, z, z, z, z)
    with pytest.raises(TypeError, match="real floating"):
        MeshErrors(z.to(torch.complex64), z, z, z, z)
    with pytest.raises(ValueError, match="NaN"):
        MeshErrors(z, z, z + float("nan"), z, z)
    with pytest.raises(ValueError, match="bs_sigma"):
        sample_mesh_errors((3, 2), bs_sigma=-1.0)
    with pytest.raises(ValueError, match=r"per-MZI shape \(3, 2\).*\(4, 2\)"):
        MeshErrors.zeros((3, 2)).check(ClementsMesh(4, init="identity_bar"))
