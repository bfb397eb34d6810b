"""The diffractive classifier of Lin et al. (2018): ``runner`` (the ``d2nn-classifier``
experiment) and ``report`` (docs/reproduction/d2nn.md)."""

from . import runner  # noqa: F401  (registers d2nn-classifier)
