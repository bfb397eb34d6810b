"""SEPN (Zheng et al., Nat. Mach. Intell. 5 (2023); docs/references.md#dat): published sizes,
identity at initialisation, learning a known distortion, gradients, input checks."""

import pytest
import torch
from torch.func import functional_call

from training import SEPN, ResidualSEPN, count_parameters, image_to_modes, modes_to_image


@pytest.mark.parametrize("features, expected", [((4, 6, 8), 8070), ((4, 8, 16), 19514)])
def test_published_parameter_counts(features, expected):
    # "~4k" and "~10k" SEPNs of the paper, real parameters (a complex weight counts twice).
    net = SEPN(features)
    assert net.n_real_parameters() == expected
    assert count_parameters(net) == expected
    assert SEPN.expected_real_parameters(features) == expected
    assert count_parameters(net, real=False) * 2 == expected  # every parameter is complex


@pytest.mark.parametrize("shape", [(8, 8), (16, 24)])
def test_identity_at_init_bit_exact(shape, cdtype, generator):
    net = ResidualSEPN(dtype=cdtype, generator=generator)
    x = torch.randn(3, *shape, dtype=cdtype, generator=generator)
    assert torch.equal(net.sepn(x), torch.zeros_like(x))
    assert torch.equal(net(x), x)
    assert torch.equal(x + net.sepn(x), x)


def test_modes_round_trip_and_row_major(generator):
    z = torch.randn(5, 64, dtype=torch.complex64, generator=generator)
    img = modes_to_image(z)
    assert img.shape == (5, 8, 8)
    assert img[2, 3, 5] == z[2, 3 * 8 + 5]
    assert torch.equal(image_to_modes(img), z)
    net = ResidualSEPN(image_shape=(8, 8), generator=generator)
    assert torch.equal(net(z), z)


def test_weight_settable_and_zero_skips(generator):
    net = ResidualSEPN(generator=generator)
    with torch.no_grad():
        net.sepn.out.bias.fill_(0.5 + 0.25j)  # make the correction non-zero
    x = torch.randn(2, 8, 8, dtype=torch.complex64, generator=generator)
    c = net.sepn(x)
    net.weight = 0.5
    torch.testing.assert_close(net(x), x + 0.5 * c)
    net.weight = 0
    assert net(x) is x
    with pytest.raises(ValueError, match="finite"):
        net.weight = float("nan")


def test_learns_a_known_complex_distortion(generator):
    # Distortion of 8×8 fields: a gain/phase error plus leakage to the neighbouring column.
    def distort(x):
        return 0.8 * torch.exp(torch.tensor(0.5j)) * x + 0.1 * torch.roll(x, 1, dims=-1)

    net = ResidualSEPN(generator=generator)
    x = torch.randn(64, 8, 8, dtype=torch.complex64, generator=generator)
    x_test = torch.randn(64, 8, 8, dtype=torch.complex64, generator=generator)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)

    def mse(out, ref):
        return (out - ref).abs().square().mean()

    with torch.no_grad():
        identity_loss = mse(x_test, distort(x_test)).item()
    for _ in range(40):
        opt.zero_grad()
        loss = mse(net(x), distort(x))
        loss.backward()
        opt.step()
    with torch.no_grad():
        test_loss = mse(net(x_test), distort(x_test)).item()
    assert test_loss < 0.3 * identity_loss  # measured 0.14–0.18 × over 4 seeds after 40 steps


def test_gradcheck_tiny_sepn(generator):
    net = SEPN((1, 2, 2), dtype=torch.complex128, generator=generator)
    with torch.no_grad():  # non-zero output conv so gradients reach every layer
        net.out.weight.copy_(torch.randn(net.out.weight.shape, dtype=torch.complex128, generator=generator))
    names = [n for n, _ in net.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in net.parameters())
    x = torch.randn(2, 4, 4, dtype=torch.complex128, generator=generator, requires_grad=True)

    def f(x, *ps):
        return functional_call(net, dict(zip(names, ps)), (x,))

    # Full check for the input; every parameter through random projections (fast mode).
    assert torch.autograd.gradcheck(lambda x: f(x, *params), (x,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-6, fast_mode=True)


def test_gradients_reach_every_parameter_after_one_step(generator):
    net = SEPN(generator=generator)
    x = torch.randn(4, 8, 8, dtype=torch.complex64, generator=generator)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(2):  # first step moves the zero output conv, second reaches the rest
        opt.zero_grad()
        (net(x) - x).abs().square().mean().backward()
        opt.step()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_inputs():
    net = SEPN()
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(2, 6, 8, dtype=torch.complex64))
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(2, 8, 10, dtype=torch.complex64))
    with pytest.raises(TypeError, match="complex"):
        net(torch.zeros(2, 8, 8))
    with pytest.raises(TypeError, match="complex128.*complex64"):
        net(torch.zeros(2, 8, 8, dtype=torch.complex128))
    with pytest.raises(ValueError, match="single-channel"):
        net(torch.zeros(8, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        net.unet(torch.zeros(2, 3, 8, 8, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"\(\*batch, 64\)"):
        ResidualSEPN(image_shape=(8, 8))(torch.zeros(2, 63, dtype=torch.complex64))
    with pytest.raises(ValueError, match="features"):
        SEPN((4, 8))
    with pytest.raises(ValueError, match="odd"):
        SEPN(kernel_size=4)
    with pytest.raises(TypeError, match="dtype"):
        SEPN(dtype=torch.float32)


@pytest.mark.parametrize("shape", [(8, 8), (4, 12)])
def test_dense_small_convs_equal_the_convolutions(shape, monkeypatch):
    # Small convs run as x·M with M gathered from the weights (training.sepn._dense_plan): the
    # same linear map as the convolution, value and gradients, in float64 to 1e-12.
    import training.sepn as sepn_mod

    g = torch.Generator().manual_seed(5)
    net = SEPN((2, 4, 6), dtype=torch.complex128, generator=g)
    with torch.no_grad():
        net.out.weight.copy_(torch.randn(net.out.weight.shape, dtype=torch.complex128, generator=g))
    x = torch.randn(9, *shape, dtype=torch.complex128, generator=g)  # ≥ DENSE_MIN_BATCH
    taken = []
    real_plan = sepn_mod._dense_plan
    monkeypatch.setattr(sepn_mod, "_dense_plan", lambda *a: taken.append(real_plan(*a) is not None) or real_plan(*a))

    def run(dense):
        monkeypatch.setattr(sepn_mod, "DENSE_SMALL_CONVS", dense)
        net.zero_grad()
        xi = x.clone().requires_grad_(True)
        y = net(xi)
        (y.real ** 3 + y.imag).sum().backward()
        return y.detach(), xi.grad, [p.grad.clone() for p in net.parameters()]

    y1, gx1, gp1 = run(True)
    assert any(taken) and not all(taken)  # both routes are exercised at this size
    y0, gx0, gp0 = run(False)
    torch.testing.assert_close(y1, y0, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gx1, gx0, rtol=1e-12, atol=1e-12)
    for a, b in zip(gp1, gp0):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)


def test_dense_plan_matches_an_explicit_toeplitz_matrix():
    # The gathered matrix of a 3×3 'same' conv on a 2×2 single-channel image, written out by hand:
    # output (r, c) = Σ w[kr, kc] · x[r + kr − 1, c + kc − 1] over in-range inputs.
    from training.sepn import _dense_plan

    w = torch.arange(1.0, 10.0, dtype=torch.float64).reshape(1, 1, 3, 3)
    index, out_shape = _dense_plan(False, 1, 3, (1, 1, 3, 3), (1, 2, 2), torch.device("cpu"))
    m = torch.cat([w.reshape(-1), w.new_zeros(1)])[index].reshape(4, 4)
    expect = torch.zeros(4, 4, dtype=torch.float64)
    for r in range(2):
        for c in range(2):
            for i in range(2):
                for j in range(2):
                    expect[i * 2 + j, r * 2 + c] = w[0, 0, i - r + 1, j - c + 1]
    assert out_shape == (1, 2, 2)
    assert torch.equal(m, expect)
