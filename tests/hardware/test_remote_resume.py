"""Killing the device server mid-training and starting it again loses nothing: the client
restores parameters, counters, noise stream and drift, and the run ends exactly where an
uninterrupted run ends. Servers are real `python -m hardware.serve` processes on 127.0.0.1,
always killed at the end."""

import subprocess

import pytest
import torch

from hardware import DeviceServer, DeviceUnavailable, RandomWalkPhaseDrift, RemoteDevice
from hardware import serve
from hardware.serve import simulated_device
from training import MeshTask, TrainConfig, Trainer
from photonics import MeshNetwork

SERVE = ["--modes", "16", "--meshes", "2", "--preset", "medium", "--error-seed", "4", "--phase-random-walk", "0.05",
         "--power", "0.02,20", "--threads", "1"]


def _start(port: int) -> subprocess.Popen:
    return serve.spawn(SERVE + ["--port", str(port)], threads=1)


def _address(proc) -> str:
    address = serve.wait_address(proc)
    assert address.startswith("tcp://127.0.0.1:"), address
    return address


class _KillAfter:
    """Passes calls to the remote device; after the k-th measurement kills the server and
    starts a new one on the same port (not waiting for it: the client's retries do)."""

    def __init__(self, remote, k, procs, port):
        self.remote, self.k, self.procs, self.port = remote, k, procs, port

    def __getattr__(self, name):
        return getattr(self.remote, name)

    def measure(self, x, **kw):
        out = self.remote.measure(x, **kw)
        if self.remote.queries == self.k:
            self.procs[-1].kill()
            self.procs[-1].wait(10)
            self.procs.append(_start(self.port))
        return out


def _train(physical, checkpoint=None, resume=False):
    g = torch.Generator().manual_seed(0)
    images, labels = torch.rand(60, 28, 28, generator=g), torch.randint(10, (60,), generator=g)
    task = MeshTask(MeshNetwork(16, 2, generator=torch.Generator().manual_seed(0)), crop=4)
    cfg = TrainConfig(method="dat", epochs=2, batch_size=20, lr=1e-2, sepn_features=(2, 2, 2), eval_batch_size=60)
    trainer = Trainer(task, cfg, physical=physical)
    fit = trainer.fit(images, labels, progress=False, checkpoint=checkpoint, resume=resume)
    return task.state_dict(), fit


@pytest.mark.slow  # two real server processes: ~10 s idle, over a minute on a loaded machine
def test_killing_and_restarting_the_server_process_mid_training_loses_nothing():
    procs = [_start(0)]
    try:
        address = _address(procs[0])
        port = int(address.rsplit(":", 1)[1])
        remote = RemoteDevice(address, timeout_s=1.0, retries=40, retry_wait_s=0.2)
        reference, fit_ref = _train(remote)
        # 54 training images in batches of 20 -> 3 steps per epoch, plus one validation query
        assert fit_ref["queries"] == {"train": 6, "validation": 2} and remote.queries == 8
        remote.load_state_dict(remote.initial_state)  # the same device, back at t = 0
        assert remote.queries == 0
        resumed, fit = _train(_KillAfter(remote, 4, procs, port))
        assert len(procs) == 2 and remote.reconnects == 1
        assert fit["queries"] == fit_ref["queries"] and remote.queries == 8
        assert fit["history"] == fit_ref["history"]
        for k in reference:
            assert torch.equal(resumed[k], reference[k]), k
        remote.close()
    finally:
        for p in procs:
            p.kill()
            p.wait(10)
            p.stdout.close()
            p.stderr.close()


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["--port", "0", "--max-requests", "1"]])
def test_serve_answers_and_stops_after_max_requests(argv):
    proc = serve.spawn(SERVE + argv, threads=1)
    try:
        remote = RemoteDevice(_address(proc), timeout_s=30, retries=0)
        assert remote.family == "mesh" and [d["type"] for d in remote.description["drifts"]] == [
            "RandomWalkPhaseDrift", "PowerFluctuation"]
        assert proc.wait(30) == 0 and "stopped after 1 requests" in proc.stdout.read()
        remote.close()
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def _device():
    return simulated_device(modes=16, meshes=2, preset="medium", error_seed=4,
                            drifts=[RandomWalkPhaseDrift(0.05, seed=3)])


class _StopAfter(_KillAfter):
    """As _KillAfter, for servers in threads: the server dies with its device state; a new
    server with a freshly built device comes up on the same port shortly after."""

    def measure(self, x, **kw):
        out = self.remote.measure(x, **kw)
        if self.remote.queries == self.k:
            self.procs[-1].stop()
            device, model = _device()
            self.procs.append(DeviceServer(device, model=model, port=self.port).serve_in_thread())
        return out


@pytest.fixture
def threads():
    """Server threads a test starts; all stopped at the end."""
    started = []
    yield started
    for t in started:
        t.stop()


def _reference(threads, **client):
    """A served device, a client, the uninterrupted reference run, and the device reset to t = 0."""
    device, model = _device()
    threads.append(DeviceServer(device, model=model).serve_in_thread())
    remote = RemoteDevice(threads[0].address, **client)
    reference, fit_ref = _train(remote)
    assert fit_ref["queries"] == {"train": 6, "validation": 2} and remote.queries == 8
    remote.load_state_dict(remote.initial_state)
    return int(threads[0].address.rsplit(":", 1)[1]), remote, reference, fit_ref


def test_a_restarted_server_resumes_the_run_exactly(threads):
    """Same as the process test above, with servers in threads (fast, default suite)."""
    port, remote, reference, fit_ref = _reference(threads, timeout_s=0.5, retries=20, retry_wait_s=0.05)
    resumed, fit = _train(_StopAfter(remote, 3, threads, port))
    assert len(threads) == 2 and remote.reconnects == 1 and remote.queries == 8
    assert fit["history"] == fit_ref["history"]
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
    remote.close()


def test_a_device_gone_for_good_raises_and_the_checkpoint_resumes_the_run(tmp_path, threads):
    """The server dies in epoch 2 and stays away: DeviceUnavailable. A new server later, a new
    client and Trainer.fit(resume=True) finish the run exactly as an uninterrupted one."""
    port, remote, reference, fit_ref = _reference(threads, timeout_s=0.3, retries=1, retry_wait_s=0.05)

    class Gone(_KillAfter):
        def measure(self, x, **kw):
            out = self.remote.measure(x, **kw)
            if self.remote.queries == self.k:
                self.procs[-1].stop()
            return out

    with pytest.raises(DeviceUnavailable, match="did not answer .* within 2 attempts"):
        _train(Gone(remote, 6, threads, port), checkpoint=tmp_path / "ckpt.pt")  # epoch 1 = 4 queries
    remote.close()
    device, model = _device()
    threads.append(DeviceServer(device, model=model, port=port).serve_in_thread())
    back = RemoteDevice(threads[-1].address, timeout_s=5)
    resumed, fit = _train(back, checkpoint=tmp_path / "ckpt.pt", resume=True)
    assert back.queries == 8 and fit["history"] == fit_ref["history"]
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
    back.close()
