"""Every experiment runs at --scale smoke and leaves a complete run record; the CLI rejects
bad input clearly; an interrupted study resumes to the same result."""

import json
import math
import re

import h5py
import pytest
import torch

from experiments import EXPERIMENTS
from experiments.__main__ import main

pytestmark = pytest.mark.filterwarnings("ignore::optics.SamplingWarning")


def _check_record(run_dir):
    for name in ("config.json", "results.h5", "model.pt", "report.md", "summary.json"):
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    config = json.loads((run_dir / "config.json").read_text())
    assert {"experiment", "seed", "config", "versions", "units"} <= set(config)
    with h5py.File(run_dir / "results.h5") as f:
        assert "config" in f.attrs and "seed" in f.attrs
        datasets = []
        f.visititems(lambda n, o: datasets.append(o) if isinstance(o, h5py.Dataset) else None)
        assert datasets and all("units" in d.attrs for d in datasets)
    torch.load(run_dir / "model.pt", weights_only=True)  # plain tensors and containers only
    report = (run_dir / "report.md").read_text()
    figures = re.findall(r"\]\((figures/[^)]+)\)", report)
    assert figures, "the report links no figures"
    for fig in figures:
        path = run_dir / fig
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig
    return report


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_runs_at_smoke_scale(tmp_path, name, capsys):
    if EXPERIMENTS[name].requires is not None:
        ok, why = EXPERIMENTS[name].requires()
        if not ok:
            pytest.skip(f"{name} needs an external tool: {why}")
    out = tmp_path / name
    assert main(["run", name, "--scale", "smoke", "--out", str(out)]) == 0
    report = _check_record(out)
    assert "|" in report  # a results table
    summary = json.loads((out / "summary.json").read_text())
    numbers = []

    def leaves(v, key):
        if isinstance(v, dict):
            for k, w in v.items():
                leaves(w, f"{key}.{k}")
        elif isinstance(v, list):
            for i, w in enumerate(v):
                leaves(w, f"{key}[{i}]")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            numbers.append((key, v))

    leaves(summary, "summary")
    assert numbers, "summary.json records no numbers"
    bad = [(k, v) for k, v in numbers if not math.isfinite(v)]
    assert not bad, bad  # a NaN or inf result is a failed run, not a record
    # accuracies, efficiencies and correlation coefficients are fractions (PCC in [-1, 1])
    for k, v in numbers:
        if k.rsplit(".", 1)[-1].endswith(("accuracy", "efficiency")):
            assert 0 <= v <= 1, (k, v)
    assert main(["show", str(out)]) == 0
    assert report.splitlines()[0] in capsys.readouterr().out


def test_quickstart_report_has_all_arms(tmp_path):
    out = tmp_path / "qs"
    main(["run", "quickstart", "--scale", "smoke", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {f"{fam}-{m}" for fam in ("mesh", "diffractive") for m in ("ideal", "pat", "dat-is")}
    report = (out / "report.md").read_text()
    n_test = 100  # quickstart's smoke scale
    for arm, v in summary.items():
        # accuracies are counts over the test set, and the report's table shows these numbers
        for key in ("physical_accuracy", "numeric_accuracy"):
            assert 0 <= v[key] <= 1 and abs(v[key] * n_test - round(v[key] * n_test)) < 1e-9, (arm, key, v[key])
        row = next(line for line in report.splitlines() if line.startswith(f"| {arm} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == f"{100 * v['numeric_accuracy']:.2f}" and cells[3] == f"{100 * v['physical_accuracy']:.2f}"
        assert cells[4] == str(v["best_epoch"]) and cells[5] == f"{v['queries_train']:,}", row
    assert summary["mesh-dat-is"]["queries_train"] > 0 and summary["mesh-ideal"]["queries_train"] == 0
    # what each learning curve shows: ideal validates numerically, PAT and DAT on the physical system
    assert {k: v["validated_on"] for k, v in summary.items()} == {
        f"{fam}-{m}": "numerical" if m == "ideal" else "physical" for fam in ("mesh", "diffractive")
        for m in ("ideal", "pat", "dat-is")}
    with h5py.File(out / "export" / "heights.h5") as f:
        assert f["height"].attrs["units"].startswith("m ")
    for name in ("layers.gds", "plate_layer0.stl", "height_layer0.png", "height_layer0.json", "tolerance.md"):
        assert (out / "export" / name).is_file(), name
    assert "## Fabrication export and tolerances" in (out / "report.md").read_text()
    with h5py.File(out / "errors.h5") as f:
        assert set(f) == {"mesh", "diffractive"}


@pytest.mark.parametrize("argv,match", [
    (["run", "nope"], "unknown experiment 'nope'"),
    (["run", "quickstart", "--scale", "smoke", "--bogus", "1"], "unknown option --bogus"),
    (["run", "quickstart", "--scale", "smoke", "--mesh-epochs", "two"], "--mesh-epochs expects a value of type int"),
    (["run", "dat-mpnn", "--scale", "smoke", "--methods", "ideal,sgd"], "unknown method 'sgd'"),
    (["run", "quickstart", "--resume"], "--resume needs --out"),
])
def test_cli_errors(argv, match, capsys):
    assert main(argv) == 2
    assert re.search(match, capsys.readouterr().err)


def test_unknown_scale_is_rejected(capsys):
    assert main(["run", "quickstart", "--scale", "huge"]) == 2
    assert "quickstart has no scale 'huge'; choose one of smoke, cpu, paper" in capsys.readouterr().err
    assert main(["run", "quickstart", "--scale", "full-window"]) == 2  # diffuser-imaging's own scale
    assert "has no scale 'full-window'" in capsys.readouterr().err


def test_interrupted_study_resumes_to_the_same_result(tmp_path, monkeypatch):
    import training.trainer as tr

    full = tmp_path / "full"
    main(["run", "dat-mpnn", "--scale", "smoke", "--out", str(full)])
    reference = json.loads((full / "summary.json").read_text())

    out = tmp_path / "cut"
    original = tr.Trainer.fit
    calls = {"n": 0}

    def interrupted(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # the second arm is interrupted
            raise KeyboardInterrupt
        return original(self, *a, **k)

    monkeypatch.setattr(tr.Trainer, "fit", interrupted)
    assert main(["run", "dat-mpnn", "--scale", "smoke", "--out", str(out)]) == 130  # a hard stop
    assert list(json.loads((out / "progress.json").read_text())) == ["mesh-ideal"]
    monkeypatch.setattr(tr.Trainer, "fit", original)
    assert main(["run", "dat-mpnn", "--scale", "smoke", "--out", str(out), "--resume"]) == 0
    resumed = json.loads((out / "summary.json").read_text())
    assert set(resumed) == set(reference)
    for k in reference:
        for field in ("numeric_accuracy", "physical_accuracy", "best_epoch", "queries_train"):
            assert resumed[k][field] == reference[k][field], (k, field)


def test_method_lists_map_to_training_settings():
    from experiments._methods import parse_methods

    assert parse_methods("direct, pat,pat-field-is,dat-is") == [
        ("direct", "ideal", False, {}), ("pat", "pat", False, {}),
        ("pat-field-is", "pat", True, {"pat_fusion": "field"}), ("dat-is", "dat", True, {})]
    with pytest.raises(ValueError, match="internal states apply to pat and dat only"):
        parse_methods("noise-is")
