"""Fabrication export: phase ↔ height, quantization, absorption and the file writers, each
file read back by an independent reader (PIL, h5py, numpy-stl, gdstk)."""

import collections
import json
import math

import numpy as np
import pytest
import torch

from hardware.export import (HeightMap, amplitude_transmission, export_heights, height_to_phase, phase_to_height,
                             quantize)
from hardware.materials import MATERIALS, Material, get_material
from hardware import writers

WL, PITCH, BASE = 0.75e-3, 0.4e-3, 0.5e-3


def _design(levels=8, shape=(2, 12, 10), seed=0):
    g = torch.Generator().manual_seed(seed)
    ph = torch.rand(shape, generator=g, dtype=torch.float64) * 6 * math.pi - 3 * math.pi
    return ph, export_heights(ph, wavelength=WL, pitch=PITCH, material="thz-resin", levels=levels, base_thickness=BASE)


def _wrapped_diff(a, b):
    return torch.remainder(a - b + math.pi, 2 * math.pi) - math.pi


@pytest.mark.parametrize("levels", [None, 2, 5, 16])
def test_phase_height_phase_round_trip_within_one_step(levels):
    ph = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    h = phase_to_height(ph, wavelength=WL, n=1.5, levels=levels, base_thickness=BASE)
    back = height_to_phase(h, wavelength=WL, n=1.5, base_thickness=BASE)
    err = _wrapped_diff(back, ph).abs().max()
    tol = 1e-9 if levels is None else math.pi / levels + 1e-9  # half a step
    assert err <= tol
    assert float(h.min()) >= BASE and float(h.max()) < BASE + WL / 0.5 + 1e-12  # relief in [0, λ/(n−1))


def test_closed_forms_and_quantize_levels():
    # λ/(n − 1) of relief is a 2π delay; φ = π is half of it
    assert float(phase_to_height(torch.tensor(math.pi), wavelength=WL, n=1.75)) == pytest.approx(0.5 * WL / 0.75)
    relief, idx = quantize(torch.tensor([0.0, 0.24, 0.26, 0.99]), levels=4, period=1.0)
    assert idx.tolist() == [0, 1, 1, 0] and relief.tolist() == [0.0, 0.25, 0.25, 0.0]
    h = torch.tensor([0.0, 1e-3])
    amp = amplitude_transmission(h, wavelength=WL, material="thz-resin")
    assert amp[0] == 1 and float(amp[1]) == pytest.approx(math.exp(-2 * math.pi * 0.031 * 1e-3 / WL))


def test_materials_table_has_sources():
    for m in MATERIALS.values():
        assert m.refractive_index > 1 and m.extinction >= 0 and m.source and m.wavelength > 0
    assert get_material("fused-silica").refractive_index == pytest.approx(1.457, abs=1e-3)


@pytest.mark.parametrize("call, match", [
    (lambda: phase_to_height(torch.zeros(3), wavelength=WL, n=1.5, levels=1), "levels must be an integer ≥ 2"),
    (lambda: phase_to_height(torch.zeros(3), wavelength=WL, n=1.0), "refractive_index must be a finite number > 1"),
    (lambda: phase_to_height(torch.tensor([0.0, float("nan")]), wavelength=WL, n=1.5), "NaN"),
    (lambda: phase_to_height(torch.zeros(3), wavelength=WL, material="unobtainium"), "unknown material"),
    (lambda: phase_to_height(torch.zeros(3), wavelength=-1.0, n=1.5), "wavelength must be > 0"),
    (lambda: phase_to_height(torch.zeros(3), wavelength=WL, n=1.5, base_thickness=-1e-3), "base_thickness"),
    (lambda: Material("x", 1.5, -0.1, WL, "s"), "extinction"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_hdf5_round_trip(tmp_path):
    _, hm = _design()
    back = writers.read_hdf5(writers.write_hdf5(hm, tmp_path / "d.h5"))
    assert torch.equal(back.height, hm.height) and torch.equal(back.level, hm.level)
    assert (back.levels, back.pitch, back.wavelength, back.base_thickness) == (8, PITCH, WL, BASE)
    assert back.material == hm.material
    import h5py
    with h5py.File(tmp_path / "d.h5") as f:
        assert f.attrs["schema"] == writers.SCHEMA and f["height"].attrs["units"].startswith("m")
        assert np.allclose(f["amplitude_transmission"][()], hm.amplitude().numpy())


@pytest.mark.parametrize("levels", [8, None])
def test_png16_full_range_and_json_scale_round_trip(tmp_path, levels):
    from PIL import Image

    _, hm = _design(levels=levels)
    files = writers.write_png16(hm, tmp_path)
    img = np.asarray(Image.open(files[0])).astype(np.int64)  # read back by an independent decoder
    assert Image.open(files[0]).mode.startswith("I;16") and img.shape == (12, 10)
    meta = json.loads(files[1].read_text())
    assert meta["m_per_pixel"] == PITCH and meta["levels"] == levels and meta["bit_depth"] == 16
    heights = meta["height_at_zero_m"] + img * meta["m_per_count"]
    if levels:
        # level k at count round(k·65535/(N−1)): the lowest level is 0, the highest 65535
        level = hm.level[0].numpy()
        assert meta["counts_per_level"] == pytest.approx(65535 / 7)
        assert np.array_equal(img, np.round(level * 65535 / 7).astype(np.int64))
        assert np.array_equal(np.round(img / meta["counts_per_level"]), level)  # the level is recovered
        assert meta["m_per_level"] == pytest.approx(hm.step)
        # the scale maps counts to heights within half a count, far inside one quantization step
        assert meta["m_per_count"] == pytest.approx(hm.step * 7 / 65535)
        assert np.abs(heights - hm.height[0].numpy()).max() <= meta["m_per_count"] / 2 * (1 + 1e-9)
        assert meta["m_per_count"] / 2 < hm.step / 1000
    else:
        assert meta["m_per_count"] == pytest.approx(hm.period / 65535) and meta["counts_per_level"] is None
        assert np.abs(heights - hm.height[0].numpy()).max() <= meta["m_per_count"] / 2 * (1 + 1e-9)
    # the whole 16-bit range is used (this random design covers every level / the whole relief)
    if levels:
        assert img.min() == 0 and img.max() == 65535
    else:
        assert img.min() < 0.01 * 65535 and img.max() > 0.99 * 65535
    assert torch.allclose(writers.read_png16(files[0]), torch.from_numpy(heights))


def test_png16_sparse_levels_keep_the_common_scale(tmp_path):
    from PIL import Image

    # only levels 0 and 2 of 4 occur: level 2 is stored at round(2·65535/3), not stretched to 65535
    level = torch.tensor([[[0, 2], [2, 0]]])
    hm = HeightMap(BASE + level.double() * (WL / 0.7227 / 4), level, 4, PITCH, WL, get_material("thz-resin"), BASE)
    img = np.asarray(Image.open(writers.write_png16(hm, tmp_path)[0])).astype(np.int64)
    assert img.tolist() == [[0, 43690], [43690, 0]]


def test_csv_in_micrometres(tmp_path):
    _, hm = _design()
    path = writers.write_csv(hm, tmp_path)[1]
    assert "um" in path.read_text().splitlines()[0]
    assert np.allclose(np.loadtxt(path, delimiter=",") * 1e-6, hm.height[1].numpy(), atol=1e-12)


def _directed_edges_balanced(vectors):
    cnt = collections.Counter()
    for tri in np.round(vectors.astype(np.float64), 5):
        for a, b in ((0, 1), (1, 2), (2, 0)):
            cnt[(tuple(tri[a]), tuple(tri[b]))] += 1
    return all(cnt[(b, a)] == c for (a, b), c in cnt.items())


def test_stl_plate_is_closed_with_physical_size(tmp_path):
    mesh = pytest.importorskip("stl.mesh")
    _, hm = _design(levels=8)
    path = writers.write_stl(hm, tmp_path)[0]
    m = mesh.Mesh.from_file(str(path))
    assert b"units mm" in path.read_bytes()[:80]
    top = hm.height[0].numpy() * 1e3
    assert np.allclose(m.min_, [0, 0, 0], atol=1e-6)
    assert np.allclose(m.max_, [10 * 0.4, 12 * 0.4, top.max()], atol=1e-5)
    assert _directed_edges_balanced(m.vectors)  # closed and consistently oriented
    volume, _, _ = m.get_mass_properties()  # divergence theorem: needs a closed, outward surface
    assert volume == pytest.approx(top.sum() * 0.4**2, rel=1e-5)
    # a design without checkerboard corners is a 2-manifold: numpy-stl's exact closed test passes
    yy, xx = torch.meshgrid(torch.arange(9.0), torch.arange(7.0), indexing="ij")
    smooth = export_heights(0.05 * ((yy - 4) ** 2 + (xx - 3) ** 2), wavelength=WL, pitch=PITCH, n=1.72, levels=4,
                            base_thickness=BASE)
    assert mesh.Mesh.from_file(str(writers.write_stl(smooth, tmp_path, stem="s")[0])).is_closed(exact=True)


def test_stl_needs_a_base_plate(tmp_path):
    ph, _ = _design()
    hm = export_heights(ph, wavelength=WL, pitch=PITCH, n=1.7, levels=4)
    with pytest.raises(ValueError, match="base thickness > 0"):
        writers.write_stl(hm, tmp_path)


def _gds_cells(gdstk, hm, path):
    lib = gdstk.read_gds(str(writers.write_gds(hm, path)))
    assert lib.unit == pytest.approx(1e-6)
    return {c.name: c for c in lib.cells}


def _exact_level_areas(cell, levels):
    """Covered area (in pixels) per GDS layer: every polygon's area divided by the pixel area."""
    per = collections.defaultdict(float)
    for poly in cell.polygons:
        assert poly.datatype == 0
        per[poly.layer] += poly.area() / 400.0**2
    return [per.get(k, 0.0) for k in range(levels)]


def test_gds_one_layer_per_level_with_exact_areas(tmp_path):
    gdstk = pytest.importorskip("gdstk")
    _, hm = _design(levels=5)  # random levels: the worst case for merging
    cells = _gds_cells(gdstk, hm, tmp_path / "d.gds")
    assert sorted(cells) == ["LAYER0", "LAYER1"]
    for i in range(2):
        expected = torch.bincount(hm.level[i].flatten(), minlength=5).tolist()
        # areas are whole multiples of 400² µm² (exact in floating point): compare as pixel counts
        assert [round(a, 6) for a in _exact_level_areas(cells[f"LAYER{i}"], 5)] == expected
        assert len(cells[f"LAYER{i}"].polygons) < 12 * 10  # neighbouring pixels of a level are merged


def test_gds_merges_pixels_into_few_polygons(tmp_path):
    gdstk = pytest.importorskip("gdstk")
    # a smooth design (a lens-like phase, 64×64 pixels, 8 levels): concentric zones
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    hm = export_heights((0.004 * ((yy - 31.5) ** 2 + (xx - 31.5) ** 2))[None], wavelength=WL, pitch=PITCH,
                        material="thz-resin", levels=8, base_thickness=BASE)
    cell = _gds_cells(gdstk, hm, tmp_path / "lens.gds")["LAYER0"]
    assert len(cell.polygons) <= 64 * 64 / 50  # 4,096 pixels, a few dozen zones
    assert [round(a, 6) for a in _exact_level_areas(cell, 8)] == torch.bincount(hm.level[0].flatten(),
                                                                                minlength=8).tolist()
    # the union of all polygons of a level covers exactly its pixels (no overlap, no gaps)
    for k in range(8):
        mask = hm.level[0].numpy() == k
        polys = [q for q in cell.polygons if q.layer == k]
        centres = [((c + 0.5) * 400.0, (63 - r + 0.5) * 400.0) for r in range(64) for c in range(64)]
        inside = np.array(gdstk.inside(centres, polys)).reshape(64, 64)
        assert np.array_equal(inside, mask)


def test_level_rectangles_tile_exactly():
    g = torch.Generator().manual_seed(3)
    lev = torch.randint(0, 3, (9, 11), generator=g).numpy()
    lev[2:7, 3:9] = 1  # a block that stacks into one rectangle
    for k in range(3):
        cover = np.zeros_like(lev)
        for r0, r1, c0, c1 in writers.level_rectangles(lev, k):
            cover[r0:r1, c0:c1] += 1
        assert np.array_equal(cover, (lev == k).astype(cover.dtype))  # every pixel once, no other


def test_gds_needs_levels(tmp_path):
    pytest.importorskip("gdstk")
    _, hm = _design(levels=None)
    with pytest.raises(ValueError, match="levels"):
        writers.write_gds(hm, tmp_path / "d.gds")
