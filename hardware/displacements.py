"""Random 3-D displacements of the layers of a diffractive network ("vaccination", Mengu et
al., Nanophotonics 9, 4207 (2020)): each layer is shifted laterally by ``(dy, dx)``, each
U(−shift_max, shift_max), and axially by ``δ_l`` ~ U(−axial_max, axial_max), independently.

A layer displaced axially by δ_l moves both planes it borders: the gap after it changes by
``δ_{l+1} − δ_l`` (the last plane is fixed, δ_L = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import DiffractiveErrorModel, DiffractiveErrors

__all__ = ["LayerDisplacements"]


@dataclass(frozen=True)
class LayerDisplacements:
    """Independent uniform 3-D displacement of every layer (module docstring); metres.

    ``sample(n_layers, generator=g)`` returns a :class:`DiffractiveErrors` (the ``error_model``
    of the ``noise`` training method for an ``OpticalSystem``): ``layer_shift`` from
    ``DiffractiveErrorModel(shift_max=...)`` and ``gap_error[l] = δ_{l+1} − δ_l`` (δ_L = 0).
    :meth:`displacements` gives the raw ``(shifts (L, 2), δ (L,))`` in metres.
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
        shifts, delta = self.displacements(n_layers, generator=generator)
        gap = torch.cat([delta[1:], delta.new_zeros(1)]) - delta
        return DiffractiveErrors(
            shifts, torch.zeros(n_layers, dtype=torch.float64), gap, torch.ones(n_layers, dtype=torch.float64),
            torch.zeros(n_layers, dtype=torch.float64), torch.zeros(n_layers, 16, dtype=torch.float64),
            torch.zeros(2, dtype=torch.float64))
