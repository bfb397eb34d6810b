"""Command line: ``python -m experiments list | run NAME [--key value ...] | show RUN_DIR | export RUN_DIR |
fdtd-doc RUN_DIR OUT.md``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from . import EXPERIMENTS
from . import export, records
from .registry import SCALES, build_config


def _list(_args) -> int:
    width = max(len(n) for n in EXPERIMENTS)
    for name, exp in sorted(EXPERIMENTS.items()):
        times = ", ".join(f"{s}: {exp.runtime.get(s, '?')}" for s in SCALES)
        print(f"{name:<{width}}  {exp.description}\n{'':<{width}}  expected time — {times}")
    return 0


def _run(args, extra: list[str]) -> int:
    if args.name not in EXPERIMENTS:
        print(f"error: unknown experiment {args.name!r}; available: {', '.join(sorted(EXPERIMENTS))}",
              file=sys.stderr)
        return 2
    exp = EXPERIMENTS[args.name]
    if args.help_config:
        print(f"options of {args.name} (defaults at scale {args.scale!r}):")
        base = exp.scales.get(args.scale, {})
        for f in dataclasses.fields(exp.config_type):
            print(f"  --{f.name.replace('_', '-')} {base.get(f.name, f.default)!r}")
        return 0
    try:
        cfg = build_config(exp, args.scale, extra)
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
    out = Path(args.out) if args.out else records.new_run_dir(Path(args.root), args.name)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    print(f"[{args.name}] scale {args.scale}, writing to {out}")
    summary = exp.run(cfg, out, resume=args.resume)
    print(json.dumps(summary, indent=2))
    print(f"[{args.name}] report: {out / 'report.md'}")
    return 0


def _show(args) -> int:
    path = Path(args.run_dir)
    summary = path / "summary.json"
    if not summary.exists():
        print(f"error: {path} is not a finished run directory (no summary.json)", file=sys.stderr)
        return 2
    print((path / "report.md").read_text() if (path / "report.md").exists() else summary.read_text())
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments", description="onnsim experiments")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list experiments")
    r = sub.add_parser("run", help="run an experiment; extra --key value pairs override its config",
                       epilog="Use `run NAME --help-config` to list an experiment's keys.")
    r.add_argument("name")
    r.add_argument("--out", help="run directory (default runs/NAME/<timestamp>)")
    r.add_argument("--root", default="runs", help="root of run directories (default: runs)")
    r.add_argument("--scale", default="cpu", choices=SCALES,
                   help="smoke (seconds, for tests), cpu (this 2-core machine; default), paper (published, GPU)")
    r.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    r.add_argument("--help-config", action="store_true", help="list this experiment's options")
    s = sub.add_parser("show", help="print a run's report")
    s.add_argument("run_dir")
    export.add_parser(sub)
    d = sub.add_parser("fdtd-doc", help="write docs/validation/fdtd.md from a fdtd-validation run directory")
    d.add_argument("run_dir")
    d.add_argument("out", help="the page to write, e.g. docs/validation/fdtd.md")
    d.add_argument("--redraw-figures", action="store_true", help="first redraw the run's figures (no Meep)")
    args, extra = ap.parse_known_args(argv)
    if args.command == "list":
        return _list(args)
    if args.command == "show":
        return _show(args)
    if args.command == "fdtd-doc":
        from . import fdtd_validation

        if extra:
            print(f"error: unknown fdtd-doc options {' '.join(extra)}", file=sys.stderr)
            return 2
        try:
            if args.redraw_figures:
                fdtd_validation.redraw_figures(args.run_dir)
            print(fdtd_validation.write_fdtd_doc(args.run_dir, args.out))
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "export":
        if extra:
            print(f"error: unknown export options {' '.join(extra)}", file=sys.stderr)
            return 2
        return export.main(args)
    return _run(args, extra)


if __name__ == "__main__":
    sys.exit(main())
