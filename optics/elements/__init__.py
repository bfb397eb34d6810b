"""Thin nn.Module wrappers around optics.functional: parameters live here, kernels are cached
as non-persistent buffers (so state dicts hold only learnable state)."""

from .masks import Aperture, AmplitudeMask, Lens, PhaseMask
from .propagation import FreeSpace
from .system import OpticalSystem

__all__: list[str] = ["FreeSpace", "PhaseMask", "AmplitudeMask", "Lens", "Aperture", "OpticalSystem"]
from .diffusers import Diffuser, DiffuserSet  # noqa: E402
from .detectors import RegionDetector  # noqa: E402

__all__ += ["Diffuser", "DiffuserSet", "RegionDetector"]
