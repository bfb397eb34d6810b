"""Fast matrix path of the column engine against the reference column-by-column path."""

import pytest
import torch

from photonics import _engine

C128 = torch.complex128


@pytest.mark.parametrize("n_cols,pairs", [(1, 1), (2, 1), (3, 2), (5, 3), (16, 8), (33, 17), (64, 32), (125, 32)])
def test_matrix_path_equals_reference_for_arbitrary_blocks(n_cols, pairs):
    # arbitrary (non-unitary) blocks: the equality is algebraic, not a property of unitaries
    t = torch.randn(n_cols, pairs, 2, 2, dtype=C128, generator=torch.Generator().manual_seed(n_cols))
    ref = _engine.apply_columns(torch.eye(2 * pairs, dtype=C128), t)
    fast = _engine.columns_matrix(t)
    assert ((fast - ref).abs().max() / ref.abs().max()).item() < 1e-13


@pytest.mark.parametrize("n_cols,pairs", [(6, 8), (16, 16)])  # one and two window doublings
def test_matrix_path_gradcheck(n_cols, pairs):
    t = torch.randn(n_cols, pairs, 2, 2, dtype=C128, generator=torch.Generator().manual_seed(1)) / 2
    assert torch.autograd.gradcheck(_engine.columns_matrix, (t.requires_grad_(),), fast_mode=True)


def test_plan_pads_to_power_of_two_blocks():
    assert _engine._plan(64, 32) == (8, 64)
    assert _engine._plan(125, 32) == (8, 128)
    assert _engine._plan(4, 2) == (2, 4)
