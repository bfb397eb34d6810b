"""Dual adaptive training (Zheng et al. 2023): ``dat-mpnn`` (the interference PNN), ``dat-dpnn``
(a diffractive PNN), ``dat-drift`` (a drifting device behind a socket) and the reproduction
page (``python -m experiments report dat RUN_DIR… --out docs/reproduction/dat.md``)."""

from . import dpnn, drift, mpnn  # noqa: F401  (registration)
