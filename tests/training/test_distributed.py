"""Data parallelism on torch.distributed (gloo, 2 CPU processes under torchrun): the same
global batches as one process give the same parameters, histories and query counts."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.distributed import DistContext, resolve_device

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return env


def torchrun(*args, nproc=2, timeout=240, check=True):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=ROOT)
    if check and res.returncode != 0:
        raise AssertionError(f"torchrun failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


def _alone(kind, epochs, out):
    res = subprocess.run([sys.executable, str(HERE / "_ddp_worker.py"), kind, str(epochs), str(out)],
                         capture_output=True, text=True, timeout=240, env=_env(), cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    return torch.load(out, weights_only=False)


@pytest.mark.parametrize("kind", ["mesh-dat", "diffractive-pat"])
def test_two_ranks_train_like_one_process(tmp_path, kind):
    # 150 samples, 20% validation, batch 25: 5 global batches per epoch, split 13/12 over ranks,
    # and 30 validation samples in batches of 7 (the last one split 1/1): every shard path is used.
    one = _alone(kind, 2, tmp_path / "one.pt")
    torchrun(str(HERE / "_ddp_worker.py"), kind, "2", str(tmp_path / "two.pt"))
    two = torch.load(tmp_path / "two.pt", weights_only=False)
    assert two["world_size"] == 2 and one["world_size"] == 1
    # the same global batches: parameters agree to float64 summation-order rounding (the
    # gradient of a global batch is summed in two halves instead of one pass)
    for k, a in one["state"].items():
        torch.testing.assert_close(two["state"][k], a, rtol=1e-9, atol=1e-10, msg=k)
    for h1, h2 in zip(one["history"], two["history"]):
        assert h1.keys() == h2.keys()
        for key in h1:
            assert h2[key] == pytest.approx(h1[key], rel=1e-9, abs=1e-12), key
    # measurement rounds and measured samples add up to the one-process totals
    assert two["queries"] == one["queries"]
    assert two["samples"] == one["samples"]
    assert one["queries"]["train"] == 2 * 5  # one round per global batch


_EXIT_SCRIPT = """
import atexit, sys, threading, time
sys.path.insert(0, {root!r})
from training import distributed


class Sentinel:  # a module global: freed in interpreter teardown, never before
    def __del__(self):
        sys.stdout.write("teardown ran\\n")


sentinel = Sentinel()
atexit.register(lambda: sys.stdout.write("atexit ran\\n"))
threading.Thread(target=lambda: (time.sleep(0.3), sys.stdout.write("thread done\\n"))).start()
sys.stdout.write("buffered\\n")  # stdout is a pipe: block-buffered, not yet written
distributed._JOINED = {joined}
distributed.exit_process(3)
"""


@pytest.mark.parametrize("joined", [True, False])
def test_a_rank_exits_after_its_cleanup_without_interpreter_teardown(joined):
    # a rank of a distributed run (joined) must not reach teardown, where gloo's worker threads
    # can abort the process (training.distributed.exit_process); one process exits as usual
    res = subprocess.run([sys.executable, "-c", _EXIT_SCRIPT.format(root=str(ROOT), joined=joined)],
                         capture_output=True, text=True, timeout=60, env=_env())
    assert res.returncode == 3, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert {"buffered", "thread done", "atexit ran"} <= set(lines), res.stdout  # joined, ran, flushed
    assert ("teardown ran" in lines) is not joined, res.stdout


def test_shards_partition_every_batch():
    batch = torch.arange(13)
    for world in (1, 2, 3, 5):
        parts = [DistContext(rank=r, world_size=world).shard(batch) for r in range(world)]
        assert torch.equal(torch.cat(parts), batch)
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_device_strings():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("gpu", "cuda:x", "tpu"):
        with pytest.raises(ValueError, match="device must be auto, cpu, cuda or cuda:N"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


_STOP_ARGS = ["-m", "experiments", "run", "dat-mpnn", "--scale", "smoke", "--methods", "dat", "--epochs", "12",
              "--device", "cpu"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The two-rank run that the interrupted ones must end equal to."""
    full = tmp_path_factory.mktemp("full")
    torchrun(*_STOP_ARGS, "--out", str(full))
    return full


def _start_and_cut(cut, log):
    """Start the two-rank run in ``cut``; returns the torchrun process and its ranks' pids once
    the first epoch's checkpoint is complete."""
    import time

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), *_STOP_ARGS, "--out", str(cut)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=ROOT)
    marker = cut / "checkpoints" / "mesh-dat.pt.sha256"
    deadline = time.monotonic() + 180
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    ranks = _children(proc.pid)
    if not (marker.exists() and ranks):
        proc.kill()
        pytest.fail("the run ended or never checkpointed before it could be stopped")
    return proc, ranks


def _assert_same_result(full, cut):
    import json

    a, b = (json.loads((d / "summary.json").read_text())["mesh-dat"] for d in (full, cut))
    for key in ("numeric_accuracy", "physical_accuracy", "best_epoch", "best_val_accuracy", "queries_train",
                "queries_validation", "queries_test", "samples_train"):
        assert a[key] == b[key], key
    ma, mb = (torch.load(d / "model.pt", weights_only=True)["mesh-dat"] for d in (full, cut))
    for k in ma:
        assert torch.equal(ma[k], mb[k]), k  # gloo's two-rank sum is order-free: bit for bit


def test_killed_rank_resumes_under_torchrun_to_the_uninterrupted_result(tmp_path, uninterrupted):
    import signal

    cut = tmp_path / "cut"
    with open(tmp_path / "log", "w") as log:
        proc, ranks = _start_and_cut(cut, log)
        try:
            os.kill(ranks[-1], signal.SIGKILL)  # one rank dies mid-run; torchrun ends the other
            assert proc.wait(timeout=120) != 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert not (cut / "summary.json").exists()
    torchrun(*_STOP_ARGS, "--out", str(cut), "--resume")
    _assert_same_result(uninterrupted, cut)


def test_ctrl_c_to_every_process_stops_at_a_safe_point_and_resumes(tmp_path, uninterrupted):
    """SIGINT to the agent and both ranks at once (what ``pkill -INT`` or a scheduler does; the
    agent also forwards it, so each rank gets it twice): one stop request, a checkpoint, the
    resume command with torchrun; resuming ends as the uninterrupted run."""
    import signal

    cut = tmp_path / "cut"
    with open(tmp_path / "log", "w") as log:
        proc, ranks = _start_and_cut(cut, log)
        try:
            for pid in (proc.pid, *ranks):
                os.kill(pid, signal.SIGINT)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = (tmp_path / "log").read_text()
    assert "interrupted; checkpoints are in" in text, text[-3000:]
    assert "stopped at once" not in text
    assert f"torchrun --nproc_per_node 2 -m experiments run dat-mpnn --scale smoke --out {cut} --resume" in text
    assert not (cut / "summary.json").exists()
    torchrun(*_STOP_ARGS, "--out", str(cut), "--resume")
    _assert_same_result(uninterrupted, cut)
