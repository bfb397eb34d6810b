"""onnsim.hardware — simulated physical systems with systematic errors.

* error models with ``sample(..., generator=g)`` and frozen realizations
  (:class:`DiffractiveErrors`, :class:`MeshNetworkErrors`, :class:`DetectorNoise`), and the
  random per-layer 3-D displacements of misalignment training (:class:`LayerDisplacements`);
* severity presets per family (:mod:`hardware.presets`, tables in docs/hardware.md);
* :class:`PhysicalSystem`: a model with hidden errors that can be measured, not inspected;
* device specs (:mod:`hardware.specs`) and HDF5 persistence (:mod:`hardware.io`);
* hardware in the loop: the device protocol (:class:`PhysicalDevice`), drift models
  (:mod:`hardware.drift`) and :class:`DriftingSystem`, a ZeroMQ transport
  (:class:`DeviceServer`, :class:`RemoteDevice`, wire format :mod:`hardware.wire`) and
  ``python -m hardware.serve``;
* fabrication export: materials (:mod:`hardware.materials`), phase → height
  (:mod:`hardware.export`) and file writers (:mod:`hardware.writers`; docs/export.md).
"""

from importlib.metadata import PackageNotFoundError as _NotInstalled, version as _version

try:  # the installed distribution's version; a bare source tree has none
    __version__ = _version("onnsim")
except _NotInstalled:
    __version__ = "0.0.0+unknown"

from .errors import DetectorNoise, DiffractiveErrorModel, DiffractiveErrors, MeshErrorModel, MeshNetworkErrors
from .displacements import LayerDisplacements, displacement_errors
from .export import HeightMap, amplitude_transmission, export_heights, height_to_phase, phase_to_height, quantize
from .io import load_realization, load_spec, save_realization, save_spec
from .materials import MATERIALS, Material, get_material
from .physical import PhysicalSystem, hardware_family
from .drift import LateralDrift, LinearPhaseDrift, PowerFluctuation, RandomWalkPhaseDrift, SinusoidalPhaseDrift
from .drifting import DriftingSystem
from .protocol import DescribedDevice, PhysicalDevice
from .remote import DeviceError, DeviceUnavailable, RemoteDevice
from .server import DeviceServer
from .wire import WireError
from .presets import PRESETS, diffractive_error_model, error_model, mesh_error_model
from .specs import DetectorSpec, MZISpec, PrintedLayerSpec, SLMSpec

__all__ = [
    "PhysicalSystem", "hardware_family",
    "PhysicalDevice", "DescribedDevice", "DriftingSystem", "RandomWalkPhaseDrift", "SinusoidalPhaseDrift",
    "LinearPhaseDrift", "LateralDrift", "PowerFluctuation", "DeviceServer", "RemoteDevice", "DeviceError",
    "DeviceUnavailable", "WireError",
    "DetectorNoise", "DiffractiveErrors", "DiffractiveErrorModel", "LayerDisplacements", "displacement_errors", "MeshNetworkErrors", "MeshErrorModel",
    "PRESETS", "error_model", "diffractive_error_model", "mesh_error_model",
    "SLMSpec", "PrintedLayerSpec", "MZISpec", "DetectorSpec",
    "save_realization", "load_realization", "save_spec", "load_spec",
    "Material", "MATERIALS", "get_material", "HeightMap", "export_heights", "phase_to_height", "height_to_phase",
    "quantize", "amplitude_transmission",
]
