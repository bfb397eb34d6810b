"""Programming meshes from unitaries: round trips, phase ranges, bad input."""

import numpy as np
import pytest
import torch

from photonics import ClementsMesh, ReckMesh, clements_decompose, haar_unitary, reck_decompose


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 17, 32, 64])
def test_clements_round_trip(n):
    u = haar_unitary(n, generator=gen(n))
    mesh = ClementsMesh.from_unitary(u)
    assert mesh.theta.dtype == torch.float64
    assert (mesh.matrix() - u).abs().max() <= 1e-9  # observed ~1e-14 at n = 64


@pytest.mark.parametrize("n", [4, 7, 64])
def test_clements_round_trip_with_wrap_around(n):
    u = haar_unitary(n, generator=gen(100 + n))
    mesh = ClementsMesh.from_unitary(u, wrap_around=True)
    assert (mesh.matrix() - u).abs().max() <= 1e-9


@pytest.mark.parametrize("n", [2, 3, 6, 9, 64])
def test_reck_round_trip(n):
    u = haar_unitary(n, generator=gen(200 + n))
    assert (ReckMesh.from_unitary(u).matrix() - u).abs().max() <= 1e-9


def test_output_phase_screen_variant_and_numpy_input():
    u = haar_unitary(6, generator=gen(1)).numpy()
    mesh = ClementsMesh.from_unitary(u, output_phases=True)
    np.testing.assert_allclose(mesh.matrix().detach().numpy(), u, atol=1e-12)


def test_phase_ranges_and_unused_slots():
    ph = clements_decompose(haar_unitary(8, generator=gen(2)))
    act = ph.layout.active
    assert ph.theta.shape == (8, 4) and ph.input_phases.shape == (8,)
    assert ph.theta[act].min() >= 0 and ph.theta[act].max() <= np.pi
    assert ph.phi.min() >= 0 and ph.phi.max() < 2 * np.pi and ph.input_phases.max() < 2 * np.pi
    assert (ph.theta[~act] == 0).all() and (ph.phi[~act] == 0).all()


def test_special_unitaries():
    # identity -> all bar states (θ = π); a permutation swapping neighbours -> cross states
    ph = clements_decompose(torch.eye(4, dtype=torch.complex128))
    np.testing.assert_allclose(ph.theta[ph.layout.active].numpy(), np.pi, atol=1e-12)
    swap = torch.tensor([[0, 1], [1, 0]], dtype=torch.complex128)
    ph = reck_decompose(swap)
    assert ph.theta[0, 0] == pytest.approx(0, abs=1e-12)
    assert (ReckMesh.from_unitary(swap).matrix() - swap).abs().max() < 1e-14


def test_single_precision_input_gives_float32_phases():
    u = haar_unitary(5, generator=gen(3), dtype=torch.complex64)
    mesh = ClementsMesh.from_unitary(u)
    assert mesh.theta.dtype == torch.float32
    assert (mesh.matrix() - u).abs().max() < 1e-5


def test_bad_matrices():
    with pytest.raises(ValueError, match=r"square.*\(3, 4\)"):
        clements_decompose(torch.zeros(3, 4, dtype=torch.complex128))
    with pytest.raises(ValueError, match="not unitary"):
        clements_decompose(2 * torch.eye(3, dtype=torch.complex128))
    with pytest.raises(ValueError, match="not unitary"):
        ReckMesh.from_unitary(torch.ones(3, 3, dtype=torch.complex128))
    with pytest.raises(ValueError, match="n >= 2"):
        reck_decompose(torch.ones(1, 1, dtype=torch.complex128))
    with pytest.raises(TypeError, match="torch.Tensor or numpy"):
        clements_decompose([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="NaN"):
        clements_decompose(torch.full((2, 2), float("nan"), dtype=torch.complex128))
    with pytest.raises(ValueError, match="square"):
        ClementsMesh.from_unitary(torch.zeros(4, dtype=torch.complex128))


def test_program_checks_layout():
    ph = clements_decompose(haar_unitary(4, generator=gen(4)))
    with pytest.raises(ValueError, match="computed for"):
        ReckMesh(4, generator=gen(5)).program(ph)
