"""training.resolution: three-bar gratings and the three-Gaussian fit that measures their
period in an image (checked on synthetic images whose period is known by construction)."""

import math

import numpy as np
import pytest
import torch

from optics import Grid
from training.resolution import (fit_gratings, fit_three_gaussians, grating_profile, grating_statistics,
                                 three_bar_gratings)

GRID = Grid(120, 0.3e-3)  # 36 mm window
REGION = (slice(20, 100), slice(20, 100))  # the central 80 px (24 mm) square
HALF = 40 * 0.3e-3


def _blurred(period: float, std: float = 1.2e-3) -> torch.Tensor:
    """A grating blurred along x by a Gaussian of ``std`` (m): an imperfect image of it."""
    grating = three_bar_gratings(GRID, [period], half_width=HALF)[0].double()
    _, x = GRID.coords()
    k = torch.exp(-(x / std) ** 2 / 2)
    k = k / k.sum()
    return torch.from_numpy(np.apply_along_axis(lambda r: np.convolve(r, k.numpy(), mode="same"), 1,
                                                grating.numpy()))


def test_gratings_geometry_and_the_fit_check():
    g = three_bar_gratings(GRID, [7.2e-3], half_width=HALF)[0]
    ry, rx = REGION
    assert g.sum() == g[ry, rx].sum() > 0  # inside the region
    profile = g.sum(0)
    edges = (profile[1:] != profile[:-1]).nonzero().ravel()
    assert len(edges) == 6 and set(torch.diff(edges).tolist()[::2]) == {12}  # 3 bars of P/2 = 3.6 mm = 12 px
    rows = g.sum(1)
    assert int((rows > 0).sum()) == 60  # |y| < 1.25 P = 9 mm: 60 rows of 0.3 mm
    with pytest.raises(ValueError, match="period 12.00 mm .* does not fit the 24.0 mm object region"):
        three_bar_gratings(GRID, [12e-3], half_width=HALF)


def test_fit_recovers_the_period_of_blurred_bars_and_refuses_a_blob():
    p = 8.4e-3
    xs, prof = grating_profile(GRID, _blurred(p) + 0.05, p, REGION)
    assert len(xs) == 80 and xs[0] == pytest.approx(-39.5 * 0.3e-3)
    fit = fit_three_gaussians(xs, prof, p * 1.1)  # a wrong initial guess
    assert fit["period_m"] == pytest.approx(p, rel=0.01)
    assert fit["dip"] < 0.9
    blob = np.exp(-(xs / 8e-3) ** 2 / 2)  # one broad blob is not three separated bars
    assert not (fit_three_gaussians(xs, blob, p)["dip"] < 0.9)
    flat = fit_three_gaussians(xs, np.full_like(xs, 0.3), p)  # no contrast: no period
    assert math.isnan(flat["period_m"]) and math.isnan(flat["dip"])


def test_statistics_count_separated_and_resolved_fits():
    p = 8.4e-3
    sharp, smeared = _blurred(p, 0.6e-3), _blurred(p, 6e-3)  # bars separated / merged into one
    outputs = torch.stack([torch.stack([sharp, sharp, smeared, torch.zeros_like(sharp)])])  # (1, 4, ny, nx)
    fits = fit_gratings(GRID, outputs, [p], REGION)
    assert len(fits) == 1 and len(fits[0]) == 4
    assert math.isnan(fits[0][3]["period_m"])  # a dark image: nothing to measure, a failed fit
    st = grating_statistics(fits[0], p)
    assert st["separated_fraction"] == st["resolved_fraction"] == 0.5
    assert st["fit_failures"] == 1
    # a design period 20 % off: the same fits separate the bars but resolve nothing
    assert grating_statistics(fits[0], 1.2 * p)["resolved_fraction"] == 0.0
    assert grating_statistics([{"period_m": math.nan, "dip": math.nan, "params": []}], p) == {
        "fitted_period_mean_m": pytest.approx(math.nan, nan_ok=True),
        "fitted_period_std_m": pytest.approx(math.nan, nan_ok=True),
        "fit_failures": 1, "separated_fraction": 0.0, "resolved_fraction": 0.0}
