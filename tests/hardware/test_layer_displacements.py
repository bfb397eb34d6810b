"""Axial and lateral layer displacements (hardware.LayerDisplacements, displacement_errors)
applied by DiffractivePhysics, against networks rebuilt with the displaced geometry by hand:
the input and output planes stay put, so a layer moved by δ_l lengthens the gap in front of
it by δ_l and shortens the one behind it by δ_l."""

import math

import pytest
import torch

from hardware import LayerDisplacements, displacement_errors
from hardware.diffractive import DiffractivePhysics
from optics import Field, FreeSpace, Grid, OpticalSystem, PhaseMask

pytestmark = pytest.mark.filterwarnings("ignore::optics.SamplingWarning")  # a small window on purpose

GRID, LAM = Grid(32, 0.4e-3), 0.75e-3


def _network(gaps, phases, *, front=True):
    parts = [FreeSpace(GRID, LAM, gaps[0])] if front else []
    for i, p in enumerate(phases):
        parts += [PhaseMask(GRID, init=p), FreeSpace(GRID, LAM, gaps[i + 1])]
    return OpticalSystem(*parts)


def _inputs(seed=0, layers=3):
    g = torch.Generator().manual_seed(seed)
    phases = [2 * math.pi * torch.rand(32, 32, generator=g) for _ in range(layers)]
    u = torch.rand(2, 32, 32, generator=g).to(torch.complex64)
    return phases, Field(u, GRID, LAM)


def test_axial_displacements_move_both_neighbouring_gaps_with_the_input_plane_fixed():
    phases, x = _inputs()
    gaps, delta = [20e-3, 30e-3, 30e-3, 25e-3], [1.5e-3, -0.8e-3, 0.6e-3]
    moved = [gaps[0] + delta[0], gaps[1] + delta[1] - delta[0], gaps[2] + delta[2] - delta[1], gaps[3] - delta[2]]
    errors = displacement_errors(torch.zeros(3, 2), torch.tensor(delta))
    assert errors.input_gap == pytest.approx(delta[0])
    got, _ = DiffractivePhysics(_network(gaps, phases), errors).forward(x)
    want = _network(moved, phases)(x)
    scale = float(want.data.detach().abs().max())  # the networks' phases are parameters: detach for a number
    torch.testing.assert_close(got.data, want.data, rtol=1e-4, atol=1e-5 * scale)
    # the first layer's own move matters: without it the output differs well beyond rounding
    only_after = displacement_errors(torch.zeros(3, 2), torch.tensor(delta))
    object.__setattr__(only_after, "input_gap", 0.0)
    other, _ = DiffractivePhysics(_network(gaps, phases), only_after).forward(x)
    assert float((other.data - want.data).detach().abs().max()) > 1e-2 * scale


def test_integer_lateral_shift_rolls_the_layer_and_no_front_gap_means_the_input_sits_on_layer_0():
    phases, x = _inputs(1, layers=2)
    gaps = [0.0, 30e-3, 30e-3]
    shifts = torch.tensor([[2 * GRID.dy, 0.0], [0.0, -3 * GRID.dx]])
    errors = displacement_errors(shifts, torch.tensor([1e-3, 0.0]))
    got, _ = DiffractivePhysics(_network(gaps, phases, front=False), errors).forward(x)
    rolled = [torch.roll(phases[0], 2, 0), torch.roll(phases[1], -3, 1)]
    # no free space in front of layer 0: the input moves with it; only the gap behind changes
    want = _network([0.0, 30e-3 - 1e-3, 30e-3], rolled, front=False)(x)
    scale = float(want.data.detach().abs().max())
    torch.testing.assert_close(got.data, want.data, rtol=1e-4, atol=1e-5 * scale)


def test_sampled_displacements_equal_the_raw_draws():
    m = LayerDisplacements(shift_max=3e-4, axial_max=1e-3)
    shifts, delta = m.displacements(4, generator=torch.Generator().manual_seed(9))
    e = m.sample(4, generator=torch.Generator().manual_seed(9))
    ref = displacement_errors(shifts, delta)
    assert torch.equal(e.layer_shift, ref.layer_shift) and torch.equal(e.gap_error, ref.gap_error)
    assert e.input_gap == ref.input_gap == float(delta[0])
    with pytest.raises(ValueError, match="one of each per layer"):
        displacement_errors(torch.zeros(3, 2), torch.zeros(4))
