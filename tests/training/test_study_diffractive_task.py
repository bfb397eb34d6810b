"""``training.study.diffractive_task``, the one builder of the diffractive classifiers
(dat-dpnn, vaccination, d2nn-classifier): its layout, its phase start and its loss choice."""

import math

import pytest
import torch

from optics import FreeSpace, PhaseMask
from training import DiffractiveTask, LinMseTask
from training.study import diffractive_task

GEOMETRY = dict(grid_px=24, pitch_m=1e-3, wavelength_m=0.75e-3, layers=2, gap_m=0.02, image_px=12,
                region_px=2, region_spacing_px=5)


def test_layout_without_and_with_an_input_gap():
    plain = list(diffractive_task(**GEOMETRY).system.layers)
    assert [type(p) for p in plain] == [PhaseMask, FreeSpace] * 2
    gapped = list(diffractive_task(**GEOMETRY, input_gap_m=0.03).system.layers)
    assert [type(p) for p in gapped] == [FreeSpace] + [PhaseMask, FreeSpace] * 2


def test_phases_start_at_zero_or_uniform_below_the_bound_per_layer():
    zero = diffractive_task(**GEOMETRY)
    assert all(float(m.phase.detach().abs().max()) == 0.0 for m in zero.system.layers if isinstance(m, PhaseMask))
    task = diffractive_task(**GEOMETRY, phase_init_rad=math.pi, seed=3)
    phases = [m.phase.detach().double() for m in task.system.layers if isinstance(m, PhaseMask)]
    assert all(0.0 <= float(p.min()) and float(p.max()) < math.pi for p in phases)
    assert not torch.equal(phases[0], phases[1])  # each layer its own draw
    again = diffractive_task(**GEOMETRY, phase_init_rad=math.pi, seed=3)
    assert all(torch.equal(p, m.phase.detach().double())
               for p, m in zip(phases, (m for m in again.system.layers if isinstance(m, PhaseMask))))


def test_loss_picks_the_task_and_anything_else_is_refused():
    assert type(diffractive_task(**GEOMETRY)) is DiffractiveTask
    mse = diffractive_task(**GEOMETRY, loss="mse", mse_scale="detectors")
    assert isinstance(mse, LinMseTask) and mse.scale == "detectors"
    with pytest.raises(ValueError, match="loss must be 'ce' or 'mse', got 'l1'"):
        diffractive_task(**GEOMETRY, loss="l1")


@pytest.mark.parametrize("gaps", [dict(gap_m=-0.02), dict(gap_m=0.0), dict(gap_m=float("nan")),
                                  dict(input_gap_m=-0.03)])
def test_light_goes_forward(gaps):
    # a negative distance would propagate backwards: a silent, unphysical network
    with pytest.raises(ValueError, match="layer gap must be > 0 m and the input gap ≥ 0 m"):
        diffractive_task(**{**GEOMETRY, **gaps})


@pytest.mark.parametrize("temperature", [0.0, -10.0, float("inf")])
def test_the_logit_scale_is_positive(temperature):
    # its log is the learnt parameter: a non-positive one made every field NaN at the first step
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        diffractive_task(**GEOMETRY, temperature=temperature)
