"""The vaccination experiment: configuration checks, the test-misalignment grid, that the
vaccinated arm really trains through fresh uniform displacements, the done-when rule, and a
resumed run that recomputes nothing."""

import json

import pytest
import torch

from experiments import vaccination as vac
from experiments.__main__ import main
from experiments.registry import EXPERIMENTS, build_config
from training import Trainer, evaluate

pytestmark = pytest.mark.filterwarnings("ignore::optics.SamplingWarning")


def _smoke(**kw):
    return build_config(EXPERIMENTS["vaccination"], "smoke", [x for k, v in kw.items()
                                                              for x in (f"--{k}", str(v))])


@pytest.mark.parametrize("kw,match", [
    (dict(networks="classifier,lens"), "networks must be a comma-separated subset"),
    (dict(test_factors="0.5,2"), "must include 0 .* and 1"),
    (dict(test_factors="0,1,-1"), "distinct numbers ≥ 0"),
    (dict(shift_max_px=0.0, axial_max_m=0.0), "nothing to vaccinate against"),
    (dict(test_draws=0), "test.draws must be"),
])
def test_bad_configurations_are_rejected(kw, match):
    with pytest.raises(ValueError, match=match):
        _smoke(**kw)


def test_misalignment_grid_scales_both_axes_and_draws_once_when_aligned():
    cfg = _smoke(test_factors="0,0.5,1,2", test_draws=7, shift_max_px=1.5, axial_max_m=0.002)
    levels = vac.misalignment_levels(cfg)
    assert [lv["factor"] for lv in levels] == [0, 0.5, 1, 2]
    assert [lv["draws"] for lv in levels] == [1, 7, 7, 7]
    for lv in levels:
        assert lv["shift_max_m"] == pytest.approx(lv["factor"] * 1.5 * cfg.pitch_m)
        assert lv["axial_max_m"] == pytest.approx(lv["factor"] * 0.002)
    e = vac.vaccine(cfg, 2.0).sample(cfg.layers, generator=torch.Generator().manual_seed(0))
    assert float(e.layer_shift.abs().max()) <= 3 * cfg.pitch_m and float(e.gap_error.abs().max()) <= 2 * 0.004


def test_layer_displacements_move_both_neighbouring_gaps():
    m = vac.LayerDisplacements(shift_max=3e-4, axial_max=1e-3)
    shifts, delta = m.displacements(4, generator=torch.Generator().manual_seed(5))
    e = m.sample(4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(e.layer_shift, shifts)
    # gap after layer l = (z_{l+1} + δ_{l+1}) − (z_l + δ_l); the output plane does not move
    want = torch.tensor([delta[1] - delta[0], delta[2] - delta[1], delta[3] - delta[2], -delta[3]])
    assert torch.allclose(e.gap_error, want.double())
    assert float(delta.abs().max()) <= 1e-3 and float(shifts.abs().max()) <= 3e-4
    assert e.input_gap == float(delta[0])  # the gap in front of layer 0 (the input plane does not move)
    assert e.response_ideal and not e.layer_rotation.any() and not e.input_shift.any()


def test_vaccinated_arm_trains_through_fresh_bounded_displacements_every_batch():
    cfg = _smoke()
    standard, vaccinated = vac.classifier_arms(cfg)
    assert (standard.method, vaccinated.method) == ("ideal", "noise")
    task, _, em = vaccinated.build()
    seen = []

    class Recording:
        def sample(self, n, *, generator):
            e = em.sample(n, generator=generator)
            seen.append(e)
            return e

    trainer = Trainer(task, vaccinated.config, error_model=Recording())
    x = torch.rand(40, 28, 28)
    y = torch.arange(40) % 10
    trainer.fit(x, y, progress=False)
    n_batches = -(-len(trainer.split(40)[0]) // cfg.batch_size)
    assert len(seen) == n_batches * cfg.epochs >= 2
    shifts = torch.stack([e.layer_shift for e in seen])
    gaps = torch.stack([e.gap_error for e in seen])
    assert float(shifts.abs().max()) <= cfg.shift_max_m and float(gaps.abs().max()) <= 2 * cfg.axial_max_m
    # telescoping: the gaps sum to −δ_0, one layer's displacement, so |Σ gaps| ≤ Δz
    assert float(gaps.sum(-1).abs().max()) <= cfg.axial_max_m and float(gaps.abs().max()) > 0
    assert not torch.equal(shifts[0], shifts[1])  # resampled, not frozen


def test_aligned_misaligned_accuracy_matches_the_trainer_evaluation():
    cfg = _smoke()
    task = vac.runner._classifier_task(cfg)
    x, y = torch.rand(30, 28, 28), torch.arange(30) % 10
    zero = vac.vaccine(cfg, 0.0).sample(cfg.layers, generator=torch.Generator().manual_seed(0))
    assert vac.misaligned_accuracy(task, x, y, zero, batch_size=7) == evaluate(task, x, y)["accuracy"]


def _curves(std, vacc):
    return {arm: [{"factor": f, "accuracy": {"mean": m}} for f, m in zip((0.0, 1.0, 2.0), vals)]
            for arm, vals in (("standard", std), ("vaccinated", vacc))}


@pytest.mark.parametrize("std,vacc,holds", [
    ((0.90, 0.60, 0.30), (0.85, 0.80, 0.60), True),    # vaccinated keeps 94%, standard 67%
    ((0.90, 0.60, 0.30), (0.85, 0.70, 0.60), False),   # vaccinated keeps only 82%
    ((0.90, 0.85, 0.60), (0.85, 0.82, 0.70), False),   # standard keeps 94%: no clear difference
])
def test_done_when_rule(std, vacc, holds):
    c = vac.criterion(_curves(std, vacc))
    assert c["holds"] is holds
    assert c["vaccinated"]["retention"] == pytest.approx(vacc[1] / vacc[0])


def test_resumed_run_recomputes_nothing_and_documents_itself(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert main(["run", "vaccination", "--scale", "smoke", "--out", str(out)]) == 0
    first = json.loads((out / "summary.json").read_text())
    crit = first["criterion"]["classifier"]
    report = (out / "report.md").read_text()
    assert "Classifier: accuracy vs test misalignment" in report
    assert ("**holds**" in report) is crit["holds"]
    sweep = json.loads((out / "sweep.json").read_text())
    assert len(sweep) == 2 * len(vac.misalignment_levels(_smoke()))
    for row in sweep.values():
        assert len(row["accuracy"]["values"]) == row["draws"]
        assert all(0 <= a <= 1 for a in row["accuracy"]["values"])

    def boom(*a, **k):
        raise AssertionError("a resumed run must not recompute")

    monkeypatch.setattr(vac.runner, "misaligned_accuracy", boom)
    monkeypatch.setattr(Trainer, "step", boom)
    good = (out / "sweep.json").read_bytes()
    (out / "sweep.json").write_bytes(good[: len(good) // 2])  # a torn record: named, exit 2, nothing recomputed
    capsys.readouterr()
    assert main(["run", "vaccination", "--scale", "smoke", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: sweep record ") and "sweep.json cannot be read (JSONDecodeError" in err, err
    (out / "sweep.json").write_bytes(good)
    assert main(["run", "vaccination", "--scale", "smoke", "--out", str(out), "--resume"]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["criterion"] == first["criterion"]

    doc = tmp_path / "docs" / "vaccination.md"
    assert main(["report", "vaccination", str(out), "--out", str(doc)]) == 0
    text = doc.read_text()
    assert "| Δ_test / Δ |" in text and "Published (Mengu et al." in text
    assert (tmp_path / "docs" / "vaccination_run_classifier.png").is_file()


def test_imaging_part_trains_a_vaccinated_network_and_writes_its_curve(tmp_path, monkeypatch):
    from experiments.diffusers import imaging as di

    samplers = {}
    original = di.train_imaging

    def spy(icfg, out_dir, *, misalignment=None, **kw):
        samplers[out_dir.name] = misalignment
        return original(icfg, out_dir, misalignment=misalignment, progress=False, **kw)

    monkeypatch.setattr(di, "train_imaging", spy)
    out = tmp_path / "img"
    assert main(["run", "vaccination", "--scale", "smoke", "--networks", "imaging", "--out", str(out)]) == 0
    assert samplers["imaging-standard"] is None
    icfg = vac.imaging_config(_smoke())
    shifts, delta = samplers["imaging-vaccinated"].displacements(icfg.layers, generator=torch.Generator().manual_seed(0))
    assert shifts.shape == (icfg.layers, 2) and delta.shape == (icfg.layers,)
    assert float(shifts.abs().max()) <= 2.0 * icfg.pitch_m and float(delta.abs().max()) <= 0.3e-3
    summary = json.loads((out / "summary.json").read_text())
    for arm in ("standard", "vaccinated"):
        rows = summary[f"imaging-{arm}"]["misalignment"]
        assert [r["factor"] for r in rows] == [0, 1, 2]
        assert all(-1 <= v <= 1 for r in rows for v in r["pcc"]["values"])
    report = (out / "report.md").read_text()
    assert "Imaging network: PCC vs test misalignment" in report
    assert (out / "figures" / "imaging_pcc_vs_misalignment.png").is_file()
    recorded = json.loads((out / "imaging_config.json").read_text())["config"]  # the imaging settings as run
    assert recorded["layers"] == icfg.layers and recorded["pitch_m"] == icfg.pitch_m
    text = vac.write_report([out], tmp_path / "doc.md").read_text()
    assert "### Imaging network" in text and (tmp_path / "doc_img_imaging.png").is_file()
    # the support and canvas PCCs sit beside the square's, level by level, for both arms
    assert "standard PCC, support | vaccinated PCC, support |" in text
    s0, v0 = (summary[f"imaging-{arm}"]["misalignment"][0] for arm in ("standard", "vaccinated"))
    assert (f"{s0['pcc_support']['mean']:.4f} ± {s0['pcc_support']['std']:.4f} | "
            f"{v0['pcc_support']['mean']:.4f} ± {v0['pcc_support']['std']:.4f} |") in text


@pytest.mark.parametrize("scale", ["smoke", "cpu", "paper"])
def test_every_scale_builds_both_parts(scale):
    cfg = build_config(EXPERIMENTS["vaccination"], scale, ["--networks", "classifier,imaging"])
    assert cfg.factor_list[0] == 0 and 1.0 in cfg.factor_list
    icfg = vac.imaging_config(cfg)
    assert icfg.seed == cfg.seed and icfg.grid_px >= icfg.object_px


def test_bad_imaging_overrides_are_rejected():
    with pytest.raises(ValueError, match="key=value"):
        _smoke(imaging_overrides="epochs")
    with pytest.raises(ValueError, match="unknown option --nope"):
        vac.imaging_config(_smoke(imaging_overrides="nope=1"))
