"""onnsim experiments: named, runnable studies with complete run records.

Run ``python -m experiments list`` to see them and ``python -m experiments run NAME
[--scale smoke|cpu|paper] [--key value ...]`` to run one. Not shipped in the wheel; it sits
on top of every library package.
"""

from .registry import EXPERIMENTS, SCALES, Experiment, register

__all__ = ["EXPERIMENTS", "SCALES", "Experiment", "register"]

# each module registers itself
from . import (baselines, beam_splitter, d2nn_classifier, dat_dpnn, dat_mpnn, diffuser_imaging,  # noqa: E402,F401
               diffuser_study, fdtd_validation, quickstart, vaccination)
