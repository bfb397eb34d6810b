"""``DeviceServer``: hosts any :class:`hardware.PhysicalDevice` behind a ZeroMQ socket.

One REP socket answers one request at a time (an instrument measures one batch at a time
anyway). Requests and replies use :mod:`hardware.wire` (JSON header + raw tensors; nothing is
unpickled). Every request is checked, and a bad one gets a one-line error reply while the
server keeps serving:

* size — a message above ``max_bytes`` is refused before any tensor is built; a single
  frame above twice that is dropped by ZeroMQ itself (``MAXMSGSIZE``), so a peer cannot make
  the server allocate more than that;
* authentication — with a ``token``, a request must carry it (constant-time comparison,
  :func:`hmac.compare_digest`); listening beyond loopback requires ``allow_remote=True`` and a
  token of at least 16 characters. The token travels in clear text: beyond a trusted network
  use an SSH tunnel to the loopback port;
* restarts — every server has a random ``server_id``. A request addressed to another id
  (the client last talked to a server that has since died) is refused unexecuted with
  ``kind="restarted"``, so the client can first restore the device state it holds;
* exactly once — the last reply per client session is cached: a retried request (same session
  and id, after a lost reply) gets that reply again instead of measuring twice.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict

import zmq

from .protocol import check_device, describe_device
from .wire import WireError, decode, encode

__all__ = ["DeviceServer", "DEFAULT_MAX_BYTES", "LOOPBACK", "units_of"]

DEFAULT_MAX_BYTES = 256 << 20  # 256 MiB per message
LOOPBACK = ("127.0.0.1", "localhost")
_SESSIONS = 64


def units_of(path) -> str:
    """Unit of a tensor in a message, from its path (phases rad, inputs √W, readings ∝ W)."""
    if not path:
        return "1"
    if path[0] == "x":
        return "sqrt(W) (complex amplitude)" if "data" not in path else "sqrt(W/m^2) (complex amplitude)"
    if path[0] in ("reading", "taps"):
        return "W (a.u., detector reading)"
    if path[0] == "parameters":
        return "rad" if str(path[-1]).rsplit(".", 1)[-1] in ("theta", "phi", "phase", "input_phases") else "1"
    return "1"


def check_bind(host: str, allow_remote: bool, token: str | None) -> None:
    """Refuse to listen beyond loopback without ``allow_remote`` and a token."""
    if host in LOOPBACK:
        return
    if not allow_remote:
        raise ValueError(f"refusing to listen on {host!r}: only 127.0.0.1 unless allow_remote (--allow-remote) "
                         "is given together with a token")
    if not token or len(token) < 16:
        raise ValueError(f"listening on {host!r} needs a shared-secret token of at least 16 characters")


class ClosesOnExit:
    """``with obj: ...`` calls ``obj.close()`` at the end."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DeviceServer(ClosesOnExit):
    """Serve ``device`` on ``tcp://host:port`` (port 0: a free port; see :attr:`address`).

    Args:
        device: any object with the :class:`hardware.PhysicalDevice` surface.
        model: the nn.Module whose state dict the device takes (for :meth:`describe`) when
            the device cannot describe itself.
        host: interface to bind, ``127.0.0.1`` by default.
        port: TCP port (0 picks a free one).
        token: shared secret every request must carry (required beyond loopback).
        allow_remote: permit a non-loopback ``host``.
        max_bytes: largest accepted message, bytes.
    """

    def __init__(self, device, *, model=None, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 allow_remote: bool = False, max_bytes: int = DEFAULT_MAX_BYTES):
        check_device(device)
        check_bind(host, allow_remote, token)
        if not isinstance(port, int) or not 0 <= port < 65536:
            raise ValueError(f"port must be an int in [0, 65535], got {port!r}")
        self.device = device
        self.description = describe_device(device, model)
        self.server_id = secrets.token_hex(8)
        self.initial_state = device.state_dict()  # what "reset" means for clients (hello sends it)
        self.max_bytes = int(max_bytes)
        self._token = token.encode() if token else None
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.REP)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, 2 * self.max_bytes)
        host = "127.0.0.1" if host == "localhost" else host
        if ":" in host:
            self._sock.setsockopt(zmq.IPV6, 1)
            host = f"[{host}]"
        try:
            self._sock.bind(f"tcp://{host}:{port if port else '*'}")
        except zmq.ZMQError as exc:
            self.close()
            raise OSError(f"cannot listen on tcp://{host}:{port}: {exc}") from None
        self.address = self._sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        self._cache: OrderedDict = OrderedDict()
        self.served = 0
        self.refused = 0
        self.cpu_s = {"handle": 0.0, "device": 0.0}  # CPU seconds answering requests / measuring
        self.wall_s = {"handle": 0.0, "device": 0.0}  # wall seconds of the same
        self._closed = False

    # -- one request ---------------------------------------------------------------------
    def _authenticate(self, header: dict) -> None:
        if self._token is None:
            return
        got = header.get("token")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), self._token):
            raise PermissionError("missing or wrong token: this server needs its shared-secret token")

    def handle(self, frames) -> list:
        """Reply frames for one request (never raises). Adds the CPU time it took to
        ``cpu_s["handle"]`` (and the device's share to ``cpu_s["device"]``)."""
        c0, w0 = time.process_time(), time.perf_counter()
        try:
            return self._handle(frames)
        finally:
            self.cpu_s["handle"] += time.process_time() - c0
            self.wall_s["handle"] += time.perf_counter() - w0

    def _handle(self, frames) -> list:
        try:
            req = decode(frames, max_bytes=self.max_bytes, check=self._authenticate, copy=False)
        except PermissionError as exc:
            return self._error("auth", str(exc))
        except WireError as exc:
            return self._error("oversized" if "exceeds" in str(exc) else "malformed", str(exc))
        op = req["op"]
        if op == "hello":
            self.served += 1
            return encode("hello", {"server": self.server_id, "description": self.description,
                                    "max_bytes": self.max_bytes, "initial_state": self.initial_state,
                                    **self._counters()}, server=self.server_id)
        if req.get("server") != self.server_id:
            return self._error("restarted", f"this is server {self.server_id}, not {req.get('server')!r}: "
                                            "send hello and restore the device state first")
        session, rid = req.get("session"), req.get("id")
        if not isinstance(session, str) or len(session) > 64 or not isinstance(rid, int):
            return self._error("malformed", "a request needs a string session (≤ 64 chars) and an integer id")
        cached = self._cache.get(session)
        if cached is not None and cached[0] == rid:
            return cached[1]
        try:
            reply = self._execute(op, req["body"] if isinstance(req["body"], dict) else {})
        except Exception as exc:  # noqa: BLE001 - an adapter may raise anything; the server must keep serving
            return self._error("device", f"{op} failed: {type(exc).__name__}: {exc}".splitlines()[0])
        self.served += 1
        self._cache[session] = (rid, reply)
        self._cache.move_to_end(session)
        while len(self._cache) > _SESSIONS:
            self._cache.popitem(last=False)
        return reply

    def _counters(self) -> dict:
        d = self.device
        return {"queries": int(d.queries), "samples": int(d.samples), "state": d.state_dict(),
                "server_cpu_s": dict(self.cpu_s), "server_wall_s": dict(self.wall_s)}

    def _execute(self, op: str, body: dict) -> list:
        d = self.device
        if op == "measure":
            internal = body.get("internal_states", False)
            if not isinstance(internal, bool):
                raise TypeError(f"internal_states must be true or false, got {internal!r}")
            c0, w0 = time.process_time(), time.perf_counter()
            out = d.measure(body["x"], internal_states=internal)
            self.cpu_s["device"] += time.process_time() - c0
            self.wall_s["device"] += time.perf_counter() - w0
            reading, taps = out if internal else (out, None)
            return encode(op, {"reading": reading, "taps": taps, **self._counters()}, unit_of=units_of,
                          server=self.server_id)
        if op == "load_parameters":
            params = body.get("parameters")
            if not isinstance(params, dict):
                raise TypeError("load_parameters needs a dict of tensors")
            d.load_parameters(params)
        elif op == "load_state_dict":
            d.load_state_dict(body["state"])
        elif op not in ("state_dict", "ping"):
            raise ValueError(f"unknown op {op!r}; known: hello, ping, measure, load_parameters, state_dict, "
                             "load_state_dict")
        return encode(op, self._counters(), server=self.server_id)

    def _error(self, kind: str, message: str) -> list:
        self.refused += 1
        return encode("error", {"kind": kind, "message": message}, server=self.server_id)

    # -- the loop ------------------------------------------------------------------------
    def serve(self, *, max_requests: int | None = None, stop: threading.Event | None = None,
              poll_ms: int = 100) -> int:
        """Answer requests until ``stop`` is set or ``max_requests`` were answered; returns
        how many were answered."""
        n = 0
        while not (stop is not None and stop.is_set()) and (max_requests is None or n < max_requests):
            if not self._sock.poll(poll_ms, zmq.POLLIN):
                continue
            frames = self._sock.recv_multipart(copy=False)  # writable frames: decoded in place (zero copy)
            self._sock.send_multipart(self.handle(frames))
            n += 1
        return n

    def serve_in_thread(self, **kwargs) -> "ServerThread":
        """Run :meth:`serve` in a daemon thread; ``.stop()`` ends it and closes the server."""
        return ServerThread(self, **kwargs)

    def close(self) -> None:
        if not getattr(self, "_closed", False):
            self._closed = True
            self._sock.close(linger=0)
            self._ctx.term()

    def __repr__(self) -> str:
        return f"DeviceServer({self.address}, id={self.server_id}, served={self.served}, refused={self.refused})"


class ServerThread:
    """A :class:`DeviceServer` answering in a background thread."""

    def __init__(self, server: DeviceServer, **kwargs):
        self.server = server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=server.serve, kwargs={"stop": self._stop, "poll_ms": 20, **kwargs},
                                        daemon=True, name=f"onnsim-device-server-{server.server_id}")
        self._thread.start()

    @property
    def address(self) -> str:
        return self.server.address

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        self.server.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
