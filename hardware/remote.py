"""``RemoteDevice``: a :class:`hardware.PhysicalDevice` that lives behind a socket.

The client side of :mod:`hardware.server`. It implements the device protocol, so
``Trainer(task, cfg, physical=RemoteDevice("tcp://127.0.0.1:5555"))`` trains against whatever
the server hosts (a simulated device from ``python -m hardware.serve``, or your instrument).

Failure handling:

* every request waits at most ``timeout_s``; then the socket is closed and reopened (a REQ
  socket cannot send again before it has a reply: the "lazy pirate" pattern of the ZeroMQ
  guide, ch. 4) and the request is sent again, ``retries`` times, ``retry_wait_s`` apart;
* retries are exact: the server answers a repeated request (same session and id) from its
  cache instead of measuring twice, so ``queries``, ``samples`` and the noise stream never
  count a retry;
* when the server comes back as a new process (its ``server_id`` changed), the client first
  restores what it holds — the last programmed parameters and the device state of the last
  acknowledged reply (counters, noise stream, drift) — then sends the pending request again:
  the run continues as if nothing had happened, provided the new server hosts the same
  device (checked against the description; a different device is an error);
* after all retries, :class:`DeviceUnavailable` says where and how long it waited; the
  trainer's last checkpoint (which holds :meth:`state_dict`) resumes the run later.

``queries``, ``samples`` and :meth:`state_dict` are the values of the last acknowledged
reply (no round trip): one client drives one device.
"""

from __future__ import annotations

import copy
import re
import secrets
import time

import torch
import zmq

from .server import ClosesOnExit, units_of
from .wire import WireError, decode, encode

__all__ = ["RemoteDevice", "DeviceError", "DeviceUnavailable"]

_ADDRESS = re.compile(r"^tcp://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):(\d{1,5})$")


class DeviceError(RuntimeError):
    """The device refused a request (the message says why)."""


class DeviceUnavailable(DeviceError):
    """The device did not answer within the timeouts and retries."""


class RemoteDevice(ClosesOnExit):
    """A device served by :class:`hardware.DeviceServer` (see the module docstring).

    Args:
        address: ``tcp://HOST:PORT``.
        token: the server's shared secret, if it has one.
        timeout_s: wait for one reply, s.
        retries: attempts after the first one that timed out.
        retry_wait_s: pause before each new attempt, s.
        max_reply_bytes: largest accepted reply.
    """

    def __init__(self, address: str, *, token: str | None = None, timeout_s: float = 60.0, retries: int = 3,
                 retry_wait_s: float = 0.5, max_reply_bytes: int = 1 << 31):
        if not isinstance(address, str) or not _ADDRESS.match(address):
            raise ValueError(f"device address must look like tcp://127.0.0.1:5555, got {address!r}")
        if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
            raise ValueError(f"timeout_s must be > 0 (s), got {timeout_s!r}")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an int ≥ 0, got {retries!r}")
        self.address = address
        self.timeout_s, self.retries, self.retry_wait_s = float(timeout_s), retries, float(retry_wait_s)
        self.max_reply_bytes = int(max_reply_bytes)
        self._token = token
        self._ctx = zmq.Context()
        self._sock = None
        self._session = secrets.token_hex(8)
        self._id = 0
        self._programmed = None
        self._torch_device = torch.device("cpu")
        self.server_id = None
        self.reconnects = 0  # server restarts recovered from
        self.resends = 0  # requests sent again after a timeout
        try:
            hello = self._hello()
        except BaseException:
            self.close()
            raise
        self.description = hello["description"]
        self.initial_state = hello["initial_state"]  # the device as the server started it

    # -- transport -------------------------------------------------------------------------
    def _socket(self):
        if self._sock is None:
            self._sock = self._ctx.socket(zmq.REQ)
            self._sock.setsockopt(zmq.LINGER, 0)
            self._sock.connect(self.address)
        return self._sock

    def _drop_socket(self):
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def _exchange(self, op: str, body: dict, *, server) -> dict:
        """Send one request (with retries); returns the decoded reply header."""
        self._id += 1
        waited = 0.0
        for attempt in range(self.retries + 1):
            frames = encode(op, body, unit_of=units_of, id=self._id, session=self._session, token=self._token,
                            server=server)
            if self.max_bytes is not None and sum(memoryview(f).nbytes for f in frames) > self.max_bytes:
                raise WireError(f"{op} request is larger than the server's limit of {self.max_bytes} bytes: "
                                "measure smaller batches")
            sock = self._socket()
            sock.send_multipart(frames)
            if sock.poll(int(self.timeout_s * 1000), zmq.POLLIN):
                return decode(sock.recv_multipart(copy=False), max_bytes=self.max_reply_bytes, copy=False)
            waited += self.timeout_s
            self._drop_socket()  # lazy pirate: a REQ socket without a reply cannot send again
            if attempt < self.retries:
                self.resends += 1
                time.sleep(self.retry_wait_s)
                waited += self.retry_wait_s
        raise DeviceUnavailable(
            f"the device at {self.address} did not answer {op} within {self.retries + 1} attempts of "
            f"{self.timeout_s:g} s ({waited:g} s in all): it is down or unreachable; the state of the last "
            "acknowledged reply is kept — save a checkpoint and resume when the server is back")

    max_bytes = None

    def _hello(self) -> dict:
        reply = self._exchange("hello", {}, server=None)
        body = self._check(reply)
        self.server_id = body["server"]
        self.max_bytes = int(body["max_bytes"])
        self._acknowledge(body)
        return body

    def _check(self, reply: dict) -> dict:
        body = reply["body"]
        if reply["op"] == "error":
            kind, msg = body.get("kind"), body.get("message")
            raise DeviceError(f"the device at {self.address} refused the request ({kind}): {msg}")
        return body

    def _acknowledge(self, body: dict) -> None:
        self.queries, self.samples = int(body["queries"]), int(body["samples"])
        self.server_cpu_s = body.get("server_cpu_s", {})  # the server's CPU time so far (diagnostics)
        self.server_wall_s = body.get("server_wall_s", {})  # and its wall time (the device's share included)
        self._state = body["state"]

    def _call(self, op: str, body: dict) -> dict:
        for _ in range(8):
            reply = self._exchange(op, body, server=self.server_id)
            if reply["op"] == "error" and reply["body"].get("kind") == "restarted":
                self._recover()
                continue
            out = self._check(reply)
            self._acknowledge(out)
            return out
        raise DeviceError(f"the device at {self.address} kept restarting during {op}")

    def _recover(self) -> None:
        """The server is a new process: restore parameters and state, then carry on."""
        state, programmed = self._state, self._programmed
        hello = self._exchange("hello", {}, server=None)
        body = self._check(hello)
        if _shape_key(body["description"]) != _shape_key(self.description):
            raise DeviceError(f"the device at {self.address} came back as a different device: "
                              f"{body['description']} instead of {self.description}")
        self.server_id, self.max_bytes = body["server"], int(body["max_bytes"])
        self.reconnects += 1
        if programmed is not None:
            self._call("load_parameters", {"parameters": programmed})
        self._call("load_state_dict", {"state": state})

    # -- the PhysicalDevice surface -------------------------------------------------------
    @property
    def family(self) -> str:
        return self.description["family"]

    def load_parameters(self, state: dict) -> None:
        if not isinstance(state, dict):
            raise TypeError(f"load_parameters expects a state dict, got {type(state).__name__}")
        params = {k: v.detach().to("cpu").clone() for k, v in state.items()}
        self._call("load_parameters", {"parameters": params})
        self._programmed = params

    def measure(self, x, *, internal_states: bool = False):
        body = self._call("measure", {"x": x, "internal_states": bool(internal_states)})
        reading, taps = body["reading"].to(self._torch_device), body["taps"]
        if internal_states:
            return reading, [t.to(self._torch_device) for t in taps]
        return reading

    def to(self, device):
        """Readings arrive on this torch device (the instrument itself stays where it is)."""
        self._torch_device = torch.device(device)
        return self

    def state_dict(self) -> dict:
        """The device state of the last acknowledged reply (a copy)."""
        return copy.deepcopy(self._state)

    def load_state_dict(self, state: dict) -> None:
        self._call("load_state_dict", {"state": state})

    def describe(self) -> dict:
        return copy.deepcopy(self.description)

    def ping(self) -> None:
        self._call("ping", {})

    def close(self) -> None:
        self._drop_socket()
        self._ctx.term()

    def __repr__(self) -> str:
        return (f"RemoteDevice({self.address}, family={self.family!r}, queries={self.queries}, "
                f"samples={self.samples}, reconnects={self.reconnects})")


def _shape_key(description: dict):
    params = description.get("parameters", {})
    return description.get("family"), sorted((k, tuple(v["shape"])) for k, v in params.items())
