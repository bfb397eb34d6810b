"""onnsim experiments: named, runnable studies with complete run records.

Run ``python -m experiments list`` to see them and ``python -m experiments run NAME`` to run
one. Not shipped in the wheel; it sits on top of every library package.
"""

from .registry import EXPERIMENTS, Experiment, register

__all__ = ["EXPERIMENTS", "Experiment", "register"]

from . import quickstart  # noqa: E402,F401  (registers itself)
