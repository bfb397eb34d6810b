"""Pure functions of scalar wave optics."""

from .masks import *  # noqa: F401,F403
from .masks import __all__ as _masks_all
from .propagation import *  # noqa: F401,F403
from .propagation import __all__ as _propagation_all

__all__: list[str] = [*_propagation_all, *_masks_all]
from .transforms import *  # noqa: F401,F403,E402
from .transforms import __all__ as _transforms_all  # noqa: E402
from .diffuser import *  # noqa: F401,F403,E402
from .diffuser import __all__ as _diffuser_all  # noqa: E402
from .detectors import *  # noqa: F401,F403,E402
from .detectors import __all__ as _detectors_all  # noqa: E402

__all__ += [*_transforms_all, *_diffuser_all, *_detectors_all]
