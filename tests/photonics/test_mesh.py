"""Clements/Reck meshes: layout, unitarity, both evaluation paths, errors, gradients."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from photonics import ClementsMesh, MeshErrors, MeshLayout, ReckMesh, mzi_transfer, sample_mesh_errors
from photonics.testing import assert_unitary

C128 = torch.complex128


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def naive_matrix(mesh, errors=None):
    """Independent reference: embed every MZI as a dense n×n matrix and multiply in order."""
    lay = mesh.layout
    n = lay.n
    u = torch.diag(torch.polar(torch.ones(n, dtype=torch.float64), mesh.input_phases.detach().double()))
    for col in range(lay.n_cols):
        c = torch.eye(n, dtype=C128)
        for slot in range(lay.n_slots):
            a, b = lay.ports(col, slot)
            if lay.active[col, slot]:
                th, ph = mesh.theta[col, slot].detach().double(), mesh.phi[col, slot].detach().double()
                kw = {}
                if errors is not None:
                    th = th + errors.theta_offset[col, slot]
                    ph = ph + errors.phi_offset[col, slot]
                    kw = dict(bs_error=(errors.bs_in[col, slot], errors.bs_out[col, slot]),
                              loss_db=errors.loss_db[col, slot])
                t = mzi_transfer(th, ph, **kw)
                c[a, a], c[a, b], c[b, a], c[b, b] = t[0, 0], t[0, 1], t[1, 0], t[1, 1]
            elif lay.wrap[col, slot]:
                c[a, a] = c[b, b] = -1j
        u = c @ u
    return u


def test_reference_layout_64():
    lay = MeshLayout(64)
    counts = lay.active.sum(1)
    assert lay.n_cols == 64 and counts[0::2].eq(32).all() and counts[1::2].eq(31).all()
    assert lay.n_mzi == 2016
    assert lay.ports(0, 5) == (10, 11) and lay.ports(1, 5) == (11, 12)
    wrap = MeshLayout(64, wrap_around=True)
    assert wrap.ports(1, 31) == (63, 0) and wrap.wrap[1::2, 31].all() and wrap.wrap.sum() == 32
    assert wrap.n_mzi == 2016  # the wrap-around slot is not tunable


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_reck_layout_is_triangular(n):
    lay = MeshLayout(n, "reck")
    assert lay.n_cols == 2 * n - 3 and lay.n_mzi == n * (n - 1) // 2
    for d in range(n - 1):
        for k in range(n - 1 - d):
            assert lay.active[k + 2 * d, k // 2] and lay.ports(k + 2 * d, k // 2) == (k, k + 1)


@pytest.mark.parametrize("cls,n,kw", [
    (ClementsMesh, 2, {}), (ClementsMesh, 5, {}), (ClementsMesh, 8, {"wrap_around": True}),
    (ClementsMesh, 64, {}), (ReckMesh, 7, {}), (ReckMesh, 64, {}),
])
def test_error_free_mesh_is_unitary(cls, n, kw):
    mesh = cls(n, generator=gen(n), dtype=torch.float64, **kw)
    assert_unitary(mesh.matrix(), atol=1e-12)


@pytest.mark.parametrize("cls,n,kw", [
    (ClementsMesh, 4, {}), (ClementsMesh, 7, {}), (ClementsMesh, 6, {"wrap_around": True}),
    (ClementsMesh, 6, {"output_phases": True}), (ReckMesh, 5, {}),
])
def test_matrix_matches_naive_per_mzi_product(cls, n, kw):
    mesh = cls(n, generator=gen(1), dtype=torch.float64, **kw)
    errors = sample_mesh_errors(mesh, bs_sigma=0.1, ps_sigma=0.1, loss_db=0.2, generator=gen(2), dtype=torch.float64)
    out = torch.polar(torch.ones(n, dtype=torch.float64), mesh.output_phases.detach()) if mesh.output_phases is not None else 1
    for err in (None, errors):
        expected = naive_matrix(mesh, err)
        if mesh.output_phases is not None:
            expected = out[:, None] * expected
        np.testing.assert_allclose(mesh.matrix(err).detach().numpy(), expected.numpy(), atol=1e-13)


@pytest.mark.parametrize("cls,n,kw", [(ClementsMesh, 9, {}), (ClementsMesh, 16, {"wrap_around": True}), (ReckMesh, 6, {})])
def test_columns_path_equals_matrix_path(cls, n, kw):
    mesh = cls(n, generator=gen(3), dtype=torch.float64, output_phases=True, **kw)
    with torch.no_grad():
        mesh.output_phases.uniform_(0, 6, generator=gen(4))
    errors = sample_mesh_errors(mesh, bs_sigma=0.05, ps_sigma=0.05, loss_db=0.1, crosstalk=0.02,
                                generator=gen(5), dtype=torch.float64)
    x = torch.randn(3, 4, n, dtype=C128, generator=gen(6))
    for err in (None, errors):
        y_cols = mesh(x, err, method="columns")
        y_mat = mesh(x, err)
        assert y_cols.shape == (3, 4, n)
        np.testing.assert_allclose(y_cols.detach().numpy(), y_mat.detach().numpy(), atol=1e-13)
        np.testing.assert_allclose(y_mat.detach().numpy(), (x @ mesh.matrix(err).T).detach().numpy(), atol=1e-13)


def test_single_vector_and_complex64_paths():
    mesh = ClementsMesh(8, generator=gen(7))
    x = torch.randn(8, dtype=torch.complex64, generator=gen(8))
    y = mesh(x)
    assert y.shape == (8,) and y.dtype == torch.complex64
    torch.testing.assert_close(y, mesh(x, method="columns"), atol=1e-5, rtol=1e-5)
    assert_unitary(mesh.matrix())  # single-precision tolerance


def test_wrap_around_slot_multiplies_ports_by_minus_i():
    n = 6
    plain = ClementsMesh(n, init="identity_bar", dtype=torch.float64)
    wrapped = ClementsMesh(n, init="identity_bar", dtype=torch.float64, wrap_around=True)
    ratio = (torch.diagonal(wrapped.matrix()) / torch.diagonal(plain.matrix())).detach()
    odd_columns = n // 2
    expected = torch.ones(n, dtype=C128)
    expected[[0, n - 1]] = (-1j) ** odd_columns
    np.testing.assert_allclose(ratio.numpy(), expected.numpy(), atol=1e-14)


def test_random_mesh_is_haar():
    # |U_00|^2 of a Haar unitary follows Beta(1, n-1); E|U_ij|^4 = 2 / (n (n + 1))
    n, draws = 4, 300
    g = gen(9)
    samples = torch.stack([ClementsMesh(n, generator=g, dtype=torch.float64).matrix().detach() for _ in range(draws)])
    p = samples.abs().square()
    assert stats.kstest(p[:, 0, 0].numpy(), stats.beta(1, n - 1).cdf).pvalue > 1e-3
    assert stats.kstest(p[:, 2, 1].numpy(), stats.beta(1, n - 1).cdf).pvalue > 1e-3
    m4 = p.square().mean().item()
    assert m4 == pytest.approx(2 / (n * (n + 1)), rel=0.1)  # 4800 entries, ~3% standard error
    assert samples[:, 0, 0].angle().std() > 1.5  # phases spread over the circle


def test_bs_and_phase_errors_keep_unitarity_loss_breaks_it():
    mesh = ClementsMesh(16, generator=gen(10), dtype=torch.float64)
    err = sample_mesh_errors(mesh, bs_sigma=0.1, ps_sigma=0.1, generator=gen(11), dtype=torch.float64)
    assert_unitary(mesh.matrix(err), atol=1e-12)
    assert (mesh.matrix(err) - mesh.matrix()).abs().max() > 1e-2
    lossy = sample_mesh_errors(mesh, bs_sigma=0.1, loss_db=0.05, generator=gen(11), dtype=torch.float64)
    sv = torch.linalg.svdvals(mesh.matrix(lossy).detach())
    assert sv.max() <= 1 + 1e-12 and sv.max() < 1
    # every path crosses between n/2 and n MZIs of 0.05 dB
    assert sv.min() >= 10 ** (-16 * 0.05 / 20) - 1e-12


def test_crosstalk_equals_neighbour_phase_offsets():
    mesh = ClementsMesh(6, generator=gen(12), dtype=torch.float64)
    kappa = 0.03
    zeros = MeshErrors.zeros(mesh, dtype=torch.float64)
    with_xt = MeshErrors(**{**zeros.to_dict(), "crosstalk": kappa})
    act = mesh.layout.active.double()

    def nb(p):
        w = torch.nn.functional.pad(torch.remainder(p.detach(), 2 * math.pi) * act, (1, 1))
        return w[:, :-2] + w[:, 2:]

    manual = MeshErrors(**{**zeros.to_dict(), "theta_offset": kappa * nb(mesh.theta), "phi_offset": kappa * nb(mesh.phi)})
    torch.testing.assert_close(mesh.matrix(with_xt), mesh.matrix(manual), atol=1e-14, rtol=0)
    assert (mesh.matrix(with_xt) - mesh.matrix()).abs().max() > 1e-3


def test_gradients_reach_every_tunable_phase_only():
    mesh = ClementsMesh(6, generator=gen(13), dtype=torch.float64)
    x = torch.randn(5, 6, dtype=C128, generator=gen(14))
    c = torch.randn(5, 6, dtype=C128, generator=gen(21))
    (mesh(x) * c).real.sum().backward()  # depends on every amplitude and phase
    act = mesh.layout.active
    assert (mesh.theta.grad[act] != 0).all() and (mesh.phi.grad[act] != 0).all()
    assert (mesh.theta.grad[~act] == 0).all() and (mesh.phi.grad[~act] == 0).all()
    assert (mesh.input_phases.grad != 0).all()
    assert set(mesh.state_dict()) == {"theta", "phi", "input_phases"}


@pytest.mark.parametrize("cls,n,kw", [(ClementsMesh, 4, {"wrap_around": True}), (ClementsMesh, 5, {}), (ReckMesh, 4, {})])
def test_gradcheck_float64(cls, n, kw):
    mesh = cls(n, generator=gen(15), dtype=torch.float64, output_phases=True, **kw)
    err = sample_mesh_errors(mesh, bs_sigma=0.1, ps_sigma=0.1, loss_db=0.1, crosstalk=0.01, generator=gen(16), dtype=torch.float64)
    x = torch.randn(2, n, dtype=C128, generator=gen(17))
    params = (mesh.theta, mesh.phi, mesh.input_phases, mesh.output_phases)

    def run(method, use_err):
        def f(theta, phi, psi, omega, xin):
            names = ("theta", "phi", "input_phases", "output_phases")
            values = dict(zip(names, (theta, phi, psi, omega)))
            out = torch.func.functional_call(mesh, values, (xin,), {"errors": err if use_err else None, "method": method})
            return out
        return f

    inputs = tuple(p.detach().clone().requires_grad_() for p in params) + (x.clone().requires_grad_(),)
    for method in ("matrix", "columns"):
        assert torch.autograd.gradcheck(run(method, True), inputs)
    assert torch.autograd.gradcheck(run("matrix", False), inputs)


def test_gradcheck_through_error_tensors():
    mesh = ClementsMesh(4, generator=gen(18), dtype=torch.float64)
    base = sample_mesh_errors(mesh, bs_sigma=0.1, ps_sigma=0.1, loss_db=0.1, generator=gen(19), dtype=torch.float64)

    def f(bs_in, bs_out, loss):
        err = MeshErrors(bs_in, bs_out, base.theta_offset, base.phi_offset, loss)
        return mesh.matrix(err)

    inputs = tuple(t.clone().requires_grad_() for t in (base.bs_in, base.bs_out, base.loss_db))
    assert torch.autograd.gradcheck(f, inputs)


def test_bad_inputs_raise_clear_errors():
    mesh = ClementsMesh(4, generator=gen(20))
    with pytest.raises(TypeError, match="complex"):
        mesh(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"n = 4 modes.*\(2, 5\)"):
        mesh(torch.randn(2, 5, dtype=torch.complex64))
    with pytest.raises(TypeError, match="complex128.*mesh.double"):
        mesh(torch.randn(2, 4, dtype=C128))
    with pytest.raises(ValueError, match="method"):
        mesh(torch.randn(2, 4, dtype=torch.complex64), method="fast")
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(4, 2\)"):
        mesh.matrix(MeshErrors.zeros((5, 2)))
    with pytest.raises(TypeError, match="MeshErrors"):
        mesh.matrix({"bs_in": 0})
    with pytest.raises(ValueError, match="n >= 2"):
        ClementsMesh(1)
    with pytest.raises(ValueError, match="wrap_around"):
        ReckMesh(4, wrap_around=True)
    with pytest.raises(TypeError, match="float32 or torch.float64"):
        ClementsMesh(4, dtype=torch.complex64)


@pytest.mark.filterwarnings("ignore:Complex modules")
def test_complex_cast_of_parameters_is_refused():
    with pytest.raises(TypeError, match="must be real"):
        ClementsMesh(4, generator=gen(0)).to(torch.complex64).matrix()


def test_crosstalk_acts_on_wrapped_phases_so_2pi_multiples_change_nothing():
    # a heater drives the wrapped phase in [0, 2π): adding multiples of 2π to programmed phases
    # changes neither the ideal matrix nor the crosstalk the neighbours feel (θ enters as θ/2,
    # so θ gets multiples of 4π: T(θ + 2π) = −T(θ); φ enters as e^{iφ} and gets 2π multiples)
    mesh = ClementsMesh(6, generator=gen(31), dtype=torch.float64)
    shifted = ClementsMesh(6, generator=gen(31), dtype=torch.float64)
    k_theta = torch.randint(-3, 4, mesh.theta.shape, generator=gen(32)).double()
    k_phi = torch.randint(-3, 4, mesh.phi.shape, generator=gen(33)).double()
    assert (k_theta[mesh.layout.active] != 0).sum() > 5
    with torch.no_grad():
        shifted.theta.add_(4 * math.pi * k_theta)
        shifted.phi.add_(2 * math.pi * k_phi)
    assert float(shifted.theta.detach().max()) > 2 * math.pi and float(shifted.phi.detach().min()) < 0  # outside [0, 2π)
    zeros = MeshErrors.zeros(mesh, dtype=torch.float64)
    with_xt = MeshErrors(**{**zeros.to_dict(), "crosstalk": 0.03})
    torch.testing.assert_close(shifted.matrix(), mesh.matrix(), atol=1e-12, rtol=0)
    torch.testing.assert_close(shifted.matrix(with_xt), mesh.matrix(with_xt), atol=1e-12, rtol=0)
    assert float((mesh.matrix(with_xt) - mesh.matrix()).detach().abs().max()) > 1e-3  # the crosstalk is on
