"""onnsim experiments: named, runnable studies with complete run records.

Run ``python -m experiments list`` to see them and ``python -m experiments run NAME
[--scale smoke|cpu|paper] [--key value ...]`` to run one. Not shipped in the wheel; it sits
on top of every library package.
"""

import os

# Before torch loads libgomp: its worker threads spin ~300k iterations waiting for work. On a
# machine shared with other torch processes that spinning made mesh training steps 5-50x slower
# (measured here: 6.9 s/step vs 1.2 s/step with a short spin, 2 threads beside one other run),
# while on an idle machine a 20k spin measured as fast as the default (9.5-10.3 s vs 9.8-10.0 s
# per epoch of 20k images). Set GOMP_SPINCOUNT (or OMP_WAIT_POLICY) yourself to override.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "20000")

from .registry import EXPERIMENTS, SCALES, Experiment, register  # noqa: E402

__all__ = ["EXPERIMENTS", "SCALES", "Experiment", "register"]

# each module registers itself
from . import (baselines, beam_splitter, d2nn_classifier, dat_dpnn, dat_drift, dat_mpnn,  # noqa: E402,F401
               diffuser_imaging, diffuser_study, fdtd_validation, quickstart, vaccination)
