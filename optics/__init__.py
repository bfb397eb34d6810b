"""onnsim.optics — scalar wave optics on sampled planes.

Core types: :class:`Grid` (sampling of a plane) and :class:`Field` (complex field on a grid).
Pure functions live in :mod:`optics.functional`; thin ``nn.Module`` wrappers that hold
parameters and cache kernels live in :mod:`optics.elements` and are re-exported here.
SI units throughout (see :mod:`optics.units`). Conventions: exp(-iωt) time dependence,
forward propagation multiplies by exp(+i k_z z), arrays are indexed ``[y, x]``.
"""

from importlib.metadata import PackageNotFoundError as _NotInstalled, version as _version

try:  # the installed distribution's version; a bare source tree has none
    __version__ = _version("onnsim")
except _NotInstalled:
    __version__ = "0.0.0+unknown"

from . import functional, units
from ._checks import SamplingError, SamplingWarning
from .elements import *  # noqa: F401,F403
from .elements import __all__ as _elements_all
from .field import Field
from .grid import Grid
from ._memory import huge_pages, use_huge_pages

__all__ = ["Grid", "Field", "functional", "units", "SamplingError", "SamplingWarning", "huge_pages",
           "use_huge_pages", *_elements_all]
