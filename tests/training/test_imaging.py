"""PCC regions of the imaging task against numpy's corrcoef on the selected pixels."""

import numpy as np
import pytest
import torch

from training.imaging import PCC_REGIONS, masked_pcc, region_pccs


def test_masked_pcc_is_corrcoef_on_the_masked_pixels():
    g = torch.Generator().manual_seed(3)
    a = torch.rand(4, 12, 10, generator=g, dtype=torch.float64)
    obj = torch.rand(4, 12, 10, generator=g, dtype=torch.float64) * (torch.rand(4, 12, 10, generator=g) > 0.6)
    got = masked_pcc(a, obj, obj > 0)
    for i in range(4):
        m = (obj[i] > 0).numpy()
        ref = np.corrcoef(a[i].numpy()[m], obj[i].numpy()[m])[0, 1]
        assert float(got[i]) == pytest.approx(ref, rel=1e-12)


def test_the_three_regions():
    g = torch.Generator().manual_seed(4)
    out = torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64)
    obj = torch.zeros(2, 16, 16, dtype=torch.float64)
    obj[:, 5:11, 6:9] = torch.rand(2, 6, 3, generator=g, dtype=torch.float64) + 0.1
    square = (slice(4, 12), slice(4, 12))
    r = region_pccs(out, obj, square)
    assert set(r) == set(PCC_REGIONS) and all(v.shape == (2, 3) for v in r.values())
    for b in range(2):
        for d in range(3):
            o, h = out[b, d].numpy(), obj[b].numpy()
            assert float(r["canvas"][b, d]) == pytest.approx(np.corrcoef(o.ravel(), h.ravel())[0, 1], rel=1e-12)
            sq = np.corrcoef(o[4:12, 4:12].ravel(), h[4:12, 4:12].ravel())[0, 1]
            assert float(r["square"][b, d]) == pytest.approx(sq, rel=1e-12)
            m = h > 0
            assert float(r["support"][b, d]) == pytest.approx(np.corrcoef(o[m], h[m])[0, 1], rel=1e-12)


def test_a_constant_target_on_its_support_gives_zero_not_nan():
    out = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    obj = torch.zeros(1, 8, 8, dtype=torch.float64)
    obj[:, 2:6, 2:6] = 1.0  # binary object: constant on its support
    assert float(region_pccs(out, obj, (slice(0, 8), slice(0, 8)))["support"]) == 0.0


@pytest.mark.parametrize("object_to_diffuser,distances", [(-0.04, [0.002, 0.002, 0.007]),
                                                          (0.04, [0.002, -0.002, 0.007]),
                                                          (0.04, [0.002, 0.002, float("nan")])])
def test_the_imager_propagates_forward_only(object_to_diffuser, distances):
    from optics import Grid
    from training.imaging import DiffuserImager

    with pytest.raises(ValueError, match="every distance must be finite and ≥ 0 m"):
        DiffuserImager(Grid(16, 3e-4), 7.5e-4, 2, object_to_diffuser=object_to_diffuser, distances=distances)
