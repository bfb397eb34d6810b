"""Pure functions of scalar wave optics."""

from .masks import *  # noqa: F401,F403
from .masks import __all__ as _masks_all
from .propagation import *  # noqa: F401,F403
from .propagation import __all__ as _propagation_all

__all__: list[str] = [*_propagation_all, *_masks_all]
