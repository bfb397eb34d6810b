"""Benchmark: per-measurement overhead of the ZeroMQ transport on loopback.

The same simulated device (the MPNN of the DAT paper: three 64-mode Clements meshes,
bs = ps = 0.06, unless told otherwise) measures one batch, without and with internal states
(what evaluation and PAT ask for, and what DAT with internal states asks for), once in
process and once through :class:`hardware.RemoteDevice` and a ``python -m hardware.serve``
process on 127.0.0.1. Both are timed in the same run,
interleaved, with one torch thread on each side; the overhead is the median remote time minus
the median in-process time, and ``overhead_ratio`` divides it by the in-process time.

Wall time on a loaded machine also counts the scheduling delays of two processes handing a
message back and forth, so the CPU cost is reported too: ``transport_cpu_ms`` = the client's
CPU time per remote measurement (encode, send, receive, decode) + the server's CPU time per
request outside the device's ``measure`` (decode, encode, state), and
``transport_cpu_ratio`` divides it by the in-process CPU time of the same measurement.
``transport_wall_ms`` (each round trip less the device's own wall time in it) splits into
``client_codec_ms`` (encode + decode in the client), ``server_codec_ms`` (the server's request
handling outside the device) and ``legs_ms`` (the rest: ZeroMQ, loopback TCP and the thread
wake-ups of both directions).

The floor under all of that is measured in the same run (``transport_floor`` lines): the same
request and reply bytes between two bare processes, once over ZeroMQ REQ/REP (the library
alone, no onnsim code) and once over a plain TCP socket (no I/O threads), with the server doing
torch work for the device's measured wall time before it replies, so both ends wake, and find
their caches, as they do around a real measurement (after a spin loop instead, the ZeroMQ
floor measured 0.1 ms lower).

Usage: ``python bench/transport.py [--modes 64] [--meshes 3] [--batch 500] [--repeats 30]``.
Prints one JSON line per batch size and internal-states setting, and one per floor.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import emit, interleaved_wall_cpu  # noqa: E402

import hardware.remote as remote_mod  # noqa: E402
from hardware import RemoteDevice  # noqa: E402
from hardware import serve  # noqa: E402
from hardware.serve import simulated_device  # noqa: E402


def _work(seconds: float) -> None:
    """Torch work of the device's kind (a 500 × 64 complex batch through 64 × 64 matrices) for
    ``seconds``: after it, caches hold what a measurement leaves there (a spin loop does not)."""
    end = time.perf_counter() + seconds
    x, m = torch.ones(500, 64, dtype=torch.complex64), torch.eye(64, dtype=torch.complex64)
    while time.perf_counter() < end:
        x = (x @ m) * 0.5 + 0.5


def _floor_server(kind: str, port: int, device_s: float, reply_bytes: int, n: int) -> None:
    """Answer ``n`` requests after ``device_s`` of torch work each, with ``reply_bytes``."""
    torch.set_num_threads(1)
    reply = bytes(reply_bytes)
    if kind == "zmq":
        import zmq

        sock = zmq.Context().socket(zmq.REP)
        sock.bind(f"tcp://127.0.0.1:{port}")
        print("ready", flush=True)
        for _ in range(n):
            sock.recv_multipart(copy=False)
            _work(device_s)
            sock.send_multipart([b"h", reply])
        return
    with socket.create_server(("127.0.0.1", port)) as listener:
        print("ready", flush=True)
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            for _ in range(n):
                _recv_sized(conn)
                _work(device_s)
                conn.sendall(struct.pack("<Q", len(reply)) + reply)


def _recv_sized(conn) -> memoryview:
    (size,) = struct.unpack("<Q", conn.recv(8, socket.MSG_WAITALL))
    buf = memoryview(bytearray(size))
    got = 0
    while got < size:
        got += conn.recv_into(buf[got:], size - got)
    return buf


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def floor(kind: str, device_ms: float, request_bytes: int, reply_bytes: int, repeats: int) -> float:
    """Median round trip less ``device_ms`` (ms) of the bare ``kind`` transport ("zmq" or "tcp")."""
    port, n = _free_port(), repeats + 5
    proc = subprocess.Popen([sys.executable, __file__, "--floor-server", kind, str(port), str(device_ms / 1e3),
                             str(reply_bytes), str(n)], stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"the {kind} floor server did not start")
        request, times = bytes(request_bytes), []
        if kind == "zmq":
            import zmq

            sock = zmq.Context().socket(zmq.REQ)
            sock.connect(f"tcp://127.0.0.1:{port}")
            for _ in range(n):
                t0 = time.perf_counter()
                sock.send_multipart([b"h", request])
                sock.recv_multipart(copy=False)
                times.append(time.perf_counter() - t0)
            sock.close(linger=0)
        else:
            with socket.create_connection(("127.0.0.1", port)) as conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for _ in range(n):
                    t0 = time.perf_counter()
                    conn.sendall(struct.pack("<Q", request_bytes) + request)
                    _recv_sized(conn)
                    times.append(time.perf_counter() - t0)
        proc.wait(30)
    finally:
        proc.kill()
    return statistics.median(times[5:]) * 1e3 - device_ms


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", type=int, default=64)
    ap.add_argument("--meshes", type=int, default=3)
    ap.add_argument("--batch", type=int, nargs="+", default=[500])
    ap.add_argument("--preset", default="bs=0.06,ps=0.06")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--floor-server", nargs=5, metavar=("KIND", "PORT", "DEVICE_S", "REPLY_BYTES", "N"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.floor_server:
        kind, port, device_s, reply_bytes, n = args.floor_server
        return _floor_server(kind, int(port), float(device_s), int(reply_bytes), int(n))
    torch.set_num_threads(1)
    local, model = simulated_device(modes=args.modes, meshes=args.meshes, preset=args.preset)
    proc = serve.spawn(["--port", 0, "--threads", 1, "--modes", args.modes, "--meshes", args.meshes, "--preset",
                        args.preset], threads=1)
    try:
        try:
            address = serve.wait_address(proc)
        except RuntimeError as exc:
            raise SystemExit(str(exc)) from None
        remote = RemoteDevice(address, timeout_s=120)
        for dev in (local, remote):
            dev.load_parameters(model.state_dict())
        codec = []  # seconds in the client's encode/decode during one measure

        def timed(fn):
            def call(*a, **k):
                t0 = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    codec.append(time.perf_counter() - t0)
            return call

        remote_mod.encode, remote_mod.decode = timed(remote_mod.encode), timed(remote_mod.decode)
        gen = torch.Generator().manual_seed(0)
        for batch, taps in ((b, t) for b in args.batch for t in (False, True)):
            x = torch.randn(batch, args.modes, dtype=torch.complex64, generator=gen)
            request_bytes = x.numel() * x.element_size()
            wall, cpu = interleaved_wall_cpu({"in_process": lambda: local.measure(x, internal_states=taps),
                                              "remote": lambda: remote.measure(x, internal_states=taps)},
                                             repeats=args.repeats, warmup=3)
            # the direct measure: each remote call's round trip less the server's own wall time in
            # the device's measure for that very call (no comparison between two processes' runs),
            # split into the client's encoding + decoding, the server's (its request handling
            # outside the device) and the rest: ZeroMQ, TCP on loopback and the wake-ups of the
            # threads that hand the message on, both ways
            direct, device_wall, client_codec, server_codec = [], [], [], []
            for _ in range(args.repeats):
                d0, h0 = remote.server_wall_s["device"], remote.server_wall_s["handle"]
                codec.clear()
                w0 = time.perf_counter()
                remote.measure(x, internal_states=taps)
                w = time.perf_counter() - w0
                dev = remote.server_wall_s["device"] - d0
                direct.append((w - dev) * 1e3)
                device_wall.append(dev * 1e3)
                client_codec.append(sum(codec) * 1e3)
                server_codec.append((remote.server_wall_s["handle"] - h0 - dev) * 1e3)
            remote.ping()
            before = dict(remote.server_cpu_s)
            n = 10
            for _ in range(n):
                remote.measure(x, internal_states=taps)
            remote.ping()
            after = remote.server_cpu_s
            server_ms = {k: (after[k] - before[k]) / n * 1e3 for k in ("handle", "device")}
            transport_cpu = cpu["remote"] + server_ms["handle"] - server_ms["device"]
            overhead = wall["remote"] - wall["in_process"]
            transport_ms, device_ms = statistics.median(direct), statistics.median(device_wall)
            emit({"bench": "transport_loopback", "modes": args.modes, "meshes": args.meshes, "batch": batch,
                  "internal_states": taps, "in_process_ms": round(wall["in_process"], 3),
                  "remote_ms": round(wall["remote"], 3), "overhead_ms": round(overhead, 3),
                  "overhead_ratio": round(overhead / wall["in_process"], 4),
                  "client_cpu_ms": round(cpu["remote"], 3), "in_process_cpu_ms": round(cpu["in_process"], 3),
                  "server_handle_cpu_ms": round(server_ms["handle"], 3),
                  "server_device_cpu_ms": round(server_ms["device"], 3),
                  "transport_cpu_ms": round(transport_cpu, 3),
                  "transport_cpu_ratio": round(transport_cpu / cpu["in_process"], 4),
                  "server_device_wall_ms": round(device_ms, 3), "transport_wall_ms": round(transport_ms, 3),
                  "transport_wall_ratio": round(transport_ms / device_ms, 4),
                  "client_codec_ms": round(statistics.median(client_codec), 3),
                  "server_codec_ms": round(statistics.median(server_codec), 3),
                  "legs_ms": round(transport_ms - statistics.median(client_codec) - statistics.median(server_codec), 3),
                  "load_average_1min": round(os.getloadavg()[0], 2),
                  "request_bytes": request_bytes, "transport": "zmq tcp 127.0.0.1",
                  "repeats": args.repeats})
            out = local.measure(x, internal_states=taps)  # its reply's size
            reply_bytes = sum(t.numel() * t.element_size() for t in (out if taps else (out,))
                              for t in ((t,) if torch.is_tensor(t) else t))
            for kind in ("zmq", "tcp"):
                ms = floor(kind, device_ms, request_bytes, reply_bytes, args.repeats)
                emit({"bench": "transport_floor", "kind": kind, "batch": batch, "internal_states": taps,
                      "device_ms": round(device_ms, 3), "floor_ms": round(ms, 3),
                      "floor_ratio": round(ms / device_ms, 4), "onnsim_transport_wall_ms": round(transport_ms, 3),
                      "request_bytes": request_bytes, "reply_bytes": reply_bytes,
                      "load_average_1min": round(os.getloadavg()[0], 2), "repeats": args.repeats})
        remote.close()
    finally:
        proc.terminate()
        proc.wait(20)


if __name__ == "__main__":
    main()
