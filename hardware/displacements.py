"""Random 3-D displacements of the layers of a diffractive network ("vaccination", Mengu et
al., Nanophotonics 9, 4207 (2020)): each layer is shifted laterally by ``(dy, dx)``, each
U(−shift_max, shift_max), and axially by ``δ_l`` ~ U(−axial_max, axial_max), independently.

A layer displaced axially by δ_l changes both gaps it borders, while the input and output
planes stay put: the gap in front of layer 0 changes by ``δ_0`` and the gap after layer l by
``δ_{l+1} − δ_l`` (δ_L = 0 for the output plane).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from .errors import DiffractiveErrorModel, DiffractiveErrors

__all__ = ["LayerDisplacements", "displacement_errors"]


@dataclass(frozen=True)
class LayerDisplacements:
    """Independent uniform 3-D displacement of every layer (module docstring); metres.

    ``sample(n_layers, generator=g)`` returns a :class:`DiffractiveErrors` (the ``error_model``
    of the ``noise`` training method for an ``OpticalSystem``): ``layer_shift`` from
    ``DiffractiveErrorModel(shift_max=...)``, ``input_gap = δ_0`` and ``gap_error[l] =
    δ_{l+1} − δ_l`` (δ_L = 0). :meth:`displacements` gives the raw ``(shifts (L, 2), δ (L,))``
    in metres and :func:`displacement_errors` turns them into the realization.
    """

    shift_max: float
    axial_max: float

    def __post_init__(self):
        DiffractiveErrorModel(shift_max=self.shift_max, gap_max=self.axial_max)  # same validation

    def displacements(self, n_layers: int, *, generator: torch.Generator):
        e = DiffractiveErrorModel(shift_max=self.shift_max).sample(n_layers, generator=generator)
        delta = (2 * torch.rand(n_layers, generator=generator, dtype=torch.float64) - 1) * self.axial_max
        return e.layer_shift, delta

    def sample(self, n_layers: int, *, generator: torch.Generator) -> DiffractiveErrors:
        return displacement_errors(*self.displacements(n_layers, generator=generator))


def displacement_errors(shifts, delta) -> DiffractiveErrors:
    """The realization of given layer displacements: lateral ``shifts`` ``(L, 2)`` ``(dy, dx)``
    and axial ``delta`` ``(L,)`` (+z downstream), metres; input and output planes fixed
    (module docstring). Everything else is error-free."""
    shifts = torch.as_tensor(shifts, dtype=torch.float64).reshape(-1, 2)
    delta = torch.as_tensor(delta, dtype=torch.float64).reshape(-1)
    n = delta.shape[0]
    if shifts.shape[0] != n:
        raise ValueError(f"{shifts.shape[0]} lateral shifts for {n} axial displacements: give one of each per layer")
    gap = torch.cat([delta[1:], delta.new_zeros(1)]) - delta
    return dataclasses.replace(DiffractiveErrors.none(n), layer_shift=shifts, gap_error=gap,
                               input_gap=float(delta[0]) if n else 0.0)
