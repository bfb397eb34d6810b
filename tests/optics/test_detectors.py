"""Detector regions, region energies and the detector/diffuser modules."""

from __future__ import annotations

import math

import pytest
import torch

from optics import Diffuser, Field, Grid, RegionDetector
from optics.functional import (intensity, random_diffuser, region_energies, square_regions,
                               ten_region_layout)

D = 0.4e-3
LAM = 0.75e-3


def test_intensity():
    u = torch.tensor([[3 + 4j, 1j]], dtype=torch.complex128)
    torch.testing.assert_close(intensity(u), torch.tensor([[25.0, 1.0]], dtype=torch.float64))
    grid = Grid((1, 2), D)
    torch.testing.assert_close(intensity(Field(u, grid, LAM)), intensity(u))
    with pytest.raises(TypeError, match="complex"):
        intensity(torch.ones(2, 2))


def test_square_region_pixel_counts_and_position():
    grid = Grid((40, 40), D)
    regions = square_regions(grid, [(0.0, 0.0), (-10 * D, 8 * D)], 6 * D)
    assert regions.shape == (2, 40, 40) and regions.dtype == torch.bool
    assert regions.sum(dim=(-2, -1)).tolist() == [36, 36]
    rows, cols = torch.nonzero(regions[1], as_tuple=True)
    # row i sits at (i - 19.5) px: y = -10 ± 3 px -> rows 7..12; x = +8 ± 3 px -> cols 25..30
    assert (rows.min().item(), rows.max().item()) == (7, 12)
    assert (cols.min().item(), cols.max().item()) == (25, 30)
    odd = square_regions(Grid((41, 41), D), [(0.0, 0.0)], 5 * D)  # edges on pixel centres
    assert int(odd.sum()) == 25


def test_ten_region_layout_order_and_geometry():
    grid = Grid((100, 100), D)
    regions, centers = ten_region_layout(grid, size=8 * D, spacing=16 * D)
    assert regions.shape == (10, 100, 100)
    assert regions.sum(dim=(-2, -1)).tolist() == [64] * 10
    assert not bool((regions.sum(0) > 1).any())
    expected = [(-16, -16), (-16, 0), (-16, 16), (0, -24), (0, -8), (0, 8), (0, 24),
                (16, -16), (16, 0), (16, 16)]
    torch.testing.assert_close(centers, torch.tensor(expected, dtype=torch.float64) * D)
    y, x = grid.meshgrid()
    for k, (cy, cx) in enumerate(expected):  # mask centroids are the centres
        m = regions[k].double()
        assert (m * y).sum().item() / 64 == pytest.approx(cy * D, abs=1e-12)
        assert (m * x).sum().item() / 64 == pytest.approx(cx * D, abs=1e-12)


def test_region_errors_name_the_region():
    grid = Grid((40, 40), D)
    with pytest.raises(ValueError, match="regions 0 and 1 overlap"):
        square_regions(grid, [(0.0, 0.0), (0.0, 3 * D)], 4 * D)
    with pytest.raises(ValueError, match="region 1 .* outside the grid"):
        square_regions(grid, [(0.0, 0.0), (0.0, 18 * D)], 6 * D)
    with pytest.raises(ValueError, match="outside the grid"):
        ten_region_layout(grid, size=8 * D)  # 4-row spans 8·8 px > 40 px
    with pytest.raises(ValueError, match="overlap"):
        ten_region_layout(Grid((200, 200), D), size=8 * D, spacing=6 * D)
    square_regions(grid, [(0.0, -2 * D), (0.0, 2 * D)], 4 * D)  # abutting is fine
    with pytest.raises(ValueError, match="size"):
        square_regions(grid, [(0.0, 0.0)], -D)
    with pytest.raises(ValueError, match=r"\(R, 2\)"):
        square_regions(grid, [0.0, 0.0], D)


def test_energies_closed_form_and_tiling_sums_to_power():
    grid = Grid((24, 30), (D, 1.5 * D))
    g = torch.Generator().manual_seed(0)
    u = torch.randn(2, 3, 24, 30, dtype=torch.complex128, generator=g)
    field = Field(u, grid, LAM)
    # 4 × 5 tiles of 6 × 6 px covering the grid exactly
    centers = [((i - 1.5) * 6 * D, (j - 2) * 9 * D) for i in range(4) for j in range(5)]
    regions = square_regions(grid, centers, (6 * D, 9 * D))
    assert bool((regions.sum(0) == 1).all())
    e = region_energies(field, regions)
    assert e.shape == (2, 3, 20)
    torch.testing.assert_close(e.sum(-1), field.power(), rtol=1e-12, atol=0)
    # one region by hand: Σ|u|² dA over its 6 × 6 pixels
    torch.testing.assert_close(e[..., 0], (u[..., :6, :6].abs() ** 2).sum((-2, -1)) * grid.cell_area)
    # weights are honoured and tensors work with grid=
    w = regions.double() * 0.5
    torch.testing.assert_close(region_energies(u, w, grid=grid), e * 0.5)


def test_region_energies_gradcheck():
    grid = Grid((6, 5), D)
    u = torch.randn(2, 6, 5, dtype=torch.complex128, generator=torch.Generator().manual_seed(1),
                    requires_grad=True)
    w = torch.rand(3, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert torch.autograd.gradcheck(lambda u: region_energies(u, w, grid=grid), (u,))


def test_region_energies_errors():
    grid = Grid((6, 5), D)
    u = torch.zeros(6, 5, dtype=torch.complex64)
    with pytest.raises(ValueError, match="grid="):
        region_energies(u, torch.ones(1, 6, 5))
    with pytest.raises(ValueError, match=r"\(R, ny, nx\)"):
        region_energies(u, torch.ones(6, 5), grid=grid)
    with pytest.raises(ValueError, match=r"\(R, ny, nx\)"):
        region_energies(u, torch.ones(1, 5, 6), grid=grid)


def test_region_detector_module():
    grid = Grid((60, 60), D)
    regions, _ = ten_region_layout(grid, size=5 * D)
    det = RegionDetector(grid, regions)
    assert "regions" not in det.state_dict()
    f = Field(torch.ones(4, 60, 60, dtype=torch.complex64), grid, LAM)
    e = det(f)
    assert e.shape == (4, 10) and e.dtype == torch.float32
    torch.testing.assert_close(e, torch.full((4, 10), 25 * grid.cell_area))
    with pytest.raises(ValueError, match=r"grid Grid\(shape=\(60, 61\).*layer's grid Grid\(shape=\(60, 60\)"):
        det(Field(torch.ones(60, 61, dtype=torch.complex64), Grid((60, 61), D), LAM))
    with pytest.raises(TypeError, match="Field"):
        det(torch.ones(60, 60, dtype=torch.complex64))


def test_diffuser_module():
    grid = Grid((32, 32), 0.3e-3)
    mod = Diffuser(grid, LAM, sigma=2 * LAM, generator=torch.Generator().manual_seed(5))
    expected = random_diffuser(grid, LAM, sigma=2 * LAM, generator=torch.Generator().manual_seed(5))
    assert torch.equal(mod.transmittance, expected)
    assert "transmittance" not in mod.state_dict() and len(list(mod.parameters())) == 0
    u = torch.randn(3, 32, 32, dtype=torch.complex128, generator=torch.Generator().manual_seed(6))
    out = mod(Field(u, grid, LAM))
    assert out.dtype == torch.complex128
    torch.testing.assert_close(out.data, u * expected.to(torch.complex128))
    before = mod.transmittance.clone()
    mod.resample(generator=torch.Generator().manual_seed(7))
    assert not torch.equal(mod.transmittance, before)
    assert mod.transmittance.dtype == torch.complex64
    with pytest.raises(ValueError, match=r"wavelength 0.0005 m does not match the layer's wavelength 0.00075 m"):
        mod(Field(u, grid, 0.5e-3))
    with pytest.raises(ValueError, match="grid"):
        mod(Field(torch.zeros(32, 32, dtype=torch.complex64), Grid((32, 32), 0.4e-3), LAM))
    with pytest.raises(TypeError, match="generator"):
        Diffuser(grid, LAM, sigma=2 * LAM)
    assert math.isclose(mod.sigma, 1.5e-3)
