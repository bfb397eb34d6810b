"""onnsim.hardware — simulated physical systems with systematic errors.

* error models with ``sample(..., generator=g)`` and frozen realizations
  (:class:`DiffractiveErrors`, :class:`MeshNetworkErrors`, :class:`DetectorNoise`);
* severity presets per family (:mod:`hardware.presets`, tables in docs/hardware.md);
* :class:`PhysicalSystem`: a model with hidden errors that can be measured, not inspected;
* device specs (:mod:`hardware.specs`) and HDF5 persistence (:mod:`hardware.io`).
"""

from .errors import DetectorNoise, DiffractiveErrorModel, DiffractiveErrors, MeshErrorModel, MeshNetworkErrors
from .io import load_realization, load_spec, save_realization, save_spec
from .physical import PhysicalSystem, hardware_family
from .presets import PRESETS, diffractive_error_model, error_model, mesh_error_model
from .specs import DetectorSpec, MZISpec, PrintedLayerSpec, SLMSpec

__all__ = [
    "PhysicalSystem", "hardware_family",
    "DetectorNoise", "DiffractiveErrors", "DiffractiveErrorModel", "MeshNetworkErrors", "MeshErrorModel",
    "PRESETS", "error_model", "diffractive_error_model", "mesh_error_model",
    "SLMSpec", "PrintedLayerSpec", "MZISpec", "DetectorSpec",
    "save_realization", "load_realization", "save_spec", "load_spec",
]
