"""diffuser-imaging / diffuser-study (docs/references.md#diffusers): loss pieces against independent
references, the misalignment conventions of the network, the grating period fit, the
diffusers the experiment draws, and resumption. (Both experiments also run at smoke scale in
test_cli_and_records.py, which runs every registered experiment.)"""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from experiments.diffusers import evaluation as ev
from experiments.diffusers import study as diffuser_study
from experiments.diffusers.imaging import (ImagingConfig, build_imaging_network, draw_diffusers, encode_objects,
                                          imaging_objective, load_objects, new_diffusers, object_region, pair_pcc,
                                          train_imaging)
from hardware import displacement_errors
from optics.functional import apply_transfer_function, asm_transfer_function, diffuser_correlation
from training import pcc

pytestmark = pytest.mark.filterwarnings("ignore::optics.SamplingWarning")

TINY = dict(grid_px=24, object_px=12, layers=2, diffusers_per_epoch=2, n_train=4, epochs=2, n_test=2,
            n_new_diffusers=2, n_val=2, n_val_new=1, eval_batch=4, grating_periods_mm="1.2")


def test_pcc_matches_numpy_corrcoef():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 7, 9, generator=g, dtype=torch.float64)
    b = a**2 + 0.3 * torch.rand(3, 7, 9, generator=g, dtype=torch.float64)
    ref = [np.corrcoef(a[i].numpy().ravel(), b[i].numpy().ravel())[0, 1] for i in range(3)]
    np.testing.assert_allclose(pcc(a, b).numpy(), ref, rtol=1e-12)


def test_pair_pcc_uses_the_object_region_only():
    cfg = ImagingConfig(**TINY)
    g = torch.Generator().manual_seed(1)
    out = torch.rand(2, 3, 24, 24, generator=g, dtype=torch.float64)
    obj = torch.rand(2, 24, 24, generator=g, dtype=torch.float64)
    ry, rx = object_region(cfg)
    assert (ry.start, ry.stop) == (6, 18)  # centred as training.transforms.pad_to places 12 px in 24
    got = pair_pcc(out, obj, cfg)
    ref = [[np.corrcoef(out[i, k, ry, rx].numpy().ravel(), obj[i, ry, rx].numpy().ravel())[0, 1] for k in range(3)]
           for i in range(2)]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12)
    out2 = out.clone()
    out2[..., :6, :] = 1e6  # light outside the region does not change the PCC
    torch.testing.assert_close(pair_pcc(out2, obj, cfg), got)


def test_objective_energy_term_by_hand():
    """E = Σ[α(1−m)o − βmo]/Σm over the whole window, with −PCC over the object region."""
    cfg = ImagingConfig(**{**TINY, "grid_px": 4, "object_px": 2})
    h = torch.zeros(1, 4, 4, dtype=torch.float64)
    h[0, 1, 1], h[0, 1, 2], h[0, 2, 1] = 1.0, 0.5, 0.25  # support m: 3 pixels (one region pixel is 0)
    o = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    o[0, 0, 1, 1], o[0, 0, 2, 2], o[0, 0, 0, 0], o[0, 0, 3, 1] = 2.0, 1.0, 4.0, 1.0
    # inside the support: o = 2 (at h=1); outside: 1 + 4 + 1 = 6
    energy = (1.0 * 6.0 - 0.5 * 2.0) / 3.0
    region_o, region_h = np.array([2.0, 0, 0, 1.0]), np.array([1.0, 0.5, 0.25, 0])
    r = np.corrcoef(region_o, region_h)[0, 1]
    assert imaging_objective(o, h, cfg).item() == pytest.approx(-r + energy, rel=1e-12)


def test_imager_equals_the_hand_chained_angular_spectrum():
    """The OpticalSystem network against its definition written out with optics.functional:
    object → z → diffuser → (d_l → phase layer l) × L → d_L → |u|²."""
    cfg = ImagingConfig(**TINY)
    model = build_imaging_network(cfg)
    g = torch.Generator().manual_seed(4)
    phases = 2 * math.pi * torch.rand(cfg.layers, 24, 24, generator=g)
    model.load_phases(phases)
    obj = torch.rand(2, 24, 24, generator=g)
    dif = draw_diffusers(cfg, 3, g)

    def prop(u, z):
        return apply_transfer_function(u, asm_transfer_function(cfg.grid, cfg.wavelength_m, z, pad_factor=2.0))

    u = prop(obj.to(torch.complex64), cfg.object_to_diffuser_m)[:, None] * dif
    for layer, d in enumerate([cfg.diffuser_to_layer_m] + [cfg.layer_gap_m] * (cfg.layers - 1)):
        u = prop(u, d) * torch.polar(torch.ones_like(phases[layer]), phases[layer])
    ref = prop(u, cfg.layer_to_output_m).abs() ** 2
    got = model.image(obj, dif)
    assert got.shape == (2, 3, 24, 24)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6 * float(ref.max()))
    torch.testing.assert_close(model.phase, phases)
    # without a diffuser: one output per object, the bare field
    torch.testing.assert_close(model.image(obj, None)[:, 0], model.image(obj, torch.ones(1, 24, 24, dtype=torch.complex64))[:, 0])


def test_integer_layer_shift_equals_rolled_mask():
    cfg = ImagingConfig(**TINY)
    model = build_imaging_network(cfg)
    g = torch.Generator().manual_seed(2)
    model.load_phases(2 * math.pi * torch.rand(cfg.layers, 24, 24, generator=g))
    obj = torch.rand(2, 24, 24, generator=g)
    dif = draw_diffusers(cfg, 2, g)
    shifts = torch.tensor([[2 * cfg.pitch_m, -1 * cfg.pitch_m], [0.0, 3 * cfg.pitch_m]])
    got = model.image(obj, dif, errors=displacement_errors(shifts, torch.zeros(2)))
    rolled = build_imaging_network(cfg)
    rolled.load_phases(torch.stack([torch.roll(model.phase[0], (2, -1), (0, 1)),
                                    torch.roll(model.phase[1], (0, 3), (0, 1))]))
    torch.testing.assert_close(got, rolled.image(obj, dif), rtol=2e-4, atol=1e-6 * got.max().item())


def test_axial_displacement_moves_the_layer():
    """δ on layer 0 of 2: the gap in front grows by δ, the gap behind shrinks by δ."""
    cfg = ImagingConfig(**TINY)
    d = 0.4e-3
    moved = ImagingConfig(**{**TINY, "diffuser_to_layer_m": cfg.diffuser_to_layer_m + d,
                             "layer_gap_m": cfg.layer_gap_m - d})
    a, b = build_imaging_network(cfg), build_imaging_network(moved)
    g = torch.Generator().manual_seed(3)
    a.load_phases(torch.rand(cfg.layers, 24, 24, generator=g))
    b.load_phases(a.phase)
    obj = torch.rand(1, 24, 24, generator=g)
    errors = displacement_errors(torch.zeros(2, 2), torch.tensor([d, 0.0]))
    torch.testing.assert_close(a.image(obj, None, errors=errors), b.image(obj, None), rtol=1e-4, atol=1e-7)


def test_gratings_lie_in_the_object_region():
    """(The gratings and their fit: tests/training/test_resolution.py.)"""
    cfg = ImagingConfig(grid_px=120, object_px=80)
    g = ev.grating_objects(cfg, [7.2e-3])[0]
    ry, rx = object_region(cfg)
    assert g.sum() == g[ry, rx].sum() > 0  # inside the PCC region
    with pytest.raises(ValueError, match="does not fit the 24.0 mm object region"):
        ev.grating_objects(cfg, [12e-3])


def test_lens_geometry_2f_and_a_well_sampled_pupil():
    paper = ev.lens_geometry(ImagingConfig())
    assert paper["u_m"] == pytest.approx(42e-3) and paper["v_m"] == pytest.approx(42e-3)
    assert paper["magnification"] == pytest.approx(-1.0)
    # local frequency r/(λf) at the rim = 1/(4d): half of Nyquist; inside both windows' half widths
    assert paper["pupil_radius_m"] == pytest.approx(0.75e-3 * 21e-3 / (4 * 0.3e-3))
    assert ev.lens_geometry(ImagingConfig(grid_px=120, object_px=80))["pupil_radius_m"] == pytest.approx(13.125e-3)


def test_the_well_sampled_lens_images_better_than_one_at_nyquist(monkeypatch):
    # Without a diffuser, the lens with the chosen pupil reproduces objects better (support-region
    # PCC) than the same lens opened to 0.99 of the Nyquist radius, where its outer zones alias.
    cfg = ImagingConfig(grid_px=120, object_px=80)
    objects = encode_objects(cfg, load_objects(cfg, "train", 6))
    chosen = ev.baseline_pcc(cfg, ev.lens_output, objects, None, region="support")
    wide = {**ev.lens_geometry(cfg), "pupil_radius_m": 0.99 * cfg.wavelength_m * cfg.lens_focal_m / (2 * cfg.pitch_m)}
    wide["pupil_radius_m"] = min(wide["pupil_radius_m"], cfg.grid_px * cfg.pitch_m / 2)
    monkeypatch.setattr(ev, "lens_geometry", lambda c: wide)
    opened = ev.baseline_pcc(cfg, ev.lens_output, objects, None, region="support")
    assert chosen > opened + 0.02


def test_training_and_test_diffusers_are_independent_and_mixed_sigma_cycles():
    cfg = ImagingConfig(diffuser_sigma_mix="2,4")  # the eLight 240² plane
    train = draw_diffusers(cfg, 4, torch.Generator().manual_seed(0))
    test = new_diffusers(cfg, 4, sigma_lambda=[2, 4])
    # independent draws: |ρ| ~ (coherence area / area)^½ ≈ 0.05 (well below 0.2)
    assert (diffuser_correlation(train, test).abs() < 0.2).all()
    # the mix cycles σ = 2λ, 4λ, 2λ, 4λ: |<t>| = exp(-s²/2) with the phase std
    # s = 2πΔn σ_h / (λ · 2√π σ_px) (tests/optics/test_diffuser.py): 2.10 rad -> 0.110,
    # 1.05 rad -> 0.576; the plane average scatters by ≈ 0.05 per draw.
    mean_t = train.mean(dim=(-2, -1)).abs()
    for k, s in enumerate([2, 4, 2, 4]):
        s_phase = 2 * math.pi * 0.74 * 8 / (2 * math.sqrt(math.pi) * s * 0.75 / 0.3)
        assert mean_t[k].item() == pytest.approx(math.exp(-s_phase**2 / 2), abs=0.1)


def test_train_imaging_resume_equals_uninterrupted(tmp_path):
    cfg = ImagingConfig(**TINY)
    full = train_imaging(cfg, tmp_path / "full", progress=False)
    one = ImagingConfig(**{**TINY, "epochs": 1})
    train_imaging(one, tmp_path / "cut", progress=False)
    resumed = train_imaging(cfg, tmp_path / "cut", resume=True, progress=False)
    torch.testing.assert_close(resumed["model"].phase, full["model"].phase)
    torch.testing.assert_close(resumed["known_diffusers"], full["known_diffusers"])
    assert [h["loss"] for h in resumed["history"]] == pytest.approx([h["loss"] for h in full["history"]])


def test_vaccination_displacements_enter_the_training_forward(tmp_path):
    # Independent reference for the first Adam step of a 'noise' run: draw the displacements
    # from the engine's documented error stream (seed·1000033 + epoch + 17) and the batch from
    # its order stream (seed·1000003 + epoch); Adam's first update is −lr·g/(|g| + eps).
    from hardware import LayerDisplacements
    from experiments.diffusers.imaging import _epoch_generator, encode_objects, load_objects

    cfg = ImagingConfig(**{**TINY, "epochs": 1, "batch_size": 4, "lr": 0.01})
    vac = LayerDisplacements(shift_max=2 * cfg.pitch_m, axial_max=0.5e-3)
    trained = train_imaging(cfg, tmp_path, misalignment=vac, progress=False)["model"].phase.detach()
    model = build_imaging_network(cfg)
    shifts, delta = vac.displacements(cfg.layers, generator=torch.Generator().manual_seed(cfg.seed * 1_000_033 + 17))
    assert float(shifts.abs().max()) > 0 and float(delta.abs().max()) > 0
    params = [m.phase for m in model.masks]
    order = torch.randperm(cfg.n_train, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003))
    x = encode_objects(cfg, load_objects(cfg, "train", cfg.n_train)[order[:4]])
    known = draw_diffusers(cfg, cfg.diffusers_per_epoch, _epoch_generator(cfg, 0))
    loss = imaging_objective(model.image(x, known, errors=displacement_errors(shifts, delta)), x, cfg)
    g = torch.stack(torch.autograd.grad(loss, params))
    expected = -cfg.lr * g / (g.abs() + 1e-8)
    torch.testing.assert_close(trained, expected, rtol=1e-3, atol=1e-6)
    # without the displacements the step is measurably different
    loss0 = imaging_objective(model.image(x, known), x, cfg)
    g0 = torch.stack(torch.autograd.grad(loss0, params))
    assert (trained - (-cfg.lr * g0 / (g0.abs() + 1e-8))).abs().max() > 1e-3 * cfg.lr


def test_vaccinated_training_resumes_with_the_same_displacement_stream(tmp_path):
    from hardware import LayerDisplacements

    cfg = ImagingConfig(**{**TINY, "epochs": 3, "batch_size": 2, "lr": 0.01})
    vac = LayerDisplacements(shift_max=1.5 * cfg.pitch_m, axial_max=0.4e-3)
    full = train_imaging(cfg, tmp_path / "full", misalignment=vac, progress=False)
    train_imaging(ImagingConfig(**{**TINY, "epochs": 1, "batch_size": 2, "lr": 0.01}), tmp_path / "cut",
                  misalignment=vac, progress=False)
    resumed = train_imaging(cfg, tmp_path / "cut", misalignment=vac, resume=True, progress=False)
    torch.testing.assert_close(resumed["model"].phase, full["model"].phase, rtol=0, atol=0)


def test_study_points_dedupe_and_resume_skips_finished(tmp_path, monkeypatch):
    cfg = diffuser_study.StudyConfig(**{**TINY, "epochs": 1}, n_sweep="1,2", depth_sweep="2", sigma_train="4",
                                     sigma_mix_train="", sigma_test="4")
    points, sweeps = diffuser_study.sweep_points(cfg)
    assert len(points) == 2  # n=2, depth 2, σ 4 are the base point
    assert sweeps["n"][1][1] == sweeps["depth"][0][1] == sweeps["sigma"][0][1]
    first = diffuser_study.run(cfg, tmp_path)
    import experiments.diffusers.imaging as di

    def boom(*a, **k):
        raise AssertionError("a finished point was trained again")

    monkeypatch.setattr(di, "train_imaging", boom)
    again = diffuser_study.run(cfg, tmp_path, resume=True)
    assert json.dumps(again["points"], sort_keys=True) == json.dumps(first["points"], sort_keys=True)


def test_reproduction_doc_is_generated_from_the_records(tmp_path):
    from experiments.__main__ import main
    from experiments.diffusers import imaging as diffuser_imaging

    im = tmp_path / "im"
    (im / "figures").mkdir(parents=True)
    s = diffuser_imaging.run(ImagingConfig(**{**TINY, "epochs": 1}), im)
    st = tmp_path / "st"
    diffuser_study.run(diffuser_study.StudyConfig(**{**TINY, "epochs": 1}, n_sweep="1,2", depth_sweep="1,2",
                                                  sigma_train="2,4", sigma_mix_train="2,4", sigma_test="2,4"), st)
    doc = tmp_path / "docs" / "diffusers.md"
    assert main(["report", "diffusers", str(im), str(st), str(im), "--out", str(doc)]) == 0
    text = doc.read_text()
    assert f"{s['pcc_new']:.4f}" in text and f"{s['pcc_lens_new']:.4f}" in text
    # the region table: support | square | canvas of the new diffusers, and a secondary run region by region
    assert f"| {s['pcc_new_support']:.4f} | {s['pcc_new']:.4f} | {s['pcc_new_canvas']:.4f} |" in text
    # the study's points in the support region too, read from its progress record
    prog = json.loads((st / "progress.json").read_text())
    for point in prog.values():
        for reg in ("", "_support", "_canvas"):
            assert point[f"gap_known_minus_new{reg}"] == pytest.approx(point[f"pcc_known{reg}"] - point[f"pcc_new_own{reg}"])
    # the n and depth tables list their points' support PCCs (the σ points have their own table)
    assert sum(f"| {pt['pcc_known_support']:.4f} | {pt['pcc_new_own_support']:.4f} |" in text for pt in prog.values()) >= 2
    assert "; support " in text.split("## Training strategies")[1]
    secondary = text.split("### Secondary diffuser-imaging runs")[1]
    for reg, key in (("support", "pcc_new_support"), ("square", "pcc_new"), ("canvas", "pcc_new_canvas")):
        assert f"| {reg} | {s[key.replace('new', 'known')]:.4f} | {s[key]:.4f} |" in secondary
    assert "## Vaccination against misalignment\n\nNot included" in text and "Correlation length" in text
    for link in __import__("re").findall(r"\]\((diffusers_figures/[^)]+)\)", text):
        assert (doc.parent / link).is_file(), link


def test_report_criteria_are_decided_on_the_support_region():
    from experiments.diffusers.imaging import INDEPENDENT, SCALES
    from experiments.diffusers.report import CRITERIA, _checks

    cfg = {**dataclasses.asdict(ImagingConfig()), **SCALES["full-window"]}
    grating = {"period_m": CRITERIA["grating_period_m"], "resolved_fraction": 0.95}
    s = {"pcc_new_support": 0.70, "pcc_lens_new_support": 0.60, "pcc_free_space_new_support": 0.50,
         "pcc_gap_known_minus_new_support": 0.01, "gratings": [grating],
         # square numbers that would fail every bar: the criteria must not read them
         "pcc_new": 0.1, "pcc_lens_new": 0.9, "pcc_free_space_new": 0.9, "pcc_gap_known_minus_new": 0.5}
    checks, text = _checks(s, cfg)
    assert checks == {"above_lens": True, "above_free_space": True, "gap": True, "grating": True, "independent": True}
    assert text.count("**met**") == 5
    worse = {**s, "pcc_lens_new_support": 0.68, "pcc_free_space_new_support": 0.60,
             "pcc_gap_known_minus_new_support": -0.03, "gratings": [{**grating, "resolved_fraction": 0.85}]}
    checks, text = _checks(worse, cfg)
    assert not any(checks.values()) and text.count("**not met**") == 5
    assert abs(0.60 - INDEPENDENT["free_space_new_support"]) > CRITERIA["independent_tolerance"]
    # the half window has neither the 10.8 mm grating nor the published geometry
    half = {**dataclasses.asdict(ImagingConfig()), **SCALES["cpu"]}
    checks, text = _checks({**s, "gratings": []}, half)
    assert checks["grating"] is None and "independent" not in checks and "does not fit" in text


def test_report_recounts_separated_gratings_of_an_older_record(tmp_path):
    """Records written before the summary held ``separated_fraction`` (their config still held the
    run's device): the report rebuilds the network from ``model.pt`` and the new diffusers from
    the seed, and counts what the run itself counted."""
    import shutil

    from experiments.diffusers import imaging as diffuser_imaging
    from experiments.diffusers.report import _grating_dips

    im = tmp_path / "im"
    (im / "figures").mkdir(parents=True)
    diffuser_imaging.run(ImagingConfig(**{**TINY, "epochs": 1, "grating_periods_mm": "0.9,1.2"}), im)
    gratings = json.loads((im / "summary.json").read_text())["gratings"]
    assert len(gratings) == 2
    old = tmp_path / "old"
    shutil.copytree(im, old)
    cfg = json.loads((old / "config.json").read_text())["config"]
    assert _grating_dips(old, {**cfg, "device": "cpu"}) == [g["separated_fraction"] for g in gratings]
