"""Pinned MZI conventions (docs/design.md#conventions): U[out, in], bar/cross states, coupler errors."""

import math

import numpy as np
import pytest
import torch

from photonics import mzi_transfer
from photonics.testing import assert_unitary


def coupler(e):
    """B(e) written out independently of the library (docs/photonics.md)."""
    p, q = math.sqrt((1 + e) / 2), math.sqrt((1 - e) / 2)
    return np.array([[p, 1j * q], [1j * q, p]])


def mzi_reference(theta, phi, e_in=0.0, e_out=0.0, loss_db=0.0):
    d = np.diag([np.exp(1j * theta / 2), np.exp(-1j * theta / 2)])
    out = np.diag([np.exp(1j * phi), 1.0])
    return 10 ** (-loss_db / 20) * out @ coupler(e_out) @ d @ coupler(e_in)


def t64(v):
    return torch.tensor(v, dtype=torch.float64)


def test_error_free_closed_form():
    theta, phi = 0.7, 1.9
    t = mzi_transfer(t64(theta), t64(phi)).numpy()
    s, c, e = math.sin(theta / 2), math.cos(theta / 2), np.exp(1j * phi)
    expected = np.array([[1j * e * s, 1j * e * c], [1j * c, -1j * s]])
    np.testing.assert_allclose(t, expected, atol=1e-15)


def test_bar_state_keeps_light_in_its_port():
    # θ = π: T = diag(i e^{iφ}, -i); light entering port 0 stays in port 0
    t = mzi_transfer(t64(math.pi), t64(0.3))
    x = torch.tensor([1, 0], dtype=torch.complex128)
    y = t @ x  # y = U @ x, U[out, in]
    assert abs(y[0]) == pytest.approx(1, abs=1e-15) and abs(y[1]) < 1e-15
    np.testing.assert_allclose(t.numpy(), np.diag([1j * np.exp(0.3j), -1j]), atol=1e-15)


def test_cross_state_swaps_ports():
    # θ = 0: T = [[0, i e^{iφ}], [i, 0]]; input port 0 -> output port 1 (T[out=1, in=0] = i)
    t = mzi_transfer(t64(0.0), t64(0.3))
    assert t[1, 0] == pytest.approx(1j, abs=1e-15)
    assert abs(t[0, 0]) < 1e-15 and abs(t[1, 1]) < 1e-15
    assert t[0, 1] == pytest.approx(1j * np.exp(0.3j), abs=1e-15)


def test_external_phase_is_on_the_output_of_the_upper_arm():
    t0 = mzi_transfer(t64(1.0), t64(0.0))
    t1 = mzi_transfer(t64(1.0), t64(0.5))
    np.testing.assert_allclose(t1.numpy(), np.diag([np.exp(0.5j), 1]) @ t0.numpy(), atol=1e-15)


@pytest.mark.parametrize("e_in,e_out", [(0.1, -0.05), (-0.3, 0.2), (1.0, 0.0)])
def test_coupler_errors_match_reference(e_in, e_out):
    t = mzi_transfer(t64(0.9), t64(2.2), bs_error=(e_in, e_out)).numpy()
    np.testing.assert_allclose(t, mzi_reference(0.9, 2.2, e_in, e_out), atol=1e-14)
    assert_unitary(torch.from_numpy(t))  # an imperfect splitter is still lossless


def test_coupler_error_sets_power_split():
    # θ = π/2 with ideal output coupler: |T[1,0]|^2 depends on e_in through (1±e)/2
    e = 0.2
    b = coupler(e)
    assert abs(b[0, 0]) ** 2 == pytest.approx((1 + e) / 2)
    assert abs(b[1, 0]) ** 2 == pytest.approx((1 - e) / 2)


def test_reciprocity():
    # the reversed circuit (elements in reverse order, each transposed) has transfer T^T
    theta, phi, e_in, e_out = 1.1, 0.4, 0.05, -0.07
    t = mzi_transfer(t64(theta), t64(phi), bs_error=(e_in, e_out)).numpy()
    d = np.diag([np.exp(1j * theta / 2), np.exp(-1j * theta / 2)])
    reversed_circuit = coupler(e_in).T @ d.T @ coupler(e_out).T @ np.diag([np.exp(1j * phi), 1])
    np.testing.assert_allclose(reversed_circuit, t.T, atol=1e-15)


def test_loss_scales_singular_values():
    t = mzi_transfer(t64(0.4), t64(0.1), loss_db=3.0)
    sv = torch.linalg.svdvals(t)
    np.testing.assert_allclose(sv.numpy(), 10 ** (-3 / 20), rtol=1e-13)


def test_broadcasting_and_dtypes():
    theta = torch.rand(5, 3, dtype=torch.float64)
    t = mzi_transfer(theta, torch.zeros(3, dtype=torch.float64))
    assert t.shape == (5, 3, 2, 2) and t.dtype == torch.complex128
    assert mzi_transfer(torch.rand(4), torch.rand(4)).dtype == torch.complex64
    assert mzi_transfer(0.5, 0.1).shape == (2, 2)


def test_bad_arguments():
    with pytest.raises(TypeError, match="real"):
        mzi_transfer(torch.zeros(2, dtype=torch.complex64), 0.0)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        mzi_transfer(0.0, 0.0, bs_error=(1.5, 0.0))
    with pytest.raises(TypeError, match="pair"):
        mzi_transfer(0.0, 0.0, bs_error=0.1)
