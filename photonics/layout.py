"""Geometry of rectangular (Clements) and triangular (Reck) MZI meshes.

A mesh on ``n`` modes is a sequence of columns ``l = 0 .. n_cols - 1``. Every column has
``n_slots = n // 2`` slots; slot ``m`` of column ``l`` couples the adjacent modes

.. math::

    (a, b) = (2m + p,\\; 2m + p + 1), \\qquad p = l \\bmod 2,

so even columns couple ``(2m, 2m+1)`` and odd columns ``(2m+1, 2m+2)`` (Clements et al. 2016).
Per-MZI quantities (phases, error draws) are ``(n_cols, n_slots)`` tensors indexed
``[column, slot]``. ``active[l, m]`` says whether a slot holds an MZI:

* Clements (Clements et al., Optica 3, 1460 (2016)): ``n`` columns, every slot is an MZI
  except, for even ``n``, the last slot of odd columns, which would pair ports ``n-1`` and
  ``0``. With ``wrap_around=True`` that slot reproduces the reference code of Zheng et al.
  (Nat. Mach. Intell. 5 (2023)): a fixed MZI with θ = φ = π and no errors, i.e. both
  ports ``n-1`` and ``0`` are multiplied by ``-i``. It holds no parameter.
* Reck (Reck et al., PRL 73, 58 (1994)): ``2n - 3`` columns; the MZI on modes ``(k, k+1)``
  of diagonal ``d`` (``d = 0 .. n-2``, ``k = 0 .. n-2-d``) sits in column ``k + 2d``.

Internally the engine pads an odd ``n`` with one dark mode so that every column is a
block-diagonal of 2×2 blocks on the ``n_pad // 2`` pairs ``(2m + p, 2m + p + 1) mod n_pad``;
slots that are not MZIs act as the identity (or ``-i`` for the wrap-around slot).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

__all__ = ["MeshLayout"]

_KINDS = ("clements", "reck")


@dataclass(frozen=True)
class MeshLayout:
    """Which column/slot positions of a mesh hold MZIs.

    Args:
        n: number of modes (>= 2).
        kind: ``"clements"`` (rectangular) or ``"reck"`` (triangular).
        wrap_around: Clements only; treat the last slot of odd columns (ports ``n-1``, ``0``,
            even ``n``) as the fixed ``-i`` element of the reference code.
    """

    n: int
    kind: str = "clements"
    wrap_around: bool = False

    def __post_init__(self):
        if isinstance(self.n, bool) or not isinstance(self.n, int):
            raise TypeError(f"number of modes n must be an int, got {type(self.n).__name__}")
        if self.n < 2:
            raise ValueError(f"a mesh needs n >= 2 modes, got n={self.n}")
        if self.kind not in _KINDS:
            raise ValueError(f"mesh kind must be one of {_KINDS}, got {self.kind!r}")
        if self.wrap_around and self.kind != "clements":
            raise ValueError("wrap_around is only defined for the rectangular (Clements) mesh")

    @property
    def n_cols(self) -> int:
        """Number of columns: ``n`` (Clements) or ``2n - 3`` (Reck)."""
        return self.n if self.kind == "clements" else 2 * self.n - 3

    @property
    def n_slots(self) -> int:
        """Slots per column, ``n // 2``."""
        return self.n // 2

    @property
    def slot_shape(self) -> tuple[int, int]:
        """Shape of every per-MZI tensor: ``(n_cols, n_slots)``."""
        return (self.n_cols, self.n_slots)

    @property
    def n_pad(self) -> int:
        """Modes seen by the engine: ``n`` rounded up to even."""
        return self.n + self.n % 2

    @property
    def n_mzi(self) -> int:
        """Number of tunable MZIs, ``n (n - 1) / 2`` for both layouts."""
        return int(self.active.sum())

    def ports(self, col: int, slot: int) -> tuple[int, int]:
        """Modes ``(a, b)`` coupled by slot ``slot`` of column ``col`` (``a`` upper arm, φ)."""
        a = 2 * slot + col % 2
        return a % self.n_pad, (a + 1) % self.n_pad

    @cached_property
    def active(self) -> torch.Tensor:
        """Bool ``(n_cols, n_slots)``: True where a slot holds a tunable MZI."""
        mask = torch.zeros(self.slot_shape, dtype=torch.bool)
        if self.kind == "clements":
            mask[:] = True
            if self.n % 2 == 0:
                mask[1::2, -1] = False  # odd columns have n/2 - 1 MZIs
        else:
            for d in range(self.n - 1):
                for k in range(self.n - 1 - d):
                    mask[k + 2 * d, k // 2] = True
        return mask

    @cached_property
    def wrap(self) -> torch.Tensor:
        """Bool ``(n_cols, n_slots)``: True where the fixed ``-i`` wrap-around slot sits."""
        mask = torch.zeros(self.slot_shape, dtype=torch.bool)
        if self.wrap_around and self.n % 2 == 0:
            mask[1::2, -1] = True
        return mask
