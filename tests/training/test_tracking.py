"""--tensorboard: epoch scalars reach TensorBoard event files; without the package, a clear error."""

import sys

import pytest

from experiments.__main__ import main


def _scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_logs_every_epoch_of_every_arm(tmp_path):
    pytest.importorskip("tensorboard")
    out, tb = tmp_path / "run", tmp_path / "tb"
    assert main(["run", "dat-mpnn", "--scale", "smoke", "--methods", "ideal,dat", "--epochs", "2", "--out", str(out),
                 "--tensorboard", str(tb)]) == 0
    import json

    progress = json.loads((out / "progress.json").read_text())
    for arm in ("mesh-ideal", "mesh-dat"):
        s = _scalars(tb / arm)
        history = progress[arm]["history"]
        assert [step for step, _ in s["val_accuracy"]] == [1, 2]
        assert [v for _, v in s["val_accuracy"]] == pytest.approx([h["val_accuracy"] for h in history], abs=1e-6)
        assert [v for _, v in s["loss"]] == pytest.approx([h["loss"] for h in history], rel=1e-6)
    assert "similarity" in _scalars(tb / "mesh-dat")


def test_missing_tensorboard_is_a_one_line_error_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    out = tmp_path / "run"
    assert main(["run", "dat-mpnn", "--scale", "smoke", "--out", str(out), "--tensorboard", str(tmp_path / "tb")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install tensorboard" in err[0]
    assert not out.exists()
