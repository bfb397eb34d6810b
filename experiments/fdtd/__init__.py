"""``fdtd-validation``: onnsim's scalar wave optics against MIT Meep (the comparisons are
:mod:`hardware.fdtd_analysis`) and the validation page (``python -m experiments report fdtd
RUN_DIR --out docs/validation/fdtd.md``)."""

from . import validation  # noqa: F401  (registration)
