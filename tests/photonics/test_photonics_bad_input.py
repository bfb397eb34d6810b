"""Bad input to the photonics API gets a clear error naming the argument, never NaN output."""

import pytest
import torch

from photonics import ClementsMesh, MeshNetwork, haar_unitary
from photonics.decompose import clements_decompose


def _mesh():
    return ClementsMesh(4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_mesh_input(bad):
    x = torch.ones(2, 4, dtype=torch.complex128)
    x[1, 2] = bad
    with pytest.raises(ValueError, match="mesh input contains 1 NaN or infinite"):
        _mesh()(x)
    with pytest.raises(ValueError, match="mesh input contains"):
        _mesh()(x, method="columns")


def test_nan_phases_are_refused_when_programmed_and_when_set_directly():
    phases = clements_decompose(haar_unitary(4, generator=torch.Generator().manual_seed(1)))
    phases.theta[0, 0] = float("nan")
    with pytest.raises(ValueError, match="mesh phases theta contains 1 NaN"):
        _mesh().program(phases)
    mesh = _mesh()
    with torch.no_grad():
        mesh.phi[1, 0] = float("inf")
    with pytest.raises(ValueError, match="mesh phases phi contains 1 NaN or infinite"):
        mesh(torch.ones(4, dtype=torch.complex128))


def test_nan_through_a_mesh_network_is_an_error():
    net = MeshNetwork(4, 2, n_classes=2, generator=torch.Generator().manual_seed(2))
    x = torch.ones(3, 4, dtype=torch.complex64)
    assert torch.isfinite(net(x)).all()
    x[0, 0] = float("nan")
    with pytest.raises(ValueError, match="mesh input contains"):
        net(x)


@pytest.mark.parametrize("n", [0, -1, 2.5, True, "4"])
def test_haar_unitary_bad_size(n):
    with pytest.raises(ValueError, match=r"haar_unitary size n must be an integer ≥ 1"):
        haar_unitary(n)


def test_haar_unitary_one_by_one_is_a_phase():
    u = haar_unitary(1, generator=torch.Generator().manual_seed(3))
    assert u.shape == (1, 1) and abs(abs(complex(u[0, 0])) - 1) < 1e-12
