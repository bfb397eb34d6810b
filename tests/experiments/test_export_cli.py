"""``python -m experiments export``: all formats and a tiny tolerance sweep on a smoke run."""

import json

import pytest

from experiments.__main__ import main
from experiments.export import load_design
from training.tolerance import SWEEPS, phases_of, simulate, threshold
from training.study import load_data
from hardware.export import export_heights


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "run"
    assert main(["run", "quickstart", "--scale", "smoke", "--out", str(out), "--methods", "ideal"]) == 0
    return out


def test_export_all_formats_and_tolerance_report(run_dir, capsys):
    pytest.importorskip("gdstk")
    rc = main(["export", str(run_dir), "--format", "all", "--levels", "16", "--draws", "2", "--n-test", "40"])
    assert rc == 0
    printed = capsys.readouterr().out
    exp = run_dir / "export"
    for name in ("heights.h5", "height_layer0.png", "height_layer0.json", "height_layer1.csv", "plate_layer1.stl",
                 "layers.gds", "tolerance.json", "tolerance.md"):
        assert (exp / name).exists() and f"wrote {exp / name}" in printed
    report = (run_dir / "report.md").read_text()
    assert report.count("## Fabrication export and tolerances") == 1
    assert "drops 1 point" in report and "figures/export_tolerance.png" in report
    assert (run_dir / "figures" / "export_tolerance.png").stat().st_size > 0
    result = json.loads((exp / "tolerance.json").read_text())
    assert set(result) == {"nominal", *SWEEPS}
    assert all(0 <= m <= 1 for m in result["lateral"]["mean"])
    # exporting again replaces export/ as a whole (no file of the earlier export stays beside the new
    # ones) and report.md's section, which goes with its tolerance report
    assert main(["export", str(run_dir), "--format", "hdf5", "--no-tolerance", "--levels", "4"]) == 0
    assert sorted(p.name for p in exp.iterdir()) == ["heights.h5"]
    assert "## Fabrication export and tolerances" not in (run_dir / "report.md").read_text()
    assert not (run_dir / "figures" / "export_tolerance.png").exists()
    assert main(["export", str(run_dir), "--format", "csv", "--draws", "1", "--n-test", "10"]) == 0
    assert sorted(p.name for p in exp.iterdir()) == ["height_layer0.csv", "height_layer1.csv", "heights.h5",
                                                     "tolerance.json", "tolerance.md"]
    assert (run_dir / "report.md").read_text().count("## Fabrication export and tolerances") == 1
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".export")]


def test_an_interrupted_export_leaves_the_previous_one_whole(run_dir, monkeypatch, capsys):
    from hardware import writers

    assert main(["export", str(run_dir), "--format", "png,csv", "--levels", "8", "--no-tolerance"]) == 0
    exp = run_dir / "export"
    before = {p.name: p.read_bytes() for p in exp.iterdir()}
    real = writers.write_csv

    def fail_midway(hmap, directory, **kw):
        real(hmap, directory, **kw)  # the new files are on disk, in the new export's directory
        raise OSError("disk full")

    monkeypatch.setattr(writers, "write_csv", fail_midway)
    assert main(["export", str(run_dir), "--format", "png,csv", "--levels", "4", "--no-tolerance"]) == 2
    assert "disk full" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in exp.iterdir()} == before
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".export")]


def test_continuous_lossless_export_reproduces_the_trained_model(run_dir):
    from training import evaluate

    task, dcfg, arm = load_design(run_dir)
    assert arm == "diffractive-ideal"
    _, _, xt, yt = load_data(dcfg.dataset, 10, 60, dcfg.seed)
    hm = export_heights(phases_of(task), wavelength=dcfg.wavelength_m, pitch=dcfg.pitch_m, n=1.6,
                        base_thickness=1e-3)
    assert simulate(task, hm, xt, yt) == evaluate(task, xt, yt)["accuracy"]
    with pytest.raises(ValueError, match="generator"):
        simulate(task, hm, xt, yt, lateral_px=1.0)


def test_threshold_interpolates_the_one_point_drop():
    assert threshold([0, 1, 2], [0.9, 0.9, 0.8], 0.9) == pytest.approx(1.1)
    assert threshold([-2, 0, 2], [0.5, 0.9, 0.9], 0.9) == pytest.approx(2 * 0.01 / 0.4)
    assert threshold([0, 1], [0.9, 0.9], 0.9) is None


@pytest.mark.parametrize("args, match", [
    (["--arm", "nope"], "unknown diffractive arm"),
    (["--material", "unobtainium"], "unknown material"),
    (["--format", "obj"], "unknown format"),
    (["--levels", "1"], "levels must be an integer ≥ 2"),
    (["--draws", "0"], "--draws"),
])
def test_export_errors(run_dir, capsys, args, match):
    assert main(["export", str(run_dir), "--no-tolerance", *args]) == 2
    assert match in capsys.readouterr().err


def test_export_needs_a_finished_run(tmp_path, capsys):
    assert main(["export", str(tmp_path)]) == 2
    assert "not a finished run directory" in capsys.readouterr().err
