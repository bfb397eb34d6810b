"""Fault injection: runs are killed (-9) at seeded random moments and resumed, files are
corrupted, and two processes aim at one run directory. Nothing is lost or mixed: every resumed
run ends bit for bit like an uninterrupted one, every corrupt file gives a one-line error that
names it (exit code 2) without overwriting good data, and the second process is refused."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from experiments.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["dat-mpnn", "--scale", "smoke", "--methods", "ideal,dat", "--epochs", "3", "--device", "cpu"]
TIMES = ("wall_time_s", "cpu_time_s")


def _cmd(out: Path, *extra):
    return [sys.executable, "-m", "experiments", "run", *ARGS, "--out", str(out), *extra]


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))


def _summary(run: Path) -> dict:
    s = json.loads((run / "summary.json").read_text())
    return {arm: {k: v for k, v in r.items() if k not in TIMES} for arm, r in s.items()}


def _models(run: Path) -> dict:
    return torch.load(run / "model.pt", weights_only=True)


def _assert_same_run(a: Path, b: Path) -> None:
    assert _summary(a) == _summary(b)
    ma, mb = _models(a), _models(b)
    assert ma.keys() == mb.keys()
    for arm in ma:
        for k in ma[arm]:
            assert torch.equal(ma[arm][k], mb[arm][k]), (arm, k)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("fault") / "reference"
    t0 = time.monotonic()
    res = subprocess.run(_cmd(out), capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return out, time.monotonic() - t0


def test_kill_9_at_ten_random_moments_then_resume_is_bit_identical(tmp_path, reference):
    # chains of launches into one directory: each launch is killed at a seeded random moment
    # (or ends first), the next one resumes; a finished chain must equal the reference bit for
    # bit, and a new chain starts until ten kills have happened
    ref, duration = reference
    rng = random.Random(20261204)
    kills, chains, launches = 0, 0, 0
    while kills < 10:
        out = tmp_path / f"chain{chains}"
        chains += 1
        while not (out / "summary.json").exists():
            launches += 1
            assert launches <= 40, f"only {kills} kills in {launches} launches"
            started = (out / "config.json").exists()
            proc = subprocess.Popen(_cmd(out, *(["--resume"] if started else [])), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, env=_env(), cwd=ROOT)
            try:
                proc.wait(timeout=rng.uniform(0.3, duration))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            err = proc.communicate(timeout=300)[1].decode()
            assert proc.returncode in (0, -signal.SIGKILL), err[-2000:]
        _assert_same_run(ref, out)


def _digests(run: Path) -> dict:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("victim", ["progress.json", "config.json", "errors.h5", "checkpoints/mesh-ideal.best.pt",
                                    "checkpoints/mesh-dat.pt"])
def test_a_corrupt_file_is_named_and_nothing_good_is_overwritten(tmp_path, reference, victim, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(reference[0], run)
    path = run / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    if victim.endswith(".pt"):
        (run / "checkpoints" / "mesh-dat.pt.prev").unlink()  # no fallback left
    path.write_bytes(bytes(data))
    before = _digests(run)
    rc = main(["run", *ARGS, "--out", str(run), "--resume"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("error: ") and victim.split("/")[-1] in err[0], err
    assert _digests(run) == before  # refused before anything was written


def test_a_second_process_is_refused_while_a_run_is_written(tmp_path, capsys):
    out = tmp_path / "busy"
    proc = subprocess.Popen(_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(), cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not (out / "config.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the first run ended before the second could try"
        for extra in ([], ["--resume"], ["--overwrite"]):
            assert main(["run", *ARGS, "--out", str(out), *extra]) == 2
            err = capsys.readouterr().err
            assert "being written by another process" in err, err
    finally:
        proc.kill()
        proc.wait()


def test_sigint_checkpoints_prints_the_resume_command_and_resumes(tmp_path, reference):
    out = tmp_path / "int"
    proc = subprocess.Popen(_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(), cwd=ROOT)
    deadline = time.monotonic() + 120
    while not (out / "checkpoints" / "mesh-ideal.pt.sha256").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1].decode()
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert f"--out {out} --resume" in err
    res = subprocess.run(_cmd(out, "--resume"), capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    _assert_same_run(reference[0], out)
