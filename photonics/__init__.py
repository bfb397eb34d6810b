"""onnsim.photonics — guided-wave meshes acting on complex mode vectors ``(*batch, n_modes)``.

Conventions (docs/photonics.md, docs/design.md#conventions): ``y = U @ x`` with ``U[out, in]``; MZI
``T = diag(e^{iφ}, 1) B diag(e^{iθ/2}, e^{-iθ/2}) B`` (θ = π bar, θ = 0 cross); meshes apply
their input phase screen first; errors are frozen :class:`MeshErrors` passed to ``forward``.

Pure functions live in :mod:`photonics.functional`; modules, decompositions and error
realizations are re-exported here. :mod:`photonics.testing` offers ``assert_unitary``.
"""

from importlib.metadata import PackageNotFoundError as _NotInstalled, version as _version

try:  # the installed distribution's version; a bare source tree has none
    __version__ = _version("onnsim")
except _NotInstalled:
    __version__ = "0.0.0+unknown"

from . import functional, testing
from .decompose import MeshPhases, clements_decompose, reck_decompose
from .encoding import FourierCropEncoder, encode_fourier_crop, fourier_crop_encode
from .errors import MeshErrors, sample_mesh_errors
from .functional import electro_optic_activation, haar_unitary, intensity, mzi_transfer, normalized_intensity
from .layers import ElectroOpticActivation, MZILinear, Photodetector
from .layout import MeshLayout
from .mesh import ClementsMesh, ReckMesh
from .network import MeshNetwork

__all__ = [
    "ClementsMesh",
    "ReckMesh",
    "MeshNetwork",
    "MeshLayout",
    "MeshErrors",
    "sample_mesh_errors",
    "MeshPhases",
    "clements_decompose",
    "reck_decompose",
    "MZILinear",
    "ElectroOpticActivation",
    "Photodetector",
    "FourierCropEncoder",
    "encode_fourier_crop",
    "fourier_crop_encode",  # deprecated alias of encode_fourier_crop
    "mzi_transfer",
    "electro_optic_activation",
    "intensity",
    "normalized_intensity",
    "haar_unitary",
    "functional",
    "testing",
]
