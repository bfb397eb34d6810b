"""Command line: ``python -m experiments list | run NAME [--key value ...] | show RUN_DIR | export RUN_DIR |
report NAME RUN_DIR… --out PAGE [--key value ...]``.

``run`` also works under ``torchrun`` (data-parallel training on torch.distributed), e.g.
``torchrun --nproc_per_node 2 -m experiments run dat-mpnn --scale smoke``. User errors print
``error: …`` on one line and exit with code 2; SIGINT/SIGTERM stop at the next safe point,
print the ``--resume`` command and exit with 130.

OpenMP spinning: torch's libgomp threads spin ~300k iterations waiting for work. On a machine
shared with other torch processes that made mesh training steps 5-50x slower (measured here:
6.9 s/step vs 1.2 s/step with a short spin, 2 threads beside one other run), while on an idle
machine a spin of 20k measured as fast as the default (9.5-10.3 s vs 9.8-10.0 s per epoch of
20k images). libgomp reads ``GOMP_SPINCOUNT`` once, when torch loads it, and importing the
package has loaded torch before this module runs, so ``run`` re-executes itself once with
``GOMP_SPINCOUNT=20000`` when neither ``GOMP_SPINCOUNT`` nor ``OMP_WAIT_POLICY`` is set (set
either yourself to choose).

Huge pages: in the same re-execution ``run`` sets ``THP_MEM_ALLOC_ENABLE=1`` unless it is set,
so torch puts CPU tensors of 2 MiB or more on transparent huge pages (torch reads it at its
first allocation; :mod:`optics._memory`; set it to 0 to keep 4 KiB pages). Only the command
line does any of this: importing ``experiments`` sets nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from optics import _memory
from training.checkpoint import CheckpointError
from training.distributed import init as dist_init
from training.distributed import exit_process, resolve_device
from training.tracking import require_tensorboard
from training import records

from . import EXPERIMENTS, export, reports
from .registry import SCALES, build_config, help_config, invoke, scales_of
from training.runtime import Interrupted, Runtime

# errors a user can cause and fix: one line and exit code 2 (--debug shows the traceback)
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
               CheckpointError, RuntimeError, MemoryError, OSError)


def _list(_args) -> int:
    width = max(len(n) for n in EXPERIMENTS)
    for name, exp in sorted(EXPERIMENTS.items()):
        times = ", ".join(f"{s}: {exp.runtime.get(s, '?')}" for s in scales_of(exp))
        print(f"{name:<{width}}  {exp.description}\n{'':<{width}}  expected time — {times}")
    return 0


def _run(args, extra: list[str]) -> int:
    if args.name not in EXPERIMENTS:
        print(f"error: unknown experiment {args.name!r}; available: {', '.join(sorted(EXPERIMENTS))}",
              file=sys.stderr)
        return 2
    exp = EXPERIMENTS[args.name]
    if args.help_config:
        print(help_config(exp, args.scale))
        return 0
    try:
        cfg = build_config(exp, args.scale, extra)
        device = resolve_device(args.device)
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if exp.requires is not None:
        ok, why = exp.requires()
        if not ok:
            print(f"error: {args.name} cannot run here: {why}", file=sys.stderr)
            return 2
    if args.resume and args.out is None:
        print("error: --resume needs --out RUN_DIR (the run to continue)", file=sys.stderr)
        return 2
    ctx = dist_init(device)
    rt = Runtime(ctx=ctx, tensorboard=Path(args.tensorboard) if args.tensorboard else None)
    lock, created = None, False
    try:
        if rt.tensorboard is not None:
            require_tensorboard()  # fail now, not after the first epoch
        out = None
        if ctx.is_main:
            created = args.out is None or not Path(args.out).exists()
            out = Path(args.out) if args.out else records.new_run_dir(Path(args.root), args.name)
            lock = records.claim_run_dir(out, experiment=args.name, config=cfg, resume=args.resume,
                                         overwrite=args.overwrite)
            records.write_config(out / "config.json", args.name, cfg, getattr(cfg, "seed", 0), runtime=rt.record())
        out = Path(ctx.broadcast(None if out is None else str(out)))
        if ctx.is_main:
            print(f"[{args.name}] scale {args.scale}, device {rt.device}"
                  f"{f', {ctx.world_size} ranks' if ctx.distributed else ''}, writing to {out}", flush=True)
        with rt.catch_signals():
            summary = invoke(exp, cfg, out, resume=args.resume, runtime=rt)
    except Interrupted:
        if ctx.is_main:
            launcher = (f"torchrun --nproc_per_node {ctx.world_size} -m experiments run" if ctx.distributed
                        else "python -m experiments run")  # a multi-node run: the same with its rendezvous options
            cmd = " ".join([launcher, args.name, "--scale", args.scale, "--out", str(out),
                            "--resume", *extra] + (["--device", args.device] if args.device != "auto" else []))
            print(f"[{args.name}] interrupted; checkpoints are in {out}. Continue with:\n  {cmd}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        if ctx.is_main:
            print(f"[{args.name}] stopped at once; continue from the last checkpoint with --out {args.out or '…'} "
                  "--resume", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if lock is not None and not args.resume:  # a start that failed on its input leaves no run behind
            records.abandon_run_dir(out, created=created)
        if args.debug:
            raise
        print(f"error: {_one_line(exc)} (--debug shows the traceback)", file=sys.stderr)
        return 2
    finally:
        if lock is not None:
            lock.release()
        ctx.close()
    if ctx.is_main:
        print(json.dumps(summary, indent=2, default=str))
        print(f"[{args.name}] report: {out / 'report.md'}")
    return 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, (ValueError, TypeError)) else f"{type(exc).__name__}: {text}"


def _show(args) -> int:
    path = Path(args.run_dir)
    summary = path / "summary.json"
    if not summary.exists():
        print(f"error: {path} is not a finished run directory (no summary.json)", file=sys.stderr)
        return 2
    print((path / "report.md").read_text() if (path / "report.md").exists() else summary.read_text())
    return 0


def _report(args, extra: list[str]) -> int:
    try:
        print(reports.write(args.name, args.run_dirs, args.out, extra))
    except (*USER_ERRORS, KeyError) as exc:
        if args.debug:
            raise
        text = f"{type(exc).__name__}: missing key {exc}" if isinstance(exc, KeyError) else _one_line(exc)
        print(f"error: {text} (--debug shows the traceback)", file=sys.stderr)
        return 2
    return 0


def _process_settings(argv: list[str]) -> None:
    """Re-execute ``run`` once with ``GOMP_SPINCOUNT=20000`` unless the spinning is already
    chosen, and ``THP_MEM_ALLOC_ENABLE=1`` unless set (module docstring); nothing to change,
    no re-execution."""
    if argv[:1] != ["run"]:
        return
    changed = False
    if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = "20000"
        changed = True
    if _memory.ENV not in os.environ and sys.platform.startswith("linux"):
        os.environ[_memory.ENV] = "1"
        changed = True
    if changed:
        os.execv(sys.executable, sys.orig_argv)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments", description="onnsim experiments")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list experiments")
    r = sub.add_parser("run", help="run an experiment; extra --key value pairs override its config",
                       epilog="Use `run NAME --help-config` to list an experiment's keys.")
    r.add_argument("name")
    r.add_argument("--out", help="run directory (default runs/NAME/<timestamp>)")
    r.add_argument("--root", default="runs", help="root of run directories (default: runs)")
    r.add_argument("--scale", default="cpu",
                   help=f"{', '.join(SCALES)}: smoke (seconds, for tests), cpu (this 2-core machine; default), paper "
                        "(published, GPU); some experiments add their own (see `list`)")
    r.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    r.add_argument("--overwrite", action="store_true", help="replace the run in --out (it is deleted)")
    r.add_argument("--device", default="auto",
                   help="auto (CUDA when available; default), cpu, cuda or cuda:N; under torchrun cuda = cuda:LOCAL_RANK")
    r.add_argument("--tensorboard", metavar="DIR", help="log per-epoch scalars to DIR (needs tensorboard)")
    r.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    r.add_argument("--help-config", action="store_true", help="list this experiment's options")
    s = sub.add_parser("show", help="print a run's report")
    s.add_argument("run_dir")
    export.add_parser(sub)
    p = sub.add_parser("report", help="write a study's page from its run directories",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="reports (the runs they read; their own options, given as --key value):\n"
                              + "\n".join(f"  {n}: {', '.join(reports.readers(n))}"
                                          + (f"; {reports.options_help(n)}" if reports.options_help(n) else "")
                                          for n in reports.report_names()))
    p.add_argument("name", help="the study: " + ", ".join(reports.report_names()))
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories, or folders holding run directories (e.g. runs/repro)")
    p.add_argument("--out", required=True, metavar="PAGE", help="the page to write, e.g. docs/reproduction/dat.md")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    args, extra = ap.parse_known_args(argv)
    if args.command in ("list", "show", "export") and extra:  # only run and report take --key value options
        print(f"error: unknown {args.command} options {' '.join(extra)}", file=sys.stderr)
        return 2
    if args.command == "list":
        return _list(args)
    if args.command == "show":
        return _show(args)
    if args.command == "report":
        return _report(args, extra)
    if args.command == "export":
        return export.main(args)
    return _run(args, extra)


if __name__ == "__main__":
    _process_settings(sys.argv[1:])
    exit_process(main())  # sys.exit in one process; a torchrun rank ends without teardown (see there)
