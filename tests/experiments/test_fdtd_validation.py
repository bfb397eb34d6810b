"""The fdtd-validation experiment without Meep: registration and scales, the refusal when
Meep is missing, the validity threshold, and the generator of docs/validation/fdtd.md on a
synthetic run record. (Its Meep runs: tests/hardware/test_fdtd_analysis.py, opt-in ``-m fdtd``, and
the smoke run in test_cli_and_records.py when Meep is present.)"""

import json

import pytest

import experiments.fdtd.validation as fv
from experiments.fdtd import report
from hardware import fdtd_analysis as analysis
from experiments import EXPERIMENTS
from experiments.__main__ import main
from experiments.registry import build_config
from hardware.fdtd import FdtdError


def test_registered_with_three_scales_and_a_meep_requirement():
    exp = EXPERIMENTS["fdtd-validation"]
    assert exp.requires is not None
    smoke, cpu, paper = (build_config(exp, s, []) for s in ("smoke", "cpu", "paper"))
    periods = [float(p) for p in cpu.grating_periods_wl.split(",")]
    assert max(periods) >= 20 and min(periods) <= 1.5  # the validity map spans 20λ → 1.5λ
    assert set(cpu.grating_kinds.split(",")) == {"binary", "blazed4"}
    for cfg in (cpu, paper):  # convergence needs at least three resolutions
        assert len(cfg.beam_resolutions.split(",")) >= 3
    assert max(map(float, paper.beam_resolutions.split(","))) > max(map(float, cpu.beam_resolutions.split(",")))
    assert len(smoke.beam_resolutions.split(",")) >= 2
    with pytest.raises(ValueError, match="grating_kinds"):
        fv._check(fv.FdtdValidationConfig(grating_kinds="binary,sawtooth"))


def test_without_meep_the_cli_refuses_and_run_raises(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fv, "available", lambda: (False, "no meep here; install it with scripts/setup_fdtd.sh"))
    assert main(["run", "fdtd-validation", "--scale", "smoke", "--out", str(tmp_path / "r")]) == 2
    assert "setup_fdtd.sh" in capsys.readouterr().err
    monkeypatch.setenv("ONNSIM_MEEP_PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(FdtdError, match="setup_fdtd.sh"):
        fv.run(build_config(EXPERIMENTS["fdtd-validation"], "smoke", []), tmp_path / "r2")


def _row(kind, period, rel):
    return {"kind": kind, "period_wl": period, "main_rel_err": rel}


def test_validity_threshold_stops_at_the_first_failure():
    rows = [_row("binary", p, e) for p, e in ((20, 0.01), (10, 0.04), (5, 0.08), (3, 0.03), (2, 0.2))]
    # 3λ passes again but lies below a failure: the regime ends at period 10λ (feature 5λ)
    assert analysis.validity_threshold(rows, 0.05) == {"n_wl": 5.0, "first_fail_wl": 2.5}
    blazed = [_row("blazed4", p, e) for p, e in ((40, 0.02), (20, 0.06))]
    assert analysis.validity_threshold(blazed, 0.05) == {"n_wl": 10.0, "first_fail_wl": 5.0}
    assert analysis.validity_threshold(blazed, 0.01) == {"n_wl": None, "first_fail_wl": 10.0}
    assert analysis.validity_threshold(blazed, 0.1) == {"n_wl": 5.0, "first_fail_wl": None}


def _synthetic_record(run_dir):
    lam = 1e-6
    beams = []
    for kind, size, z, w in (("gaussian", 3, 30, 24), ("slit", 8, 20, 32)):
        for ppw, e in ((10, 0.04), (20, 0.01), (30, 0.0045)):
            beams.append({"kind": kind, "resolution": ppw, "size": size * lam, "z": z * lam, "width": w * lam,
                          "err_near": e / 5, "err_ideal": e, "err_meep_input": 0.9 * e, "wall_s": 1.0})
    gratings = []
    for kind, errs in (("binary", {20: 0.018, 10: 0.042, 5: 0.079}), ("blazed4", {20: 0.044, 10: 0.082, 5: 0.17})):
        for p, e in errs.items():
            gratings.append({"kind": kind, "period_wl": p, "feature_wl": analysis.feature_size(kind, p),
                             "meep": {"-1": 0.4, "0": 0.01, "1": 0.4}, "thin": {"1": 0.42}, "orders": [-1, 0, 1],
                             "max_abs_err": e / 2, "main_rel_err": e, "meep_main": 0.4, "thin_main": 0.42,
                             "meep_zero": 0.01, "wall_s": 1.0, "resolution": 20})
    conv = [{"kind": k, "period_wl": 10, "resolution": r, "meep_main": m, "wall_s": 1.0}
            for k in ("binary", "blazed4") for r, m in ((10, 0.4032), (20, 0.4125), (30, 0.4129))]
    res = {"wavelength_m": lam, "index": 1.5, "tolerance": 0.05, "beams": beams, "gratings": gratings,
           "grating_resolution": 20, "grating_convergence": conv,
           "validity": {k: analysis.validity_threshold([g for g in gratings if g["kind"] == k], 0.05)
                        for k in ("binary", "blazed4")},
           "layer": {"pixel_wl": 2, "pixels": 24, "z_wl": 40, "spots": 3, "spot_width_wl": 3,
                     "spot_centres_wl": [-16, 0, 16], "train_resolution": 10, "train_steps": 300,
                     "train_efficiency": 0.81, "train_nonuniformity": 0.004, "max_height_m": 1.9e-6,
                     "comparisons": [{"resolution": 20, "z_wl": [10, 40], "correlation": [0.61, 0.9617],
                                      "l2": [0.5, 0.24], "spots_meep": [0.22, 0.27, 0.27],
                                      "spots_thin": [0.27, 0.27, 0.27], "wall_s": 9.0}]},
           "meep_wall_s": 300.0, "wall_s": 320.0, "versions": {"python": "3.11", "torch": "2", "numpy": "1"},
           "figures": {"profiles": "figures/profiles.png"}}
    run_dir.mkdir()
    (run_dir / "results.json").write_text(json.dumps(res))
    (run_dir / "config.json").write_text(json.dumps({"experiment": "fdtd-validation", "seed": 0,
                                                     "config": {"beam_resolutions": "10,20,30"}}))


def test_doc_generated_from_a_run_record_states_the_numbers(tmp_path):
    _synthetic_record(tmp_path / "run")
    out = report.write_report([tmp_path / "run"], tmp_path / "fdtd.md")
    doc = out.read_text()
    assert doc.startswith("# FDTD validation")
    assert "do not edit by hand" in doc
    # agreement numbers at each resolution, and the convergence statement
    assert "4.00 % / 1.00 % / 0.45 % at 10 / 20 / 30 points/λ" in doc
    assert "falls by 4.0×, 2.2×" in doc and "observed order 2.0, 2.0" in doc
    # the regime: binary holds to feature 5λ (fails at 2.5λ), blazed to 5λ (period 20λ, fails at 2.5λ)
    assert "binary π grating (feature = half period): relative error of η₊₁ < 5 % holds for feature ≥ N·λ " \
           "with N = 5 (first failure at feature 2.5λ" in doc
    assert "N = 5 (first failure at feature 2.5λ, so 2.5 < N_true ≤ 5)" in doc
    assert "Pearson r = 0.9617, relative L2 24.0 % at 20 points/λ (one period of a periodic array)." in doc
    assert "| binary | 20 | 10 | 40.00 | 42.00 |" in doc
    # fixed template parts: bridge, unit conversion, CI decision; figures named, not linked
    assert "length unit a = 1 µm" in doc and "`.ci/run`) does not install Meep" in doc
    assert "figures/profiles.png` in the run directory" in doc and "](" not in doc


def test_doc_generator_rejects_other_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json"):
        report.write_report([tmp_path], tmp_path / "x.md")
    _synthetic_record(tmp_path / "run")
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    cfg["experiment"] = "beam-splitter"
    (tmp_path / "run" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="beam-splitter"):
        report.write_report([tmp_path / "run"], tmp_path / "x.md")


def test_doc_links_copied_figures(tmp_path):
    _synthetic_record(tmp_path / "run")
    (tmp_path / "run" / "figures").mkdir()
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 16
    (tmp_path / "run" / "figures" / "profiles.png").write_bytes(png)
    (tmp_path / "docs").mkdir()
    doc = report.write_report([tmp_path / "run"], tmp_path / "docs" / "fdtd.md").read_text()
    assert "](fdtd_figures/profiles.png)" in doc
    assert (tmp_path / "docs" / "fdtd_figures" / "profiles.png").read_bytes() == png
