"""``MeshNetwork``: the interference photonic neural network of Zheng et al.,
Nat. Mach. Intell. 5 (2023) (docs/references.md#dat).

    x (complex modes, (..., n)) → [mesh 1 → σ] → [mesh 2 → σ] → … → mesh K → |z|² readout

with K Clements meshes (each with its input phase screen), the electro-optic activation σ
between meshes (Williamson et al. 2020) and photodetection of the output ports; the class
scores are the first ``n_classes`` L2-normalised port intensities (Zheng et al. 2023).

Errors are inputs (one :class:`~photonics.MeshErrors` per mesh). A ``hook(i, z)`` called
right after mesh i (before the activation) lets training code correct or replace the field
there — the place where dual adaptive training inserts its error-prediction networks and
where state fusion swaps in measured amplitudes. A hook may return ``(z, z_at)``: the field
``z`` goes on, and the activation that follows is differentiated at ``z_at``
(:func:`photonics.functional.jacobian_at`; the reference code's in-place fusion).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from optics._deprecation import warn_renamed

from .errors import MeshErrors
from .functional import intensity, jacobian_at
from .layers import ElectroOpticActivation, Photodetector
from .mesh import ClementsMesh

__all__ = ["MeshNetwork"]


class MeshNetwork(nn.Module):
    """K rectangular meshes with electro-optic activations and a photodetector readout.

    Args:
        n_modes: modes per mesh (64 in Zheng et al. 2023).
        n_meshes: number of meshes K (3).
        n_classes: ports read as class scores (10).
        wrap_around: the reference code's extra slot pairing ports n−1 and 0 in odd
            columns (fixed θ = φ = π, no errors); see :class:`photonics.MeshLayout`.
        activation: the nonlinearity between meshes (default: the values of Zheng et al. 2023).
        generator: for the Haar-random initialisation of every mesh.
        dtype: real parameter dtype (float32 → complex64 fields, float64 → complex128).

    Shape:
        ``forward``: ``(..., n_modes)`` complex → ``(..., n_classes)`` real scores.
    """

    def __init__(self, n_modes: int = 64, n_meshes: int = 3, *, n_classes: int = 10, wrap_around: bool = False,
                 activation: nn.Module | None = None, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if not isinstance(n_meshes, int) or n_meshes < 1:
            raise ValueError(f"n_meshes must be a positive int, got {n_meshes!r}")
        if not isinstance(n_classes, int) or not 1 <= n_classes <= n_modes:
            raise ValueError(f"n_classes must be an int in [1, n_modes={n_modes}], got {n_classes!r}")
        self.meshes = nn.ModuleList(
            ClementsMesh(n_modes, wrap_around=wrap_around, generator=generator, dtype=dtype) for _ in range(n_meshes))
        self.activation = activation if activation is not None else ElectroOpticActivation()
        self.readout = Photodetector(n_classes, normalize=True)

    @property
    def n_modes(self) -> int:
        return self.meshes[0].n_modes

    def _check_errors(self, errors):
        if errors is None:
            return [None] * len(self.meshes)
        errors = list(errors)
        if len(errors) != len(self.meshes):
            raise ValueError(f"expected {len(self.meshes)} MeshErrors (one per mesh), got {len(errors)}")
        for i, e in enumerate(errors):
            if e is not None and not isinstance(e, MeshErrors):
                raise TypeError(f"errors[{i}] must be a MeshErrors or None, got {type(e).__name__}")
        return errors

    def fields(self, x: torch.Tensor, errors: Sequence[MeshErrors | None] | None = None, *,
               hook: Callable[[int, torch.Tensor], torch.Tensor] | None = None):
        """Complex output modes and the fields right after each mesh (after ``hook``).

        Returns:
            ``(z_out, [z after mesh 0, z after mesh 1, …])``; ``z_out`` is the last of them.
        """
        errors = self._check_errors(errors)
        states = []
        z, z_at = x, None
        for i, (mesh, err) in enumerate(zip(self.meshes, errors)):
            if i > 0:
                z = self.activation(z) if z_at is None else jacobian_at(self.activation, z, z_at)
            z = mesh(z, errors=err)
            z_at = None
            if hook is not None:
                z = hook(i, z)
                if isinstance(z, tuple):  # (value, point at which the next activation is differentiated)
                    z, z_at = z
            states.append(z)
        return z, states

    def forward(self, x: torch.Tensor, errors: Sequence[MeshErrors | None] | None = None) -> torch.Tensor:
        """Class scores (normalised port intensities of the first ``n_classes`` ports)."""
        z, _ = self.fields(x, errors)
        return self.readout(z)

    def port_intensities(self, x: torch.Tensor, errors: Sequence[MeshErrors | None] | None = None, *,
                         return_intermediates: bool = False):
        """Port intensities ``|z|²`` ``(..., n_modes)`` under ``errors`` (what detectors see),
        and with ``return_intermediates`` the intensities after every mesh."""
        z, states = self.fields(x, errors)
        out = intensity(z)
        return (out, [intensity(s) for s in states]) if return_intermediates else out

    def forward_with_errors(self, x: torch.Tensor, errors, *, return_intermediates: bool = False):
        """Deprecated alias of :meth:`port_intensities` (removed in the next release)."""
        warn_renamed("MeshNetwork.forward_with_errors", "MeshNetwork.port_intensities")
        return self.port_intensities(x, errors, return_intermediates=return_intermediates)
