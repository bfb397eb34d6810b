"""Study reports: ``python -m experiments report NAME RUN_DIR… --out PAGE``.

A study's report reads finished run directories and writes one markdown page (with its
figures next to it), e.g. ``docs/reproduction/dat.md``. An experiment names the reports that
read its runs when it registers (``register(..., report="dat")``); report ``NAME`` lives in
``experiments/NAME/report.py``, which exposes

* ``write_report(runs, out, options=None, *, command="") -> Path``: ``runs`` the run
  directories (in the order given), ``out`` the page, ``command`` the command line that
  regenerates it (the page says so);
* optionally ``Options``, a dataclass of the report's own settings, given as ``--key value``
  after the run directories and parsed like the options of ``run``.

A ``RUN_DIR`` that is not a run (no ``config.json``) but holds runs below it stands for all of
them (e.g. ``runs/repro``). Every run must be of an experiment that names the report; anything
else is a :class:`ReportError` (one line, exit code 2 in the CLI).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from training.checkpoint import REQUIRED, read_json

from .registry import EXPERIMENTS, parse_overrides

__all__ = ["ReportError", "report_names", "readers", "options_help", "expand_run_dirs", "check_runs", "read_record",
           "write"]


class ReportError(ValueError):
    """A report cannot be written as asked (unknown name, missing or foreign run directory)."""


def report_names() -> list[str]:
    """Every report some registered experiment names."""
    return sorted({r for exp in EXPERIMENTS.values() for r in exp.reports})


def readers(name: str) -> list[str]:
    """The experiments whose runs report ``name`` reads."""
    return sorted(n for n, exp in EXPERIMENTS.items() if name in exp.reports)


def _module(name: str):
    return importlib.import_module(f"{__package__}.{name}.report")


def options_help(name: str) -> str:
    """``--key (default)`` of every option of report ``name`` ("" when it has none)."""
    import dataclasses

    options_type = getattr(_module(name), "Options", None)
    if options_type is None:
        return ""
    return ", ".join(f"--{f.name.replace('_', '-')} (default {f.default!r})" for f in dataclasses.fields(options_type))


def _is_run(path: Path) -> bool:
    return (path / "config.json").is_file()


def expand_run_dirs(paths) -> list[Path]:
    """Run directories in the order given; a folder that is not a run stands for the runs
    below it (sorted by path; a run's own sub-folders are not searched)."""
    out = []
    for p in map(Path, paths):
        if not p.exists():
            raise ReportError(f"{p} does not exist")
        if not p.is_dir():
            raise ReportError(f"{p} is not a directory (give run directories)")
        if _is_run(p):
            out.append(p)
            continue
        found, todo = [], [p]
        while todo:
            d = todo.pop()
            for sub in sorted((s for s in d.iterdir() if s.is_dir()), reverse=True):
                (found.append(sub) if _is_run(sub) else todo.append(sub))
        if not found:
            raise ReportError(f"{p} holds no run directory (no config.json in it or below it)")
        out += sorted(found)
    return out


def read_record(path, *, default=REQUIRED):
    """A run's JSON record (``config.json``, ``progress.json``, ``results.json`` …) as parsed.

    A missing file returns ``default`` when one is given; otherwise a missing, unreadable or
    corrupt file is a :class:`ReportError` that names it (one line; exit code 2 in the CLI).
    """
    return read_json(path, default=default, missing="not a finished run, or not a run of this report", hint=None,
                     error=ReportError)


def check_runs(name: str, runs: list[Path]) -> list[Path]:
    """``runs`` unchanged when every one is a run of an experiment that report ``name`` reads."""
    allowed = readers(name)
    for run in runs:
        record = read_record(run / "config.json")
        if not isinstance(record, dict):
            raise ReportError(f"{run / 'config.json'} is not a run configuration (a JSON object)")
        experiment = record.get("experiment")
        if experiment not in allowed:
            raise ReportError(f"{run} is a run of {experiment!r}; the {name} report reads runs of "
                              f"{', '.join(allowed)}")
    return runs


def write(name: str, run_dirs, out, extra: list[str] = ()) -> Path:
    """Check the request, then let ``experiments/<name>/report.py`` write the page ``out``."""
    if name not in report_names():
        raise ReportError(f"unknown report {name!r}; available: {', '.join(report_names())}")
    runs = check_runs(name, expand_run_dirs(run_dirs))
    module = _module(name)
    options_type = getattr(module, "Options", None)
    if options_type is None and extra:
        raise ReportError(f"the {name} report takes no options, got {' '.join(extra)}")
    options = parse_overrides(options_type, list(extra)) if options_type is not None else None
    command = " ".join(["python -m experiments report", name, *map(str, run_dirs), "--out", str(out), *extra])
    return module.write_report(runs, Path(out), options, command=command)
