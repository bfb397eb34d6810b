"""MZILinear, electro-optic activation, photodetection readout."""

import math

import numpy as np
import pytest
import torch

from photonics import (ElectroOpticActivation, MZILinear, Photodetector, electro_optic_activation,
                       normalized_intensity, sample_mesh_errors)

C128 = torch.complex128


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("n_in,n_out", [(6, 6), (5, 3), (3, 7)])
def test_mzilinear_from_matrix_realises_any_matrix(n_in, n_out):
    w = torch.randn(n_out, n_in, dtype=C128, generator=gen(n_in * 10 + n_out))
    layer = MZILinear.from_matrix(w, dtype=torch.float64)
    assert (layer.matrix() - w).abs().max() < 1e-12
    x = torch.randn(4, n_in, dtype=C128, generator=gen(1))
    np.testing.assert_allclose(layer(x).detach().numpy(), (x @ w.T).numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.singular_values().detach().numpy(), torch.linalg.svdvals(w).numpy(), atol=1e-12)


def test_mzilinear_attenuator_bound_and_errors():
    layer = MZILinear(4, 4, max_gain=1.0, generator=gen(2), dtype=torch.float64)
    assert torch.linalg.svdvals(layer.matrix().detach()).max() <= 1 + 1e-12  # passive
    ev = sample_mesh_errors(layer.v_mesh, bs_sigma=0.05, generator=gen(3), dtype=torch.float64)
    assert (layer.matrix((ev, None)) - layer.matrix()).abs().max() > 1e-4
    w = 2 * torch.eye(4, dtype=C128)
    with pytest.raises(ValueError, match="max_gain"):
        MZILinear.from_matrix(w, max_gain=1.0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        layer(torch.zeros(3, dtype=C128))


def test_mzilinear_gradients_reach_all_parameters():
    layer = MZILinear(4, 3, generator=gen(4), dtype=torch.float64)
    x = torch.randn(5, 4, dtype=C128, generator=gen(5))
    (layer(x) * torch.randn(5, 3, dtype=C128, generator=gen(6))).real.sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_activation_formula_and_reference_settings():
    z = torch.randn(100, dtype=C128, generator=gen(7)) * 3
    act = ElectroOpticActivation()  # α = 0.1, g = 0.05π, φ_b = π (Zheng et al. 2023)
    dphi = 0.05 * math.pi * z.abs() ** 2 / 2 + math.pi / 2
    expected = math.sqrt(0.9) * torch.cos(dphi) * torch.exp(-1j * dphi) * z
    np.testing.assert_allclose(act(z).numpy(), expected.numpy(), atol=1e-13)
    # passive: output power never exceeds (1 - α) times the input power
    assert (act(z).abs() ** 2 <= 0.9 * z.abs() ** 2 + 1e-12).all()
    # at zero power the bias π gives cos(π/2) = 0: weak light is blocked
    assert act(torch.tensor([1e-8 + 0j], dtype=C128)).abs().item() < 1e-15


def test_activation_gradcheck_and_trainable():
    z = torch.randn(6, dtype=C128, generator=gen(8)).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: electro_optic_activation(v, gain=0.3, bias=1.0), (z,))
    act = ElectroOpticActivation(trainable=True)
    act(z.detach().to(torch.complex64)).abs().sum().backward()
    assert act.gain.grad is not None and act.bias.grad is not None
    assert set(ElectroOpticActivation().state_dict()) == {"gain", "bias"}
    with pytest.raises(ValueError, match="alpha"):
        ElectroOpticActivation(alpha=1.0)
    with pytest.raises(TypeError, match="complex"):
        act(torch.randn(3))


def test_photodetector_readout():
    z = torch.randn(7, 64, dtype=torch.complex64, generator=gen(9))
    scores = Photodetector(10)(z)
    assert scores.shape == (7, 10) and scores.dtype == torch.float32
    full = normalized_intensity(z)
    torch.testing.assert_close(full.norm(dim=-1), torch.ones(7))
    torch.testing.assert_close(scores, full[:, :10])
    torch.testing.assert_close(Photodetector(normalize=False)(z), z.abs() ** 2)
    with pytest.raises(ValueError, match="exceeds"):
        Photodetector(65)(z)
    with pytest.raises(TypeError, match="complex"):
        Photodetector()(z.abs())
