"""Trainable MZI meshes: :class:`ClementsMesh` (rectangular) and :class:`ReckMesh` (triangular).

A mesh on ``n`` modes realises (layout in :mod:`photonics.layout`, MZI in
:func:`photonics.functional.mzi_transfer`)

.. math:: U = \\mathrm{diag}(e^{iω}) \\, C_{L-1} \\cdots C_1 C_0 \\, \\mathrm{diag}(e^{iψ})

with the input phase screen ψ applied first (Zheng et al. 2023), columns ``C_l`` of MZIs
``T(θ[l, m], φ[l, m])`` and an optional output phase screen ω (off by default; it is
redundant for programming but sometimes convenient for training).

Errors are arguments, not state: ``mesh(x, errors=MeshErrors(...))``.

Two evaluation paths, tested against each other:

* ``method="matrix"`` (default): build ``U`` with O(log n) large torch ops (see
  :mod:`photonics._engine`) and apply it as one matmul; fastest on CPU for any batch size
  we measured (``bench/mesh.py``).
* ``method="columns"``: the reference; applies the columns one after the other to the
  batch with vectorised 2×2 arithmetic on all pairs of a column.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from optics._checks import check_complex, check_finite, complex_dtype_of
from optics._deprecation import warn_renamed

from . import _engine
from .decompose import MeshPhases, clements_decompose, reck_decompose
from .errors import MeshErrors
from .functional import haar_unitary, mzi_coefficients
from .layout import MeshLayout

__all__ = ["ClementsMesh", "ReckMesh"]

_METHODS = ("matrix", "columns")


def _modes_argument(cls: str, n_modes: int | None, n: int | None) -> int:
    """``n_modes``, or the deprecated keyword ``n`` (with its warning); exactly one is given."""
    if n is not None:
        if n_modes is not None:
            raise TypeError(f"{cls}: give n_modes only (n is its deprecated old name)")
        warn_renamed(f"{cls}(n=...)", f"{cls}(n_modes=...)", stacklevel=4)
        return n
    if n_modes is None:
        raise TypeError(f"{cls} needs the number of modes n_modes")
    return n_modes


class _Mesh(nn.Module):
    """Common machinery of rectangular and triangular meshes (use the subclasses)."""

    _kind = ""

    def __init__(
        self,
        n_modes: int | None = None,
        *,
        wrap_around: bool = False,
        output_phases: bool = False,
        init: str = "haar",
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        n: int | None = None,
    ):
        super().__init__()
        n = _modes_argument(type(self).__name__, n_modes, n)
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype is the real parameter dtype, torch.float32 or torch.float64; got {dtype}")
        self.layout = MeshLayout(n, self._kind, wrap_around)
        shape = self.layout.slot_shape
        self.theta = nn.Parameter(torch.zeros(shape, dtype=dtype))
        self.phi = nn.Parameter(torch.zeros(shape, dtype=dtype))
        self.input_phases = nn.Parameter(torch.zeros(n, dtype=dtype))
        if output_phases:
            self.output_phases = nn.Parameter(torch.zeros(n, dtype=dtype))
        else:
            self.register_parameter("output_phases", None)
        self.register_buffer("active", self.layout.active.clone(), persistent=False)
        self.register_buffer("wrap", self.layout.wrap.clone(), persistent=False)
        if init == "haar":
            self.program(self._decompose(haar_unitary(n, generator=generator)))
        elif init == "identity_bar":
            with torch.no_grad():
                self.theta.fill_(math.pi)
        else:
            raise ValueError(f"init must be 'haar' or 'identity_bar', got {init!r}")

    # -- geometry -----------------------------------------------------------------------
    @property
    def n_modes(self) -> int:
        """Number of modes."""
        return self.layout.n

    @property
    def n(self) -> int:
        """Deprecated alias of :attr:`n_modes`."""
        warn_renamed(f"{type(self).__name__}.n", "n_modes")
        return self.layout.n

    @property
    def slot_shape(self) -> tuple[int, int]:
        """``(n_cols, n_slots)``: shape of ``theta``, ``phi`` and of error tensors."""
        return self.layout.slot_shape

    @property
    def n_mzi(self) -> int:
        """Number of tunable MZIs, ``n (n-1) / 2``."""
        return self.layout.n_mzi

    def extra_repr(self) -> str:
        extra = ", wrap_around=True" if self.layout.wrap_around else ""
        extra += ", output_phases=True" if self.output_phases is not None else ""
        return f"n_modes={self.n_modes}, n_mzi={self.n_mzi}{extra}, dtype={self.theta.dtype}"

    # -- programming --------------------------------------------------------------------
    def _decompose(self, u) -> MeshPhases:
        raise NotImplementedError

    @torch.no_grad()
    def program(self, phases: MeshPhases) -> "_Mesh":
        """Load phases from :func:`clements_decompose`/:func:`reck_decompose` (in place)."""
        if phases.layout != self.layout:
            raise ValueError(f"phases were computed for {phases.layout}, this mesh is {self.layout}")
        for name in ("theta", "phi", "input_phases"):
            check_finite(torch.as_tensor(getattr(phases, name)), f"mesh phases {name}")
        self.theta.copy_(phases.theta)
        self.phi.copy_(phases.phi)
        self.input_phases.copy_(phases.input_phases)
        if self.output_phases is not None:
            self.output_phases.zero_()
        return self

    @classmethod
    def from_unitary(cls, u, **kwargs) -> "_Mesh":
        """A mesh programmed to realise the unitary ``u`` ``(n, n)``.

        Keyword arguments go to the constructor (``wrap_around``, ``output_phases``,
        ``dtype``; the parameter dtype defaults to float64 for complex128 ``u``).
        """
        if "dtype" not in kwargs:
            is_double = getattr(u, "dtype", None) in (torch.complex128, torch.float64) or (
                not isinstance(u, torch.Tensor) and str(getattr(u, "dtype", "")) in ("complex128", "float64")
            )
            kwargs["dtype"] = torch.float64 if is_double else torch.float32
        n = int(u.shape[0]) if hasattr(u, "shape") and len(u.shape) == 2 else None
        if n is None or u.shape[0] != u.shape[1]:
            raise ValueError(f"from_unitary needs a square (n, n) matrix, got shape {tuple(getattr(u, 'shape', ()))}")
        mesh = cls(n, init="identity_bar", **kwargs)
        return mesh.program(mesh._decompose(u))

    def check_finite(self) -> "_Mesh":
        """Raise a ValueError naming the parameter when a phase is NaN or infinite; returns self.

        Called by ``forward`` for CPU inputs (a diverged training run then fails with this
        message instead of returning NaN)."""
        for name in ("theta", "phi", "input_phases", "output_phases"):
            value = getattr(self, name)
            if value is not None:
                check_finite(value.detach(), f"mesh phases {name}")
        return self

    # -- evaluation ---------------------------------------------------------------------
    @property
    def complex_dtype(self) -> torch.dtype:
        return complex_dtype_of(self.theta.dtype)

    def transfers(self, errors: MeshErrors | None = None) -> torch.Tensor:
        """Per-column 2×2 blocks ``(n_cols, n_pad // 2, 2, 2)`` seen by the engine (non-MZI
        slots are the identity or, for wrap-around slots, ``-i``)."""
        if not self.theta.is_floating_point():
            raise TypeError(
                f"mesh phases must be real, got {self.theta.dtype}; use mesh.double()/mesh.float(), "
                "not mesh.to(complex dtype)"
            )
        theta, phi = self.theta, self.phi
        if errors is None:
            t = mzi_coefficients(theta, phi)
        else:
            if not isinstance(errors, MeshErrors):
                raise TypeError(f"errors must be a MeshErrors realization, got {type(errors).__name__}")
            errors.check(self.layout)
            errors = errors.to(device=theta.device, dtype=theta.dtype)
            theta = theta + errors.theta_offset
            phi = phi + errors.phi_offset
            if errors.crosstalk:
                theta = theta + errors.crosstalk * self._neighbours(self.theta)
                phi = phi + errors.crosstalk * self._neighbours(self.phi)
            t = mzi_coefficients(theta, phi, errors.bs_in, errors.bs_out, errors.loss_db)
        eye = torch.eye(2, dtype=t.dtype, device=t.device)
        fill = torch.where(self.wrap[..., None, None], -1j * eye, eye)
        t = torch.where(self.active[..., None, None], t, fill)
        if self.n_modes % 2:  # dark mode: one identity pair per column
            t = torch.cat([t, eye.expand(t.shape[0], 1, 2, 2)], dim=1)
        return t

    def _neighbours(self, phase: torch.Tensor) -> torch.Tensor:
        """Sum of the wrapped programmed phases of the two neighbouring MZIs in a column."""
        wrapped = torch.remainder(phase, 2 * math.pi) * self.active
        padded = nn.functional.pad(wrapped, (1, 1))
        return padded[:, :-2] + padded[:, 2:]

    def matrix(self, errors: MeshErrors | None = None) -> torch.Tensor:
        """The mesh transfer matrix ``U[out, in]`` ``(n, n)`` (complex, differentiable)."""
        m = _engine.columns_matrix(self.transfers(errors))
        if self.n_modes % 2:
            m = m[: self.n_modes, : self.n_modes]
        m = m * torch.polar(torch.ones_like(self.input_phases), self.input_phases)
        if self.output_phases is not None:
            m = torch.polar(torch.ones_like(self.output_phases), self.output_phases)[:, None] * m
        return m

    def forward(self, x: torch.Tensor, errors: MeshErrors | None = None, *, method: str = "matrix",
                backend: str = "auto"):
        """Propagate complex mode amplitudes through the mesh: ``y = U x``.

        Args:
            x: complex tensor ``(..., n)`` of the mesh's precision.
            errors: optional frozen :class:`MeshErrors` realization.
            method: ``"matrix"`` (build U, one matmul) or ``"columns"`` (reference,
                column by column on the batch).
            backend: for ``method="columns"``: ``"auto"`` (the CuPy column kernel
                :func:`cupy_kernels.mesh_columns`, all columns in one launch, for CUDA inputs
                when CuPy works; else torch), ``"torch"`` or ``"cupy"``. The matrix path is
                torch only (``backend="cupy"`` with it raises).

        Shape:
            ``(..., n) -> (..., n)``.
        """
        check_complex(x, "mesh input")
        if x.dim() == 0 or x.shape[-1] != self.n_modes:
            raise ValueError(f"mesh input must be (..., n) with n = {self.n_modes} modes, got shape {tuple(x.shape)}")
        if x.dtype != self.complex_dtype:
            raise TypeError(
                f"mesh input is {x.dtype} but the mesh computes in {self.complex_dtype}; convert the "
                "input or the mesh (mesh.double() for complex128, mesh.float() for complex64)"
            )
        if x.device.type == "cpu":  # on CUDA each check would synchronise with the host
            check_finite(x, "mesh input")
            self.check_finite()
        import cupy_kernels  # lazily (docs/design.md#dependency-direction)

        cupy_kernels.check_backend(backend)
        if method == "matrix":
            if backend == "cupy":
                raise ValueError("backend='cupy' runs the MZI column kernel: use method='columns' "
                                 "(the matrix path is torch only)")
            return torch.matmul(x, self.matrix(errors).transpose(-1, -2))
        if method != "columns":
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        batch = x.shape[:-1]
        if cupy_kernels.use_cupy(backend, x, self.theta, what="the mesh column kernel",
                                 unsupported=lambda: self._cupy_unsupported(x)):
            return self._forward_cupy(x, errors, cupy_kernels).reshape(*batch, self.n_modes)
        state = x.reshape(-1, self.n_modes) * torch.polar(torch.ones_like(self.input_phases), self.input_phases)
        state = state.transpose(0, 1)
        if self.n_modes % 2:
            state = torch.cat([state, state.new_zeros(1, state.shape[1])])
        state = _engine.apply_columns(state, self.transfers(errors))[: self.n_modes].transpose(0, 1)
        if self.output_phases is not None:
            state = state * torch.polar(torch.ones_like(self.output_phases), self.output_phases)
        return state.reshape(*batch, self.n_modes)

    def _cupy_unsupported(self, x: torch.Tensor):
        from cupy_kernels import ops

        return ops.mesh_shape_unsupported(x.dtype, x.numel() // self.n_modes, self.n_modes + self.n_modes % 2)

    def _forward_cupy(self, x: torch.Tensor, errors, cupy_kernels) -> torch.Tensor:
        """The column path with all columns in one CuPy launch; states ``(B, n_pad)``."""
        state = x.reshape(-1, self.n_modes) * torch.polar(torch.ones_like(self.input_phases), self.input_phases)
        if self.n_modes % 2:
            state = torch.cat([state, state.new_zeros(state.shape[0], 1)], dim=1)
        state = cupy_kernels.mesh_columns(state, self.transfers(errors))[:, : self.n_modes]
        if self.output_phases is not None:
            state = state * torch.polar(torch.ones_like(self.output_phases), self.output_phases)
        return state


class ClementsMesh(_Mesh):
    """Rectangular MZI mesh (Clements et al., Optica 3, 1460 (2016)) on ``n`` modes.

    ``n`` columns alternating ``n//2`` and ``(n-1)//2`` MZIs; for ``n = 64``: 32/31 MZIs,
    2016 in total, as in Zheng et al. (Nat. Mach. Intell. 5 (2023)).

    Args:
        n_modes: number of modes ``n`` (>= 2).
        wrap_around: add the reference code's fixed element in the last slot of odd columns
            (ports ``n-1`` and ``0``, θ = φ = π, no errors: both ports times ``-i``; even
            ``n`` only). It carries no parameter and is excluded from errors.
        output_phases: add a trainable output phase screen ω (initialised to 0).
        init: ``"haar"`` (default) draws θ, φ and ψ as the phases of a Haar-random unitary
            (exactly Haar: a Haar unitary from ``generator`` is decomposed; θ then follows
            the position-dependent law of Russell et al., NJP 19, 033007 (2017), φ and ψ are
            uniform on [0, 2π)); ``"identity_bar"`` sets θ = π, φ = ψ = 0.
        generator: explicit random generator for ``init="haar"``.
        dtype: real parameter dtype (float32 -> complex64 fields, float64 -> complex128).
        n: deprecated keyword name of ``n_modes`` (warns; removed in the next release).

    Learnable parameters:
        theta, phi: ``(n, n // 2)`` phases in rad, indexed ``[column, slot]`` (slots without an
            MZI are unused and get no gradient). input_phases: ``(n,)`` rad.

    Example:
        >>> mesh = ClementsMesh(64)
        >>> y = mesh(torch.randn(512, 64, dtype=torch.complex64))
    """

    _kind = "clements"

    def _decompose(self, u) -> MeshPhases:
        return clements_decompose(u, wrap_around=self.layout.wrap_around)


class ReckMesh(_Mesh):
    """Triangular MZI mesh (Reck et al., PRL 73, 58 (1994)) on ``n`` modes.

    ``2n - 3`` columns; the MZI on modes ``(k, k+1)`` of diagonal ``d`` sits in column
    ``k + 2d`` (see :class:`photonics.layout.MeshLayout`). Arguments as for
    :class:`ClementsMesh`, without ``wrap_around``.
    """

    _kind = "reck"

    def __init__(self, n_modes: int | None = None, *, n: int | None = None, **kwargs):
        if kwargs.get("wrap_around"):
            raise ValueError("wrap_around is only defined for the rectangular (Clements) mesh")
        super().__init__(_modes_argument("ReckMesh", n_modes, n), **kwargs)

    def _decompose(self, u) -> MeshPhases:
        return reck_decompose(u)
