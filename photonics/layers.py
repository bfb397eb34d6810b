"""Layers of an interference PNN: arbitrary MZI linear layers, nonlinearity, readout."""

from __future__ import annotations

import math

import torch
from torch import nn

from optics._checks import check_complex

from .errors import MeshErrors
from .functional import electro_optic_activation, intensity, normalized_intensity
from .mesh import ClementsMesh

__all__ = ["MZILinear", "ElectroOpticActivation", "Photodetector"]


class MZILinear(nn.Module):
    """Arbitrary ``n_out × n_in`` complex matrix as ``W = U Σ V^†`` (Miller, Photon. Res. 1, 1
    (2013); Shen et al., Nat. Photon. 11, 441 (2017)): a mesh ``V^†`` on ``n_in`` modes,
    per-mode attenuation/gain Σ on the first ``min(n_in, n_out)`` modes (the rest are
    dropped or fed with vacuum), and a mesh ``U`` on ``n_out`` modes.

    Args:
        n_in: number of input modes (>= 2).
        n_out: number of output modes (>= 2).
        max_gain: if given, Σ = ``max_gain · sigmoid(s)`` (a passive attenuator for
            ``max_gain <= 1``); if ``None`` (default) Σ = ``s`` is unconstrained.
        generator: explicit random generator of the Haar initialisation of both meshes.
        dtype: real parameter dtype.
        **mesh_kwargs: passed to both :class:`ClementsMesh` (e.g. ``wrap_around``).

    Learnable parameters:
        ``v_mesh`` (``V^†``), ``u_mesh`` (``U``), ``sigma_raw`` ``(min(n_in, n_out),)``.

    Shape:
        ``(..., n_in) -> (..., n_out)`` complex.
    """

    def __init__(self, n_in: int, n_out: int, *, max_gain: float | None = None,
                 generator: torch.Generator | None = None, dtype=torch.float32, **mesh_kwargs):
        super().__init__()
        self.v_mesh = ClementsMesh(n_in, generator=generator, dtype=dtype, **mesh_kwargs)
        self.u_mesh = ClementsMesh(n_out, generator=generator, dtype=dtype, **mesh_kwargs)
        if max_gain is not None and not (isinstance(max_gain, (int, float)) and max_gain > 0):
            raise ValueError(f"max_gain must be a number > 0 or None, got {max_gain!r}")
        self.max_gain = None if max_gain is None else float(max_gain)
        k = min(n_in, n_out)
        init = torch.zeros(k, dtype=dtype) if max_gain is not None else torch.ones(k, dtype=dtype)
        self.sigma_raw = nn.Parameter(init)

    @property
    def n_in(self) -> int:
        return self.v_mesh.n_modes

    @property
    def n_out(self) -> int:
        return self.u_mesh.n_modes

    def singular_values(self) -> torch.Tensor:
        """Σ, real ``(min(n_in, n_out),)`` (amplitude transmissions; > 1 is gain)."""
        if self.max_gain is None:
            return self.sigma_raw
        return self.max_gain * torch.sigmoid(self.sigma_raw)

    def _sigma_matrix(self) -> torch.Tensor:
        s = self.singular_values().to(self.v_mesh.complex_dtype)
        sig = s.new_zeros(self.n_out, self.n_in)
        k = s.shape[0]
        return sig.index_put((torch.arange(k), torch.arange(k)), s)

    def matrix(self, errors: tuple[MeshErrors | None, MeshErrors | None] | None = None):
        """``W = U Σ V^†`` ``(n_out, n_in)``; ``errors = (errors of V^†, errors of U)``."""
        ev, eu = errors if errors is not None else (None, None)
        return self.u_mesh.matrix(eu) @ self._sigma_matrix() @ self.v_mesh.matrix(ev)

    def forward(self, x: torch.Tensor, errors=None) -> torch.Tensor:
        """``y = W x`` for ``x`` ``(..., n_in)``; ``errors = (errors of V^†, errors of U)``."""
        check_complex(x, "MZILinear input")
        if x.dim() == 0 or x.shape[-1] != self.n_in:
            raise ValueError(f"MZILinear input must be (..., {self.n_in}), got shape {tuple(x.shape)}")
        if x.dtype != self.v_mesh.complex_dtype:
            raise TypeError(f"MZILinear input is {x.dtype}, the layer computes in {self.v_mesh.complex_dtype}")
        return torch.matmul(x, self.matrix(errors).transpose(-1, -2))

    @classmethod
    def from_matrix(cls, w, **kwargs) -> "MZILinear":
        """Programme both meshes and Σ from the SVD of ``w`` ``(n_out, n_in)`` (unconstrained Σ)."""
        if not isinstance(w, torch.Tensor) or w.dim() != 2:
            raise ValueError("from_matrix needs a 2-D torch tensor (n_out, n_in)")
        w = w.to(torch.complex128)
        n_out, n_in = w.shape
        u, s, vh = torch.linalg.svd(w)  # w = u[:, :k] diag(s) vh[:k]
        layer = cls(n_in, n_out, **kwargs)
        layer.u_mesh.program(layer.u_mesh._decompose(u))
        layer.v_mesh.program(layer.v_mesh._decompose(vh))
        with torch.no_grad():
            if layer.max_gain is not None:
                if float(s.max()) >= layer.max_gain:
                    raise ValueError(f"singular values up to {float(s.max()):.3g} exceed max_gain={layer.max_gain}")
                p = (s / layer.max_gain).clamp(1e-12, 1 - 1e-12)
                layer.sigma_raw.copy_(torch.log(p / (1 - p)))
            else:
                layer.sigma_raw.copy_(s)
        return layer


class ElectroOpticActivation(nn.Module):
    """Electro-optic activation of Williamson et al. (IEEE JSTQE 26, 7700412 (2020)),
    ``f(z) = sqrt(1-α) cos(Δφ) exp(-iΔφ) z`` with ``Δφ = g|z|²/2 + φ_b/2``
    (see :func:`photonics.functional.electro_optic_activation`).

    Args:
        alpha: tapped power fraction (default 0.1, as in Zheng et al. 2023).
        gain: g in rad per unit power (default 0.05π).
        bias: φ_b in rad (default π).
        trainable: make ``gain`` and ``bias`` trainable parameters (else buffers).

    Shape:
        ``(..., n) -> (..., n)`` complex.
    """

    def __init__(self, *, alpha: float = 0.1, gain: float = 0.05 * math.pi, bias: float = math.pi,
                 trainable: bool = False):
        super().__init__()
        if not 0 <= alpha < 1:
            raise ValueError(f"alpha (tapped power fraction) must lie in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)
        g = torch.tensor(float(gain), dtype=torch.float64)  # cast to the input precision in forward
        b = torch.tensor(float(bias), dtype=torch.float64)
        if trainable:
            self.gain, self.bias = nn.Parameter(g), nn.Parameter(b)
        else:
            self.register_buffer("gain", g)
            self.register_buffer("bias", b)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_complex(z, "activation input")
        real = z.real.dtype
        return electro_optic_activation(z, alpha=self.alpha, gain=self.gain.to(real), bias=self.bias.to(real))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gain={float(self.gain):.4g}, bias={float(self.bias):.4g}"


class Photodetector(nn.Module):
    """Readout ``|z|²`` per port, optionally L2-normalised over ports and cropped to the
    first ``n_classes`` ports (Zheng et al. 2023: normalised intensities, first 10 ports are
    the class scores, used as logits).

    Args:
        n_classes: keep the first ``n_classes`` ports (``None``: all).
        normalize: divide the port powers by their L2 norm over all ports first.

    Shape:
        ``(..., n) -> (..., n_classes)`` real.
    """

    def __init__(self, n_classes: int | None = None, *, normalize: bool = True):
        super().__init__()
        if n_classes is not None and (not isinstance(n_classes, int) or n_classes < 1):
            raise ValueError(f"n_classes must be a positive int or None, got {n_classes!r}")
        self.n_classes = n_classes
        self.normalize = normalize

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        p = normalized_intensity(z) if self.normalize else intensity(z)
        if self.n_classes is None:
            return p
        if self.n_classes > p.shape[-1]:
            raise ValueError(f"n_classes={self.n_classes} exceeds the {p.shape[-1]} detected ports")
        return p[..., : self.n_classes]
