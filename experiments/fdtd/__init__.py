"""``fdtd-validation``: onnsim's scalar wave optics against MIT Meep, the analysis of the
comparisons (:mod:`.analysis`) and the validation page (``python -m experiments report fdtd
RUN_DIR --out docs/validation/fdtd.md``)."""

from . import validation  # noqa: F401  (registration)
