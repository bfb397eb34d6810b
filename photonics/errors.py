"""Frozen realizations of static component errors of an MZI mesh.

Errors are inputs of a mesh forward, never state of the mesh: ``mesh(x, errors=realization)``.
A :class:`MeshErrors` holds one value per column and slot (``(n_cols, n_slots)``, the
layout of :class:`photonics.layout.MeshLayout`); values at slots without a tunable MZI
(the wrap-around slot, the empty corners of a Reck mesh) are ignored. Sampling
realizations from error *models* belongs to ``hardware``; :func:`sample_mesh_errors` is the
small Gaussian sampler of docs/references.md#dat (Zheng et al., Nat. Mach. Intell. 5 (2023)).

Model of one MZI at column ``l``, slot ``m`` (see :func:`photonics.functional.mzi_transfer`):

* couplers: ``B(e_in)``, ``B(e_out)`` with ``e_in = bs_in[l, m]``, ``e_out = bs_out[l, m]``
  (amplitudes ``sqrt(1±e)/sqrt(2)``);
* phases: ``θ_eff = θ + theta_offset + κ (θ̃[l, m-1] + θ̃[l, m+1])`` and likewise for φ,
  where ``κ = crosstalk`` is a thermal crosstalk coefficient between the heaters of
  neighbouring MZIs of the same column and ``θ̃ = θ mod 2π`` is the programmed (wrapped)
  phase, proportional to heater power; only tunable neighbours count;
* loss: amplitude factor ``10^{-loss_db[l, m]/20}`` on both arms (dB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

__all__ = ["MeshErrors", "sample_mesh_errors"]

_TENSOR_FIELDS = ("bs_in", "bs_out", "theta_offset", "phi_offset", "loss_db")


@dataclass(frozen=True, eq=False)
class MeshErrors:
    """One frozen error realization of one mesh.

    Attributes:
        bs_in: splitting error of the input coupler of every MZI, in [-1, 1].
        bs_out: splitting error of the output coupler, in [-1, 1].
        theta_offset: additive error on θ in rad.
        phi_offset: additive error on φ in rad (the input phase screen has none).
        loss_db: insertion loss per MZI in dB.
        crosstalk: thermal crosstalk coefficient κ (dimensionless) between neighbouring
            phase shifters of a column; 0 disables it.

    Shape:
        every tensor ``(n_cols, n_slots)`` of the mesh (``mesh.slot_shape``).
    """

    bs_in: torch.Tensor
    bs_out: torch.Tensor
    theta_offset: torch.Tensor
    phi_offset: torch.Tensor
    loss_db: torch.Tensor
    crosstalk: float = 0.0

    def __post_init__(self):
        shape = None
        for name in _TENSOR_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"MeshErrors.{name} must be a torch.Tensor, got {type(value).__name__}")
            if not value.is_floating_point():
                raise TypeError(f"MeshErrors.{name} must be a real floating tensor, got {value.dtype}")
            if value.dim() != 2:
                raise ValueError(f"MeshErrors.{name} must be (n_cols, n_slots), got shape {tuple(value.shape)}")
            if shape is not None and tuple(value.shape) != shape:
                raise ValueError(f"MeshErrors.{name} has shape {tuple(value.shape)}, bs_in has {shape}")
            shape = tuple(value.shape)
            if value.numel() and not bool(torch.isfinite(value).all()):
                raise ValueError(f"MeshErrors.{name} contains NaN or infinite values")
        for name in ("bs_in", "bs_out"):
            if bool((getattr(self, name).abs() > 1).any()):
                raise ValueError(f"MeshErrors.{name} must lie in [-1, 1] (power split (1+e)/2 : (1-e)/2)")
        if isinstance(self.crosstalk, torch.Tensor):
            object.__setattr__(self, "crosstalk", float(self.crosstalk))
        if not math.isfinite(float(self.crosstalk)):
            raise ValueError(f"crosstalk must be finite, got {self.crosstalk!r}")
        object.__setattr__(self, "crosstalk", float(self.crosstalk))

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_cols, n_slots)``."""
        return tuple(self.bs_in.shape)

    @classmethod
    def zeros(cls, shape, *, dtype=torch.float32, device=None) -> "MeshErrors":
        """Error-free realization; ``shape`` is ``(n_cols, n_slots)`` or a mesh/layout."""
        shape = _slot_shape_of(shape)
        z = torch.zeros(shape, dtype=dtype, device=device)
        return cls(z, z.clone(), z.clone(), z.clone(), z.clone(), 0.0)

    def check(self, slot_shape) -> None:
        """Raise ValueError unless the tensors match ``slot_shape`` (a shape, mesh or layout)."""
        expected = _slot_shape_of(slot_shape)
        if self.shape != expected:
            raise ValueError(
                f"error realization has per-MZI shape {self.shape}, but the mesh needs "
                f"(n_cols, n_slots) = {expected}"
            )

    def to(self, *args, **kwargs) -> "MeshErrors":
        """Copy with every tensor moved/cast like ``Tensor.to``."""
        moved = {n: getattr(self, n).to(*args, **kwargs) for n in _TENSOR_FIELDS}
        return MeshErrors(**moved, crosstalk=self.crosstalk)

    def to_dict(self) -> dict:
        """Plain dict (tensors and the crosstalk float), e.g. for HDF5 or ``torch.save``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "MeshErrors":
        """Inverse of :meth:`to_dict` (bit-exact)."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def _slot_shape_of(obj) -> tuple[int, int]:
    if hasattr(obj, "slot_shape"):
        return tuple(obj.slot_shape)
    if isinstance(obj, (tuple, list, torch.Size)) and len(obj) == 2:
        return (int(obj[0]), int(obj[1]))
    raise TypeError(f"expected a (n_cols, n_slots) shape or a mesh/layout, got {obj!r}")


def sample_mesh_errors(
    mesh,
    *,
    bs_sigma: float = 0.0,
    ps_sigma: float = 0.0,
    loss_db: float = 0.0,
    crosstalk: float = 0.0,
    generator: torch.Generator | None = None,
    dtype=torch.float32,
) -> MeshErrors:
    """Gaussian errors of Zheng et al. 2023: ``e ~ N(0, bs_sigma²)`` per coupler, additive
    ``N(0, ps_sigma²)`` rad on every θ and φ, a constant ``loss_db`` per MZI.

    Draws are made for every slot (tunable or not) in a fixed order (bs_in, bs_out, θ, φ),
    so a realization depends only on the generator state and the mesh shape; split errors
    are clipped to [-1, 1].

    Args:
        mesh: a mesh, a :class:`MeshLayout` or a ``(n_cols, n_slots)`` shape.
        bs_sigma: std of the coupler splitting error (dimensionless).
        ps_sigma: std of the phase-shifter offsets in rad.
        loss_db: insertion loss per MZI in dB.
        crosstalk: thermal crosstalk coefficient κ.
        generator: explicit random generator.
        dtype: real dtype of the tensors.
    """
    for value, name in ((bs_sigma, "bs_sigma"), (ps_sigma, "ps_sigma")):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    shape = _slot_shape_of(mesh)
    draw = torch.randn((4, *shape), generator=generator, dtype=torch.float64)
    bs = (draw[:2] * bs_sigma).clamp(-1, 1).to(dtype)
    ps = (draw[2:] * ps_sigma).to(dtype)
    loss = torch.full(shape, float(loss_db), dtype=dtype)
    return MeshErrors(bs[0], bs[1], ps[0], ps[1], loss, float(crosstalk))
