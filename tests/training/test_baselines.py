"""Digital baselines: parameter counts by hand, shapes, the complex counterpart of a mesh."""

import pytest
import torch
from torch import nn

from photonics import ElectroOpticActivation, MeshNetwork
from training import MLP, ComplexLinearNetwork, LeNet5, count_parameters


def test_lenet5_count_by_hand(generator):
    # conv1 1→6 5×5 (+6), conv2 6→16 5×5 (+16); 28 →pool 14 →conv 10 →pool 5: fc 16·5·5→120
    by_hand = (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    assert by_hand == 61706
    net = LeNet5(generator=generator)
    assert count_parameters(net) == by_hand
    assert net(torch.rand(3, 1, 28, 28, generator=generator)).shape == (3, 10)
    assert net(torch.rand(3, 28, 28, generator=generator)).shape == (3, 10)
    with pytest.raises(ValueError, match="28, 28"):
        net(torch.rand(3, 1, 32, 32))


def test_mlp_count_by_hand(generator):
    net = MLP(generator=generator)
    assert count_parameters(net) == 784 * 100 + 100 + 100 * 10 + 10
    assert net(torch.rand(2, 1, 28, 28, generator=generator)).shape == (2, 10)
    assert count_parameters(MLP(4, (3, 2), 5)) == (4 * 3 + 3) + (3 * 2 + 2) + (2 * 5 + 5)
    with pytest.raises(ValueError, match="784"):
        net(torch.rand(2, 100))


def test_generator_makes_init_reproducible():
    a = LeNet5(generator=torch.Generator().manual_seed(3))
    b = LeNet5(generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_complex_linear_network_counts_and_readout(generator):
    net = ComplexLinearNetwork(64, 3, generator=generator)
    # three unconstrained complex 64×64 matrices, no bias: 2 real numbers per entry
    assert count_parameters(net) == 3 * 64 * 64 * 2
    assert count_parameters(net, real=False) == 3 * 64 * 64
    x = torch.randn(5, 64, dtype=torch.complex64, generator=generator)
    scores = net(x)
    assert scores.shape == (5, 10) and not scores.is_complex()


def test_complex_linear_network_equals_mesh_network_with_same_matrices(generator):
    # With each matrix set to the mesh's transfer matrix, the digital counterpart computes
    # exactly what the mesh network computes (same activation, same readout).
    mesh = MeshNetwork(8, 2, n_classes=4, generator=generator, dtype=torch.float64)
    dig = ComplexLinearNetwork(8, 2, n_classes=4, dtype=torch.complex128)
    with torch.no_grad():
        for w, m in zip(dig.weights, mesh.meshes):
            w.copy_(m.matrix())
    x = torch.randn(6, 8, dtype=torch.complex128, generator=generator)
    torch.testing.assert_close(dig(x), mesh(x))
    assert isinstance(dig.activation, ElectroOpticActivation)


def test_complex_linear_network_linear_option(generator):
    net = ComplexLinearNetwork(4, 2, activation=nn.Identity(), n_classes=4, dtype=torch.complex128,
                               generator=generator)
    x = torch.randn(3, 4, dtype=torch.complex128, generator=generator)
    z, _ = net.fields(x)
    torch.testing.assert_close(z, x @ (net.weights[1] @ net.weights[0]).T)
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        net(torch.randn(3, 5, dtype=torch.complex128))
