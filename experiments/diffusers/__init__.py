"""Imaging through random diffusers (Luo et al. 2022; Li et al. 2023): ``diffuser-imaging``,
``diffuser-study`` and the reproduction page (``python -m experiments report diffusers
RUN_DIR… --out docs/reproduction/diffusers.md``)."""

from . import imaging, study  # noqa: F401  (registration)
