"""Error models: statistics match the requested magnitudes, reproducible draws, presets,
clear errors for bad magnitudes."""

import math

import pytest
import torch

from hardware import (PRESETS, DetectorNoise, DiffractiveErrorModel, DiffractiveErrors, MeshErrorModel,
                      diffractive_error_model, mesh_error_model)
from photonics import ClementsMesh


def test_diffractive_statistics_match_magnitudes():
    model = DiffractiveErrorModel(shift_std=2e-4, rotation_std=0.01, gap_std=3e-4, phase_gain_std=0.05,
                                  phase_offset_std=0.2, input_shift_std=1e-4)
    e = model.sample(4000, generator=torch.Generator().manual_seed(0))
    # std estimates from n = 4000 (8000 for shifts) draws: relative standard error ≈ 1/sqrt(2n) ≈ 1.1%
    for value, want in ((e.layer_shift, 2e-4), (e.layer_rotation, 0.01), (e.gap_error, 3e-4),
                        (e.phase_gain - 1, 0.05), (e.phase_offset, 0.2)):
        assert float(value.std()) == pytest.approx(want, rel=0.05)
        assert abs(float(value.mean())) < 4 * want / math.sqrt(value.numel())


def test_lut_deviation_has_requested_rms_and_vanishes_at_zero():
    e = DiffractiveErrorModel(lut_nonlinearity=0.1, lut_points=32).sample(3000, generator=torch.Generator().manual_seed(1))
    assert torch.all(e.phase_lut[:, 0] == 0)
    # each of the 6 basis coefficients ~ N(0, 1)/sqrt(6): the rms deviation over φ is 0.1·sqrt(E[...]) —
    # compute it against the closed form: E|dev(φ)|² averaged over φ = 0.1²·(1/6)·Σ_k (mean(cos k φ − 1)² + mean sin² kφ)
    # = 0.1²·(1/6)·3·(1.5 + 0.5) = 0.1²
    assert float(e.phase_lut.pow(2).mean()) == pytest.approx(0.01, rel=0.05)


def test_mesh_statistics_match_sigma():
    mesh = ClementsMesh(64)
    e = MeshErrorModel(bs_sigma=0.06, ps_sigma=0.04).sample([mesh, mesh], generator=torch.Generator().manual_seed(2))
    assert len(e.meshes) == 2
    bs = torch.cat([m.bs_in.flatten() for m in e.meshes] + [m.bs_out.flatten() for m in e.meshes])
    ps = torch.cat([m.theta_offset.flatten() for m in e.meshes] + [m.phi_offset.flatten() for m in e.meshes])
    assert float(bs.std()) == pytest.approx(0.06, rel=0.03)
    assert float(ps.std()) == pytest.approx(0.04, rel=0.03)
    assert not torch.equal(e.meshes[0].bs_in, e.meshes[1].bs_in)  # independent per mesh


def test_same_generator_seed_same_realization():
    model = DiffractiveErrorModel(shift_std=1e-4, lut_nonlinearity=0.1)
    a = model.sample(3, generator=torch.Generator().manual_seed(9))
    b = model.sample(3, generator=torch.Generator().manual_seed(9))
    for n in DiffractiveErrors._TENSORS:
        assert torch.equal(getattr(a, n), getattr(b, n))


def test_presets_scale_with_geometry_and_parse_reference_levels():
    assert PRESETS["diffractive"] == ("none", "low", "medium", "high")
    med = diffractive_error_model("medium", pitch=1e-3, gap=0.1)
    assert med.shift_std == pytest.approx(0.25e-3) and med.gap_std == pytest.approx(0.5e-3)
    assert med.rotation_std == pytest.approx(math.radians(0.25))
    ref = mesh_error_model("bs=0.06,ps=0.06")
    assert (ref.bs_sigma, ref.ps_sigma, ref.loss_db, ref.crosstalk) == (0.06, 0.06, 0.0, 0.0)
    assert not ref.detector.active
    custom = diffractive_error_model("shift_px=0.5,rotation_deg=1,phase_bits=6,read_noise=0.01", pitch=2e-3, gap=0.1)
    assert custom.shift_std == pytest.approx(1e-3) and custom.phase_bits == 6
    assert custom.rotation_std == pytest.approx(math.radians(1)) and custom.detector.read_noise == 0.01
    severities = [mesh_error_model(p).bs_sigma for p in ("none", "low", "medium", "high")]
    assert severities == sorted(severities)


@pytest.mark.parametrize("kw,match", [
    (dict(shift_std=-1e-4), "shift_std must be a finite number ≥ 0"),
    (dict(rotation_std=float("nan")), "rotation_std"),
    (dict(fill_factor=0.0), "fill_factor"),
    (dict(phase_bits=-2), "phase_bits"),
    (dict(phase_bits=3.5), "phase_bits"),
])
def test_bad_diffractive_magnitudes(kw, match):
    with pytest.raises(ValueError, match=match):
        DiffractiveErrorModel(**kw)


def test_bad_mesh_and_detector_magnitudes():
    with pytest.raises(ValueError, match="bs_sigma must be a finite number ≥ 0"):
        MeshErrorModel(bs_sigma=-0.1)
    with pytest.raises(ValueError, match="read_noise"):
        DetectorNoise(read_noise=-1)
    with pytest.raises(ValueError, match="unknown mesh preset 'severe'"):
        mesh_error_model("severe")
    with pytest.raises(ValueError, match="must be a number"):
        mesh_error_model("bs=lots")
    with pytest.raises(TypeError, match="explicit torch.Generator"):
        DiffractiveErrorModel().sample(2, generator=None)
    with pytest.raises(ValueError, match="layer_shift must have shape"):
        e = DiffractiveErrors.none(2)
        DiffractiveErrors(torch.zeros(3, 2, dtype=torch.float64), *(getattr(e, n) for n in DiffractiveErrors._TENSORS[1:]))


def test_phase_quantization_snaps_to_the_nearest_of_2_to_the_bits_levels():
    # 2 bits: drive levels 0, π/2, π, 3π/2; a programmed phase goes to the nearest level (mod 2π)
    import math

    from hardware.diffractive import applied_phase

    errors = DiffractiveErrorModel(phase_bits=2).sample(1, generator=torch.Generator().manual_seed(0))
    step = math.pi / 2
    phase = torch.tensor([[0.1, 0.7, 1.6, 2.4, 3.3, 4.0, 5.0, 6.2, -0.3, 7.0]], dtype=torch.float64)
    # nearest level by hand: 0.1/(π/2) = 0.06 → 0, 0.7 → 0.45 → 0, 1.6 → 1.02 → 1, 2.4 → 1.53 → 2,
    # 3.3 → 2.10 → 2, 4.0 → 2.55 → 3, 5.0 → 3.18 → 3, 6.2 → 3.95 → 4 ≡ 0, −0.3 ≡ 5.98 → 3.81 → 0,
    # 7.0 ≡ 0.72 → 0.46 → 0
    expected = torch.tensor([[0, 0, 1, 2, 2, 3, 3, 0, 0, 0]], dtype=torch.float64) * step
    got = applied_phase(phase, errors, 0)
    assert torch.allclose(got, expected, atol=1e-12)
    assert set(torch.round(got / step).long().view(-1).tolist()) == {0, 1, 2, 3}


def test_phase_quantization_with_3_bits_has_8_levels():
    # 3 bits: steps of π/4 (a rule like 2·bits levels would give 6); indices by hand:
    # 0.1/(π/4) = 0.13 → 0, 0.5 → 0.64 → 1, 1.0 → 1.27 → 1, 2.0 → 2.55 → 3, 3.0 → 3.82 → 4, 6.1 → 7.77 → 8 ≡ 0
    import math

    from hardware.diffractive import applied_phase

    errors = DiffractiveErrorModel(phase_bits=3).sample(1, generator=torch.Generator().manual_seed(0))
    phase = torch.tensor([[0.1, 0.5, 1.0, 2.0, 3.0, 6.1]], dtype=torch.float64)
    expected = torch.tensor([[0, 1, 1, 3, 4, 0]], dtype=torch.float64) * (math.pi / 4)
    assert torch.allclose(applied_phase(phase, errors, 0), expected, atol=1e-12)
