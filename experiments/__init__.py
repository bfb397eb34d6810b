"""onnsim experiments: named, runnable studies with complete run records.

Run ``python -m experiments list`` to see them, ``python -m experiments run NAME
[--scale smoke|cpu|paper] [--key value ...]`` to run one and ``python -m experiments report
NAME RUN_DIR… --out PAGE`` to write a study's page from its runs. Not shipped in the wheel; it
sits on top of every library package.

Layout: the core (:mod:`.registry`, the CLI ``__main__``, :mod:`.reports`, :mod:`.export`)
and one folder per study, each with its runners and its ``report.py``: ``dat/``,
``diffusers/``, ``vaccination/``, ``fdtd/``, ``d2nn/``, ``designs/``. What they run on lives
in the library: the study runner (:mod:`training.study`), the runtime of an invocation
(:mod:`training.runtime`), the figures (:mod:`training.figures`) and the run records
(:mod:`training.records`). Importing this package
registers every experiment and changes nothing else (no environment variables, no global
settings: the CLI sets what it needs).
"""

import importlib.util as _util
import sys as _sys

if _util.find_spec("matplotlib") is None:  # the only dependency beyond the library's own
    _why = ("onnsim's experiments draw their figures with matplotlib, which is not installed: "
            "pip install 'onnsim[experiments]' (or bash scripts/setup.sh)")
    if _sys.argv[:1] == ["-m"]:  # `python -m experiments …`: a user error, one line, exit code 2
        print(f"error: {_why}", file=_sys.stderr)
        raise SystemExit(2)
    raise ImportError(_why)

from .registry import EXPERIMENTS, SCALES, Experiment, register  # noqa: E402

__all__ = ["EXPERIMENTS", "SCALES", "Experiment", "register"]

# each study registers its experiments when imported
from . import d2nn, dat, designs, diffusers, fdtd, vaccination  # noqa: E402,F401
