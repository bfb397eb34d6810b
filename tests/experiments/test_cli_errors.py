"""Bad input at the command line: every case gives ``error: …`` on one line and exit code 2,
before any training, and never touches an existing run; `--debug` shows the traceback."""

import json
import shutil

import pytest

from experiments.__main__ import main

SMOKE = ["--scale", "smoke"]


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for n in needles:
        assert n in err[0], (n, err[0])
    return err[0]


@pytest.mark.parametrize("args,needles", [
    (["run", "nope"], ["unknown experiment 'nope'"]),
    (["run", "dat-mpnn", *SMOKE, "--nope", "1"], ["unknown option --nope"]),
    (["run", "dat-mpnn", *SMOKE, "--epochs", "two"], ["--epochs expects a value of type int"]),
    (["run", "dat-mpnn", *SMOKE, "--epochs", "0"], ["--epochs must be ≥ 1, got 0"]),
    (["run", "dat-mpnn", *SMOKE, "--n-test", "0"], ["--n-test must be ≥ 1"]),
    (["run", "dat-mpnn", *SMOKE, "--n-train", "1000000000"], ["--n-train must lie in [1, 60000]"]),
    (["run", "dat-mpnn", *SMOKE, "--learning-rate", "1e30"], ["--learning-rate must lie in (0, 10]"]),
    (["run", "dat-mpnn", *SMOKE, "--learning-rate", "-1"], ["--learning-rate must lie in (0, 10]"]),
    (["run", "dat-mpnn", *SMOKE, "--learning-rate", "nan"], ["--learning-rate must be a finite number"]),
    (["run", "dat-mpnn", *SMOKE, "--batch-size", "0"], ["--batch-size must be ≥ 1"]),
    # checked before the run directory exists (these used to fail only when an arm reached them)
    (["run", "dat-mpnn", *SMOKE, "--bs-sigma", "-1"], ["bs_sigma must be a finite number ≥ 0 (dimensionless)"]),
    (["run", "dat-mpnn", *SMOKE, "--dat-is-lr-factor", "-1"], ["--dat-is-lr-factor must be a finite number > 0"]),
    (["run", "dat-mpnn", *SMOKE, "--n-train", "5"], ["holds out 0 validation image(s)", "raise --n-train"]),
    (["run", "dat-dpnn", *SMOKE, "--val-fraction", "0"], ["holds out 0 validation image(s)", "raise --val-fraction"]),
    (["run", "d2nn-classifier", *SMOKE, "--val-fraction", "1.5"], ["--val-fraction must lie in [0, 1)"]),
    (["run", "d2nn-classifier", *SMOKE, "--gap-m", "-0.03"], ["--gap-m must be > 0 m"]),  # trained before
    (["run", "dat-dpnn", *SMOKE, "--temperature", "-1"], ["--temperature must be > 0"]),  # NaN fields before
    (["run", "vaccination", *SMOKE, "--temperature", "0"], ["temperature must be a finite number > 0"]),
    # the imaging settings are checked even when only the classifier runs (a typo was ignored)
    (["run", "vaccination", *SMOKE, "--imaging-overrides", "bogus=1"], ["unknown option --bogus for ImagingConfig"]),
    (["run", "dat-mpnn", *SMOKE, "--methods", "magic"], ["unknown method 'magic'"]),
    (["run", "dat-dpnn", *SMOKE, "--layers", "0"], ["--layers must be ≥ 1"]),
    (["run", "dat-dpnn", *SMOKE, "--preset", "bogus"], ["bogus"]),
    (["run", "dat-mpnn", *SMOKE, "--dataset", "cifar"], ["cifar"]),
    (["run", "dat-mpnn", *SMOKE, "--device", "tpu"], ["device must be auto, cpu, cuda or cuda:N"]),
    (["run", "dat-mpnn", *SMOKE, "--resume"], ["--resume needs --out"]),
    (["run", "vaccination", *SMOKE, "--test-factors", "0.5,2"], ["test_factors must include 0"]),
    (["run", "diffuser-imaging", *SMOKE, "--object-px", "500"], ["object_px 500 exceeds grid_px"]),
    (["run", "diffuser-imaging", *SMOKE, "--diffuser-sigma-mix", "a,b"], ["comma-separated numbers"]),
    # these trained silently: light propagated backwards, a loss that rewards stray light, a grating of period < 0
    (["run", "diffuser-imaging", *SMOKE, "--layer-gap-m", "-0.002"], ["--layer-gap-m must be ≥ 0"]),
    (["run", "beam-splitter", *SMOKE, "--uniformity-weight", "-1"], ["--uniformity-weight must be ≥ 0"]),
    (["run", "beam-splitter", *SMOKE, "--gap-m", "-0.03"], ["--gap-m must be > 0 m"]),
    (["run", "diffuser-imaging", *SMOKE, "--alpha", "-1"], ["--alpha must be ≥ 0"]),
    (["run", "diffuser-imaging", *SMOKE, "--grating-periods-mm", "-2.4"], ["--grating-periods-mm must be periods > 0"]),
    (["show", "/nonexistent/run"], ["is not a finished run directory"]),
    (["list", "--bogus"], ["unknown list options --bogus"]),  # was ignored
    (["show", "/nonexistent/run", "--verbose"], ["unknown show options --verbose"]),
])
def test_bad_invocations_are_one_line_errors(tmp_path, capsys, args, needles):
    out = tmp_path / "run"
    extra = ["--out", str(out)] if args[0] == "run" and "--resume" not in args else []
    assert main(args + extra) == 2
    _one_line_error(capsys, *needles)
    assert not (out / "config.json").exists()  # refused before anything was written


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "finished"
    assert main(["run", "dat-mpnn", *SMOKE, "--methods", "ideal", "--out", str(out)]) == 0
    return out


def _snapshot(run):
    return {p.name: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("extra,needles", [
    ([], ["already holds a run", "--resume", "--overwrite"]),
    (["--resume", "--seed", "7"], ["other settings", "seed: 0 -> 7"]),
    (["--resume", "--learning-rate", "0.05"], ["other settings", "learning_rate"]),
    (["--resume", "--overwrite"], ["contradict"]),
])
def test_a_finished_run_is_never_overwritten_or_mixed(tmp_path, capsys, finished, extra, needles):
    run = tmp_path / "copy"
    shutil.copytree(finished, run)
    before = _snapshot(run)
    assert main(["run", "dat-mpnn", *SMOKE, "--methods", "ideal", "--out", str(run), *extra]) == 2
    _one_line_error(capsys, *needles)
    assert _snapshot(run) == before


def test_overwrite_replaces_and_resume_of_a_missing_directory_is_an_error(tmp_path, capsys, finished):
    assert main(["run", "dat-mpnn", *SMOKE, "--methods", "ideal", "--out", str(tmp_path / "typo"), "--resume"]) == 2
    _one_line_error(capsys, "does not exist")
    assert not (tmp_path / "typo").exists()
    run = tmp_path / "copy"
    shutil.copytree(finished, run)
    (run / "stale.txt").write_text("from the old run")
    assert main(["run", "dat-mpnn", *SMOKE, "--methods", "ideal", "--out", str(run), "--overwrite"]) == 0
    assert not (run / "stale.txt").exists() and (run / "summary.json").exists()
    capsys.readouterr()
    assert main(["run", "dat-mpnn", *SMOKE, "--methods", "ideal", "--out", str(run / "config.json")]) == 2
    _one_line_error(capsys, "not a directory")


def test_new_run_ids_are_unique_even_in_the_same_second(tmp_path):
    from training.records import new_run_dir

    dirs = {new_run_dir(tmp_path, "x") for _ in range(20)}
    assert len(dirs) == 20 and all(d.is_dir() for d in dirs)


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="already holds a run"):
        run = tmp_path / "r"
        run.mkdir()
        (run / "config.json").write_text("{}")
        main(["run", "dat-mpnn", *SMOKE, "--out", str(run), "--debug"])


def test_records_carry_version_and_commit(finished):
    cfg = json.loads((finished / "config.json").read_text())
    v = cfg["versions"]
    assert v["onnsim"] and v["onnsim"] != "unknown"
    assert v["commit"] is None or (len(v["commit"]) == 40 and isinstance(v["dirty"], bool))
    assert cfg["runtime"] == {"device": "cpu", "world_size": 1}


@pytest.mark.parametrize("existing", [False, True])
def test_a_start_that_fails_on_its_geometry_leaves_no_run_behind(tmp_path, capsys, existing):
    # the geometry is checked when the model is built, after the run directory was claimed; the
    # failed start is undone, so the corrected command takes the same --out without --overwrite
    out = tmp_path / "run"
    if existing:
        out.mkdir()  # an empty folder the user named: it stays, empty
    assert main(["run", "dat-mpnn", *SMOKE, "--methods", "ideal", "--modes", "15", "--out", str(out)]) == 2
    _one_line_error(capsys, "modes must be a square number")
    assert (sorted(out.iterdir()) == []) if existing else not out.exists()
    assert main(["run", "dat-mpnn", *SMOKE, "--methods", "ideal", "--out", str(out)]) == 0
    assert (out / "summary.json").exists()


def test_a_run_with_records_is_never_undone(tmp_path, finished):
    from training.records import abandon_run_dir

    run = tmp_path / "copy"
    shutil.copytree(finished, run)
    before = _snapshot(run)
    assert not abandon_run_dir(run, created=True)  # it holds checkpoints and records
    assert _snapshot(run) == before
