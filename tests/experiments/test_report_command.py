"""``python -m experiments report NAME RUN_DIR… --out PAGE``: the one command for every study's
page. Bad requests are one-line errors with exit code 2; a real smoke run becomes a page whose
numbers are the run's."""

import json

import pytest

from experiments import EXPERIMENTS
from experiments.__main__ import main
from experiments.reports import report_names


def _fake_run(path, experiment):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"experiment": experiment, "seed": 0, "config": {}}))
    return path


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_every_study_folder_has_its_report():
    assert report_names() == ["d2nn", "dat", "diffusers", "fdtd", "vaccination"]
    named = {name: sorted(r for r in exp.reports) for name, exp in EXPERIMENTS.items() if exp.reports}
    assert named == {"dat-mpnn": ["dat"], "dat-dpnn": ["dat"], "diffuser-imaging": ["diffusers"],
                     "diffuser-study": ["diffusers"], "vaccination": ["diffusers", "vaccination"],
                     "fdtd-validation": ["fdtd"], "d2nn-classifier": ["d2nn"]}


def test_unknown_report(tmp_path, capsys):
    err = _error(capsys, ["report", "nonsense", str(tmp_path), "--out", str(tmp_path / "p.md")])
    assert "unknown report 'nonsense'" in err and "dat, diffusers, fdtd, vaccination" in err


def test_missing_run_dir(tmp_path, capsys):
    err = _error(capsys, ["report", "dat", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p.md")])
    assert "nowhere does not exist" in err
    err = _error(capsys, ["report", "dat", str(tmp_path), "--out", str(tmp_path / "p.md")])
    assert "holds no run directory" in err
    assert not (tmp_path / "p.md").exists()


def test_run_of_another_experiment(tmp_path, capsys):
    good = _fake_run(tmp_path / "runs" / "a", "dat-mpnn")
    other = _fake_run(tmp_path / "runs" / "b", "beam-splitter")
    err = _error(capsys, ["report", "dat", str(good), str(other), "--out", str(tmp_path / "p.md")])
    assert f"{other} is a run of 'beam-splitter'" in err and "dat-dpnn, dat-mpnn" in err
    # a folder stands for the runs below it: the foreign one is found there too
    err = _error(capsys, ["report", "fdtd", str(tmp_path / "runs"), "--out", str(tmp_path / "p.md")])
    assert "is a run of 'beam-splitter'" in err or "is a run of 'dat-mpnn'" in err
    assert not (tmp_path / "p.md").exists()


def test_report_options_are_checked(tmp_path, capsys):
    run = _fake_run(tmp_path / "r", "dat-mpnn")
    err = _error(capsys, ["report", "dat", str(run), "--out", str(tmp_path / "p.md"), "--direct-seed", "3"])
    assert "unknown option --direct-seed" in err and "--direct-seeds" in err
    err = _error(capsys, ["report", "dat", str(run), "--out", str(tmp_path / "p.md"), "--direct-seeds", "x"])
    assert "--direct-seeds expects a value of type int" in err
    diff = _fake_run(tmp_path / "d", "diffuser-imaging")
    err = _error(capsys, ["report", "diffusers", str(diff), "--out", str(tmp_path / "p.md"), "--a", "1"])
    assert "takes no options" in err


def test_unfinished_run_is_a_one_line_error(tmp_path, capsys):
    run = _fake_run(tmp_path / "r", "fdtd-validation")
    err = _error(capsys, ["report", "fdtd", str(run), "--out", str(tmp_path / "p.md")])
    assert "not a finished fdtd-validation run" in err


@pytest.mark.parametrize("name, experiment, record", [
    ("dat", "dat-mpnn", "progress.json"), ("fdtd", "fdtd-validation", "results.json"),
    ("d2nn", "d2nn-classifier", "summary.json"), ("diffusers", "diffuser-imaging", "summary.json"),
    ("vaccination", "vaccination", "summary.json")])
def test_a_corrupt_record_is_named(tmp_path, capsys, name, experiment, record):
    run = _fake_run(tmp_path / "r", experiment)
    (run / record).write_text('{"truncated": ')
    err = _error(capsys, ["report", name, str(run), "--out", str(tmp_path / "p.md")])
    assert f"{run / record} cannot be read (JSONDecodeError" in err


def test_a_corrupt_or_foreign_configuration_is_named(tmp_path, capsys):
    run = _fake_run(tmp_path / "r", "dat-mpnn")
    (run / "config.json").write_text("[1, 2]")
    err = _error(capsys, ["report", "dat", str(run), "--out", str(tmp_path / "p.md")])
    assert f"{run / 'config.json'} is not a run configuration" in err
    (run / "config.json").write_bytes(b"\xff\xfe{")
    err = _error(capsys, ["report", "dat", str(run), "--out", str(tmp_path / "p.md")])
    assert f"{run / 'config.json'} cannot be read (UnicodeDecodeError" in err


def test_dat_page_from_a_smoke_run(tmp_path):
    run = tmp_path / "mpnn"
    assert main(["run", "dat-mpnn", "--scale", "smoke", "--out", str(run)]) == 0
    page = tmp_path / "docs" / "dat.md"
    assert main(["report", "dat", str(run), "--out", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# Reproduction: dual adaptive training")
    assert f"Generated by `python -m experiments report dat {run} --out {page}`" in text
    # the smoke run is not full scale: it is a reduced row at its own (bs, ps) level, next to the
    # published values, with the physical accuracies the run recorded
    assert "No full-scale run found." in text
    arms = json.loads((run / "progress.json").read_text())
    cfg = json.loads((run / "config.json").read_text())["config"]
    row = next(line for line in text.split("## 2.")[1].splitlines() if line.startswith("| mnist |"))
    assert row.startswith(f"| mnist | {cfg['bs_sigma']:.2f} | {cfg['ps_sigma']:.2f} | {cfg['epochs']} | ")
    assert f"{100 * arms['mesh-ideal']['numeric_accuracy']:.1f} / 96.8" in row
    assert f"{100 * arms['mesh-ideal']['physical_accuracy']:.1f} / 66.6" in row  # direct deployment
    assert f"{100 * arms['mesh-pat']['physical_accuracy']:.1f} / 84.6" in row
    assert f"{100 * arms['mesh-dat']['physical_accuracy']:.1f} / 90.3" in row
    # writing it again gives the same page (generated from the records alone)
    assert main(["report", "dat", str(run), "--out", str(page)]) == 0
    assert page.read_text() == text


@pytest.mark.parametrize("argv", [["report", "dat"], ["report", "dat", "runs"]])
def test_missing_arguments_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


@pytest.mark.filterwarnings("ignore::optics.SamplingWarning")  # the smoke scale's tiny grid
def test_vaccination_page_keeps_its_discussion(tmp_path):
    run = tmp_path / "vac"
    assert main(["run", "vaccination", "--scale", "smoke", "--out", str(run)]) == 0
    notes = tmp_path / "notes.md"
    notes.write_text("**What the runs show.** Written by hand.\n")
    page = tmp_path / "docs" / "vaccination.md"
    assert main(["report", "vaccination", str(run), "--out", str(page), "--discussion", str(notes),
                 "--title", "Vaccination (smoke)"]) == 0
    first = page.read_text()
    assert first.startswith("# Vaccination (smoke)\n")
    assert "## Summary and discussion\n\n**What the runs show.** Written by hand.\n" in first
    assert first.index("Summary and discussion") < first.index(f"## Run `{run.name}`")
    assert (page.parent / f"vaccination_{run.name}_classifier.png").is_file()
    # regenerated without --discussion: the page's own summary is kept
    assert main(["report", "vaccination", str(run), "--out", str(page), "--title", "Vaccination (smoke)"]) == 0

    def body(text):  # all but the line with the generating command
        return [line for line in text.splitlines() if not line.startswith("Generated by")]

    assert body(page.read_text()) == body(first)
