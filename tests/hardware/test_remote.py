"""The remote device: same measurements as in process, exact accounting, refusals that leave
the server serving. Loopback only; every server runs in a thread that is always stopped."""

import json
import time

import pytest
import torch
import zmq

from hardware import DeviceError, DeviceServer, DeviceUnavailable, PhysicalDevice, RemoteDevice, WireError
from hardware.serve import main as serve_main
from hardware.serve import simulated_device
from hardware.wire import decode, encode
from optics import Field, Grid

TOKEN = "s3cret-token-0123456789"


@pytest.fixture
def served():
    """A medium-preset mesh (detector noise on) served in a thread, and its in-process twin."""
    device, model = simulated_device(modes=16, meshes=2, preset="medium", error_seed=3)
    twin, _ = simulated_device(modes=16, meshes=2, preset="medium", error_seed=3)
    with DeviceServer(device, model=model).serve_in_thread() as thread:
        yield thread, twin, model


def _params(model, shift):
    return {k: v + shift for k, v in model.state_dict().items()}


def test_remote_measurements_are_bit_identical_to_in_process(served):
    thread, twin, model = served
    with RemoteDevice(thread.address, timeout_s=10) as remote:
        assert isinstance(remote, PhysicalDevice) and remote.family == "mesh"
        g = torch.Generator().manual_seed(0)
        for k, batch in enumerate((5, 7, 1)):
            x = torch.randn(batch, 16, dtype=torch.complex64, generator=g)
            for dev in (remote, twin):
                dev.load_parameters(_params(model, 0.1 * k))
            a, ta = remote.measure(x, internal_states=True)
            b, tb = twin.measure(x, internal_states=True)
            assert torch.equal(a, b) and len(ta) == len(tb) == 2
            assert all(torch.equal(u, v) for u, v in zip(ta, tb))
            assert torch.equal(remote.measure(x), twin.measure(x))
        assert (remote.queries, remote.samples) == (6, 2 * (5 + 7 + 1))  # counted here, call by call
        assert remote.state_dict()["queries"] == 6
    with RemoteDevice(thread.address, timeout_s=10) as late:  # a later client sees the device as it started
        assert late.queries == 6 and late.initial_state["queries"] == 0


@pytest.mark.filterwarnings("ignore::optics.SamplingWarning")
def test_diffractive_field_travels_bit_identically():
    device, model = simulated_device(family="diffractive", grid_px=16, layers=2, preset="low", error_seed=2)
    twin, _ = simulated_device(family="diffractive", grid_px=16, layers=2, preset="low", error_seed=2)
    field = Field(torch.randn(3, 16, 16, dtype=torch.complex64, generator=torch.Generator().manual_seed(1)),
                  Grid(16, 0.4e-3), 0.75e-3)
    with DeviceServer(device, model=model).serve_in_thread() as thread, RemoteDevice(thread.address) as remote:
        assert remote.family == "diffractive"
        a, ta = remote.measure(field, internal_states=True)
        b, tb = twin.measure(field, internal_states=True)
        assert a.shape == (3, 16, 16) and torch.equal(a, b) and all(torch.equal(u, v) for u, v in zip(ta, tb))


def test_a_lost_reply_is_resent_and_measured_once(served):
    """The server answers the first measurement too late; the client resends it. Readings,
    counters and the noise stream must be those of exactly one measurement."""
    thread, twin, model = served
    server = thread.server
    handle, slow = server.handle, {"left": 1}

    def late_handle(frames):
        reply = handle(frames)
        if slow["left"] and json.loads(bytes(frames[0]))["op"] == "measure":
            slow["left"] -= 1
            time.sleep(0.6)  # longer than the client's timeout
        return reply

    server.handle = late_handle
    x = torch.randn(4, 16, dtype=torch.complex64, generator=torch.Generator().manual_seed(5))
    with RemoteDevice(thread.address, timeout_s=0.3, retries=5, retry_wait_s=0.05) as remote:
        a = remote.measure(x)
        b = remote.measure(x)
        assert remote.resends >= 1 and (remote.queries, remote.samples) == (2, 8)
    assert torch.equal(a, twin.measure(x)) and torch.equal(b, twin.measure(x))


def test_no_server_is_a_clear_unavailable_error():
    with zmq.Context() as ctx, ctx.socket(zmq.REP) as s:  # a free port that nobody answers on
        port = s.bind_to_random_port("tcp://127.0.0.1")
        s.unbind(f"tcp://127.0.0.1:{port}")
    with pytest.raises(DeviceUnavailable, match=rf"127\.0\.0\.1:{port} did not answer hello within 2 attempts"):
        RemoteDevice(f"tcp://127.0.0.1:{port}", timeout_s=0.2, retries=1, retry_wait_s=0.01)


def _raw(address, frames, timeout_ms=5000):
    with zmq.Context() as ctx, ctx.socket(zmq.REQ) as s:
        s.setsockopt(zmq.LINGER, 0)
        s.connect(address)
        s.send_multipart(frames)
        assert s.poll(timeout_ms), "the server did not answer"
        return decode(s.recv_multipart(), max_bytes=1 << 30)


def test_unauthenticated_malformed_and_oversized_requests_are_refused_and_serving_goes_on():
    device, model = simulated_device(modes=16, meshes=2)
    server = DeviceServer(device, model=model, token=TOKEN, max_bytes=64 << 10)
    with server.serve_in_thread() as thread:
        with pytest.raises(DeviceError, match=r"refused the request \(auth\).*token"):
            RemoteDevice(thread.address, timeout_s=5)
        with pytest.raises(DeviceError, match=r"\(auth\)"):
            RemoteDevice(thread.address, token="wrong-token-0123456789", timeout_s=5)
        bad = {
            "not JSON": [b"\xff\x00garbage"],
            "not UTF-8 JSON": [b"{not json"],
            "dtype 'object' is not allowed": [
                json.dumps({"v": 1, "op": "measure", "token": TOKEN, "body": {"x": {"$t": 0}},
                            "tensors": [{"dtype": "object", "shape": [1], "unit": "1"}]}).encode(), b"\x00" * 8],
            "needs 32 bytes, the frame has 8": [
                json.dumps({"v": 1, "op": "measure", "token": TOKEN, "body": {"x": {"$t": 0}},
                            "tensors": [{"dtype": "complex64", "shape": [4], "unit": "1"}]}).encode(), b"\x00" * 8],
            "lists 0 tensors but 1 tensor frames": [
                json.dumps({"v": 1, "op": "hello", "token": TOKEN, "body": {}, "tensors": []}).encode(), b"x"],
        }
        for why, frames in bad.items():
            reply = _raw(thread.address, frames)
            assert reply["op"] == "error" and reply["body"]["kind"] in ("malformed", "auth"), why
        reply = _raw(thread.address, [json.dumps({"v": 1, "op": "hello", "token": TOKEN, "body": {"x": {"$t": 0}},
                                                  "tensors": [{"dtype": "uint8", "shape": [100 << 10],
                                                               "unit": "1"}]}).encode(), bytes(100 << 10)])
        assert reply["body"]["kind"] == "oversized" and "exceeds this server's limit of 65536 bytes" in \
            reply["body"]["message"]
        # still serving, and the client refuses an oversized request itself, before sending
        with RemoteDevice(thread.address, token=TOKEN, timeout_s=5) as remote:
            remote.load_parameters(model.state_dict())
            assert remote.measure(torch.ones(2, 16, dtype=torch.complex64)).shape == (2, 16)
            with pytest.raises(WireError, match="larger than the server's limit of 65536 bytes"):
                remote.measure(torch.ones(2000, 16, dtype=torch.complex64))
            assert remote.queries == 1
        assert server.refused == 2 + len(bad) + 1


def test_wire_roundtrip_and_garbage():
    body = {"a": torch.arange(6, dtype=torch.int64).reshape(2, 3), "b": [torch.tensor(1.5), None, "s", 3],
            "c": torch.randn(2, 2, dtype=torch.complex128), "d": torch.tensor([True, False]),
            "e": torch.empty(0, 4)}
    out = decode(encode("x", body, id=1), max_bytes=1 << 20)
    assert out["op"] == "x" and out["id"] == 1
    for k in ("a", "c", "d", "e"):
        assert out["body"][k].dtype == body[k].dtype and torch.equal(out["body"][k], body[k])
    assert out["body"]["b"][1:] == [None, "s", 3] and out["body"]["b"][0].item() == 1.5
    with pytest.raises(WireError, match="cannot send a torch.bfloat16 tensor"):
        encode("x", {"t": torch.zeros(2, dtype=torch.bfloat16)})
    with pytest.raises(WireError, match="cannot send a set"):
        encode("x", {"t": {1, 2}})
    with pytest.raises(WireError, match="not referenced"):
        decode([json.dumps({"v": 1, "op": "x", "body": {},
                            "tensors": [{"dtype": "uint8", "shape": [1], "unit": "1"}]}).encode(), b"\x01"],
               max_bytes=1 << 20)
    with pytest.raises(WireError, match="shape must be a list"):
        decode([json.dumps({"v": 1, "op": "x", "body": {"t": {"$t": 0}},
                            "tensors": [{"dtype": "uint8", "shape": [-1], "unit": "1"}]}).encode(), b""],
               max_bytes=1 << 20)


def test_listening_beyond_loopback_needs_a_flag_and_a_token(capsys):
    device, model = simulated_device(modes=16, meshes=2)
    with pytest.raises(ValueError, match="only 127.0.0.1 unless allow_remote"):
        DeviceServer(device, host="0.0.0.0")
    with pytest.raises(ValueError, match="token of at least 16 characters"):
        DeviceServer(device, host="0.0.0.0", allow_remote=True, token="short")
    assert serve_main(["--host", "0.0.0.0", "--port", "0"]) == 2
    assert "refusing to listen on '0.0.0.0'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        serve_main(["--family", "optical-computer"])
    assert exc.value.code == 2
    assert serve_main(["--port", "0", "--power", "0.1"]) == 2
    assert "--power takes 2 comma-separated numbers" in capsys.readouterr().err
    with pytest.raises(ValueError, match="device address must look like tcp://"):
        RemoteDevice("http://127.0.0.1:80")


class _Instrument:
    """A minimal adapter written from scratch: a 'chip' whose ports read |x|², and whose
    camera fails on batches of 13."""

    family = "mesh"

    def __init__(self):
        self.queries = self.samples = 0

    def load_parameters(self, state):
        self.state = dict(state)

    def measure(self, x, *, internal_states=False):
        if x.shape[0] == 13:
            raise OSError("camera timeout")
        self.queries += 1
        self.samples += x.shape[0]
        reading = x.real**2 + x.imag**2
        return (reading, [reading]) if internal_states else reading

    def state_dict(self):
        return {"queries": self.queries, "samples": self.samples}

    def load_state_dict(self, d):
        self.queries, self.samples = d["queries"], d["samples"]


def test_any_adapter_is_served_and_its_failures_are_reported():
    inst = _Instrument()
    assert isinstance(inst, PhysicalDevice)
    with DeviceServer(inst).serve_in_thread() as thread, RemoteDevice(thread.address, timeout_s=10) as remote:
        x = torch.tensor([[1 + 2j, 3j], [0.5, -1 + 0j]], dtype=torch.complex64)
        assert torch.equal(remote.measure(x), torch.tensor([[5.0, 9.0], [0.25, 1.0]]))
        with pytest.raises(DeviceError, match=r"\(device\): measure failed: OSError: camera timeout"):
            remote.measure(torch.zeros(13, 2, dtype=torch.complex64))
        reading, taps = remote.measure(x, internal_states=True)
        assert len(taps) == 1 and (remote.queries, remote.samples) == (2, 4)


def test_a_spawned_server_that_cannot_start_is_a_one_line_error_with_its_reason():
    """hardware.serve.start: a child process that exits before serving raises its own error."""
    from hardware import serve

    with pytest.raises(RuntimeError, match="the device server did not start: .*--power takes 2 comma-separated numbers"):
        serve.start(["--port", "0", "--power", "0.1"])
