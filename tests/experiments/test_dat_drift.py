"""dat-drift against a server that is already running (the two-terminal set-up), with the
query accounting checked against the schedule, and its bad input."""

import json

import pytest

from experiments.__main__ import main
from experiments.dat.drift import SCALES, DatDriftConfig, run
from hardware import DeviceServer, RandomWalkPhaseDrift
from hardware.serve import simulated_device

pytestmark = pytest.mark.filterwarnings("ignore::optics.SamplingWarning")


def test_dat_drift_trains_against_a_running_server(tmp_path):
    device, model = simulated_device(modes=16, meshes=2, preset="bs=0.06,ps=0.06",
                                     drifts=[RandomWalkPhaseDrift(0.01, seed=0)])
    with DeviceServer(device, model=model).serve_in_thread() as server:
        out = tmp_path / "run"
        assert main(["run", "dat-drift", "--scale", "smoke", "--out", str(out), "--device-address",
                     server.address]) == 0
    summary = json.loads((out / "summary.json").read_text())
    s = SCALES["smoke"]
    assert set(summary) == set(s["methods"].split(","))
    # the schedule in queries: training (4 batches of 50 from 180 images + 1 validation per
    # epoch), one evaluation after training, then per round round_queries + 1 evaluation
    n_train = s["n_train"] - round(0.1 * s["n_train"])
    trained = -(-n_train // s["batch_size"]) * s["epochs"] + s["epochs"]
    deploy = 1 + s["rounds"] * (s["round_queries"] + 1)
    assert summary["direct"]["train_queries"] == 0 and summary["direct"]["total_queries"] == deploy
    for arm in ("dat", "dat-adapt"):
        assert summary[arm]["train_queries"] == trained and summary[arm]["total_queries"] == trained + deploy
    assert summary["dat"]["recalibration_queries"] == 0
    assert summary["dat-adapt"]["recalibration_queries"] == s["rounds"] * s["adapt_steps"]
    assert "accuracy_vs_queries.png" in (out / "report.md").read_text()


def test_a_device_that_does_not_match_the_task_is_refused(tmp_path):
    device, model = simulated_device(modes=16, meshes=1)
    with DeviceServer(device, model=model).serve_in_thread() as server:
        cfg = DatDriftConfig(**{**SCALES["smoke"], "device_address": server.address, "methods": "direct"})
        (tmp_path / "figures").mkdir()
        with pytest.raises(ValueError, match="does not match the task.*--modes/--meshes"):
            run(cfg, tmp_path)


@pytest.mark.parametrize("argv,match", [
    (["--device-address", "udp://1.2.3.4:5"], "device_address must look like tcp://"),
    (["--methods", "direct,sgd"], r"unknown method\(s\) \['sgd'\]"),
    (["--adapt-steps", "50"], r"adapt_steps and finetune_steps must be in \[1, round_queries\)"),
])
def test_bad_options_exit_2(argv, match, capsys):
    assert main(["run", "dat-drift", "--scale", "smoke"] + argv) == 2
    assert __import__("re").search(match, capsys.readouterr().err)
