"""``python -m hardware.serve``: serve a simulated (optionally drifting) device over TCP.

Try the whole hardware-in-the-loop path without an instrument::

    python -m hardware.serve --port 5555 --modes 16 --meshes 2 --preset bs=0.06,ps=0.06 \\
        --phase-random-walk 0.002 --seconds-per-query 1

prints ``serving ... at tcp://127.0.0.1:5555`` and answers until interrupted (or after
``--max-requests``). Binds 127.0.0.1 only unless ``--allow-remote`` and a token (``--token``
or the ONNSIM_DEVICE_TOKEN environment variable) are given. Bad options exit with status 2.
To serve your own instrument, write a class with the :class:`hardware.PhysicalDevice`
surface and run ``DeviceServer(MyInstrument(...)).serve()``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

import torch

__all__ = ["simulated_device", "build_parser", "main", "spawn", "wait_address", "start"]


def _floats(spec: str, n: int, name: str) -> tuple:
    try:
        vals = tuple(float(v) for v in spec.split(","))
    except ValueError:
        vals = ()
    if len(vals) != n:
        raise ValueError(f"--{name} takes {n} comma-separated numbers, got {spec!r}")
    return vals


def drift_models(args) -> list:
    """Drift models from the command-line options (each seeded from ``--drift-seed``)."""
    from .drift import LateralDrift, LinearPhaseDrift, PowerFluctuation, RandomWalkPhaseDrift, SinusoidalPhaseDrift

    s, out = args.drift_seed, []
    if args.phase_random_walk:
        out.append(RandomWalkPhaseDrift(args.phase_random_walk, seed=s))
    if args.phase_sine:
        amp, period = _floats(args.phase_sine, 2, "phase-sine")
        out.append(SinusoidalPhaseDrift(amp, period, seed=s + 1))
    if args.phase_ramp:
        out.append(LinearPhaseDrift(args.phase_ramp, seed=s + 2))
    if args.lateral_velocity or args.lateral_random_walk:
        v = _floats(args.lateral_velocity, 2, "lateral-velocity") if args.lateral_velocity else (0.0, 0.0)
        out.append(LateralDrift(v, args.lateral_random_walk, seed=s + 3))
    if args.power:
        std, tau = _floats(args.power, 2, "power")
        out.append(PowerFluctuation(std, tau, seed=s + 4))
    return out


def simulated_device(*, family: str = "mesh", modes: int = 16, meshes: int = 2, classes: int = 10,
                     grid_px: int = 64, pitch_m: float = 0.4e-3, wavelength_m: float = 0.75e-3, layers: int = 2,
                     gap_m: float = 0.03, preset: str = "none", error_seed: int = 1, model_seed: int = 0,
                     drifts=(), seconds_per_query: float = 1.0, clock: str = "queries"):
    """``(device, model)``: a :class:`PhysicalSystem` with static errors, wrapped in a
    :class:`DriftingSystem` when ``drifts`` are given. The model's initial parameters are
    drawn from ``model_seed`` (clients program their own before measuring)."""
    from optics import FreeSpace, Grid, OpticalSystem, PhaseMask
    from photonics import MeshNetwork

    from .drifting import DriftingSystem
    from .physical import PhysicalSystem

    g = torch.Generator().manual_seed(model_seed)
    if family == "mesh":
        model = MeshNetwork(modes, meshes, n_classes=classes, generator=g)
    elif family == "diffractive":
        grid = Grid(grid_px, pitch_m)
        parts = []
        for _ in range(layers):
            parts += [PhaseMask(grid, init="uniform", generator=g), FreeSpace(grid, wavelength_m, gap_m)]
        model = OpticalSystem(*parts)
    else:
        raise ValueError(f"family must be 'mesh' or 'diffractive', got {family!r}")
    device = PhysicalSystem(model, preset=preset, seed=error_seed if preset != "none" else None)
    if drifts:
        device = DriftingSystem(device, model, drifts, seconds_per_query=seconds_per_query, clock=clock)
    return device, model


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m hardware.serve", description="serve a simulated photonic device")
    net = ap.add_argument_group("network (127.0.0.1 only unless --allow-remote and a token)")
    net.add_argument("--host", default="127.0.0.1")
    net.add_argument("--port", type=int, default=5555, help="TCP port (0: any free port)")
    net.add_argument("--token", default=None, help="shared secret (default: $ONNSIM_DEVICE_TOKEN)")
    net.add_argument("--allow-remote", action="store_true", help="permit listening beyond loopback")
    net.add_argument("--max-mb", type=float, default=256.0, help="largest accepted message, MiB")
    net.add_argument("--max-requests", type=int, default=None, help="stop after this many requests")
    dev = ap.add_argument_group("simulated device")
    dev.add_argument("--family", choices=("mesh", "diffractive"), default="mesh")
    dev.add_argument("--modes", type=int, default=16)
    dev.add_argument("--meshes", type=int, default=2)
    dev.add_argument("--classes", type=int, default=10)
    dev.add_argument("--grid-px", type=int, default=64)
    dev.add_argument("--layers", type=int, default=2)
    dev.add_argument("--preset", default="bs=0.06,ps=0.06", help="static errors (hardware presets)")
    dev.add_argument("--error-seed", type=int, default=1)
    dev.add_argument("--model-seed", type=int, default=0)
    dr = ap.add_argument_group("drift (rates in physical units; time = queries x --seconds-per-query)")
    dr.add_argument("--phase-random-walk", type=float, default=0.0, metavar="RAD_PER_SQRT_S")
    dr.add_argument("--phase-sine", default="", metavar="AMP_RAD,PERIOD_S")
    dr.add_argument("--phase-ramp", type=float, default=0.0, metavar="RAD_PER_S")
    dr.add_argument("--lateral-velocity", default="", metavar="VY,VX (m/s)")
    dr.add_argument("--lateral-random-walk", type=float, default=0.0, metavar="M_PER_SQRT_S")
    dr.add_argument("--power", default="", metavar="REL_STD,TAU_S")
    dr.add_argument("--drift-seed", type=int, default=0)
    dr.add_argument("--seconds-per-query", type=float, default=1.0)
    dr.add_argument("--clock", choices=("queries", "wall"), default="queries")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    return ap


def spawn(argv, *, threads: int | str | None = 1) -> subprocess.Popen:
    """Start ``python -m hardware.serve ARGV`` as a child process (this interpreter; stdout and
    stderr piped, text). ``threads``: its OMP_NUM_THREADS (None: inherited)."""
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return subprocess.Popen([sys.executable, "-m", "hardware.serve", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_address(proc: subprocess.Popen) -> str:
    """Block until a spawned server prints ``serving ... at ADDRESS``; return ADDRESS. A server
    that stops first (bad options, port in use) is killed and raised as a ``RuntimeError``
    carrying what it printed (its ``error: …`` line; argparse's usage line too, for an unknown
    option)."""
    line = proc.stdout.readline()
    if " at tcp://" not in line:
        proc.kill()
        raise RuntimeError(f"the device server did not start: {(line.strip() + ' ' + proc.stderr.read().strip()).strip()}")
    return line.rsplit(" at ", 1)[1].split()[0]


def start(argv, *, threads: int | str | None = 1) -> tuple[subprocess.Popen, str]:
    """:func:`spawn` then :func:`wait_address`: ``(process, address)`` of a serving device
    (``--port 0`` in ``argv`` picks a free port)."""
    proc = spawn(argv, threads=threads)
    return proc, wait_address(proc)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    from .server import DeviceServer

    args = build_parser().parse_args(argv)
    token = args.token or os.environ.get("ONNSIM_DEVICE_TOKEN") or None
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        device, model = simulated_device(family=args.family, modes=args.modes, meshes=args.meshes,
                                         classes=args.classes, grid_px=args.grid_px, layers=args.layers,
                                         preset=args.preset, error_seed=args.error_seed,
                                         model_seed=args.model_seed, drifts=drift_models(args),
                                         seconds_per_query=args.seconds_per_query, clock=args.clock)
        server = DeviceServer(device, model=model, host=args.host, port=args.port, token=token,
                              allow_remote=args.allow_remote, max_bytes=int(args.max_mb * (1 << 20)))
    except (TypeError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` stops it as Ctrl-C does
    print(f"serving {device!r} at {server.address}" + (" (token required)" if token else ""), flush=True)
    try:
        server.serve(max_requests=args.max_requests)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print(f"stopped after {server.served} requests ({server.refused} refused)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
