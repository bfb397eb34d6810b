"""Programme a mesh to realise a given unitary (Clements et al. 2016; Reck et al. 1994).

Target form, with the MZI ``T(θ, φ)`` of :func:`photonics.functional.mzi_transfer`
(external phase on the output of the upper arm) and the input phase screen applied first:

.. math:: U = \\prod_{l = L-1}^{0} C_l(θ_l, φ_l) \\; \\mathrm{diag}(e^{iψ})

Algorithm (re-derived for this MZI convention):

1. *Nulling.* Clements et al. (Optica 3, 1460 (2016), Fig. 2): for the anti-diagonals
   ``i = 1 .. n-1`` of the lower-left triangle, null ``U[n-1-j, i-1-j]`` by a 2×2 unitary
   on columns ``(i-1-j, i-j)`` from the right (odd ``i``), or ``U[n+j-i-1, j-1]`` by a 2×2
   unitary on rows ``(n+j-i-2, n+j-i-1)`` from the left (even ``i``). Reck et al. (PRL 73, 58
   (1994)): null rows ``n-1 .. 1`` from the left end, only from the right. The result is
   ``L_k ... L_1 U R_1 ... R_p = D``, so ``U = L_1^† ... L_k^† D R_p^† ... R_1^†``.
2. *Phase sweep.* Read the product from left to right carrying a pending diagonal Δ:
   every 2×2 block ``Δ_ab G`` is factored as ``T(θ, φ) diag(p_a, p_b)`` (always possible:
   ``|T[1,0]| = cos(θ/2)`` fixes θ, three phases fix φ, p_a, p_b), Δ takes ``p``;
   diagonals are absorbed into Δ. At the end ``U = (∏ T) Δ`` and ``ψ = arg Δ``.
3. *Placement.* Each MZI goes to the earliest column of its parity after the MZIs it
   depends on; for these nulling orders this reproduces exactly the rectangular (Clements)
   or triangular (Reck) layout of :class:`~photonics.layout.MeshLayout`, which is checked.
4. *Wrap-around* (optional): the fixed ``-i`` slots of odd columns are inserted as
   ``W W^{-1}`` and a second sweep moves ``W^{-1}`` into the MZI phases.

Phases come back with θ in [0, π] and φ, ψ in [0, 2π).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .layout import MeshLayout

__all__ = ["MeshPhases", "clements_decompose", "reck_decompose"]

_TWO_PI = 2 * np.pi


@dataclass(frozen=True, eq=False)
class MeshPhases:
    """Phases that programme a mesh: ``theta``, ``phi`` ``(n_cols, n_slots)`` in rad (zero
    at slots without an MZI) and the input phase screen ``input_phases`` ``(n,)`` in rad."""

    theta: torch.Tensor
    phi: torch.Tensor
    input_phases: torch.Tensor
    layout: MeshLayout


def _as_unitary(u, atol) -> tuple[np.ndarray, torch.dtype]:
    if isinstance(u, torch.Tensor):
        dtype = torch.complex64 if u.dtype in (torch.complex64, torch.float32) else torch.complex128
        arr = u.detach().cpu().numpy()
    elif isinstance(u, np.ndarray):
        dtype = torch.complex64 if u.dtype in (np.complex64, np.float32) else torch.complex128
        arr = u
    else:
        raise TypeError(f"the matrix to decompose must be a torch.Tensor or numpy array, got {type(u).__name__}")
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"the matrix to decompose must be square (n, n), got shape {tuple(arr.shape)}")
    if arr.shape[0] < 2:
        raise ValueError(f"a mesh needs n >= 2 modes, got a {arr.shape[0]}×{arr.shape[0]} matrix")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"the matrix to decompose must be floating or complex, got {arr.dtype}")
    arr = arr.astype(np.complex128)
    if not np.isfinite(arr).all():
        raise ValueError("the matrix to decompose contains NaN or infinite values")
    if atol is None:
        atol = 1e-4 if dtype == torch.complex64 else 1e-8
    err = np.abs(arr.conj().T @ arr - np.eye(arr.shape[0])).max()
    if err > atol:
        raise ValueError(
            f"the matrix is not unitary: max|U^† U - I| = {err:.3g} > atol = {atol:g}. Only unitary "
            "matrices can be programmed into a lossless mesh; use MZILinear.from_matrix for "
            "arbitrary matrices (SVD)"
        )
    return arr, dtype


def _null_right(u: np.ndarray, row: int, a: int) -> np.ndarray:
    """2×2 unitary G on columns (a, a+1) with (U G)[row, a] = 0; applies it in place."""
    x, y = u[row, a], u[row, a + 1]
    rho = np.hypot(abs(x), abs(y))
    g = np.eye(2, dtype=complex) if rho == 0 else np.array([[y, np.conj(x)], [-x, np.conj(y)]]) / rho
    u[:, a : a + 2] = u[:, a : a + 2] @ g
    return g


def _null_left(u: np.ndarray, col: int, a: int) -> np.ndarray:
    """2×2 unitary G on rows (a, a+1) with (G U)[a+1, col] = 0; applies it in place."""
    x, y = u[a, col], u[a + 1, col]
    rho = np.hypot(abs(x), abs(y))
    g = np.eye(2, dtype=complex) if rho == 0 else np.array([[np.conj(x), np.conj(y)], [-y, x]]) / rho
    u[a : a + 2, :] = g @ u[a : a + 2, :]
    return g


def _fit_mzi(m: np.ndarray) -> tuple[float, float, complex, complex]:
    """θ, φ, p_a, p_b with ``m = T(θ, φ) diag(p_a, p_b)`` for a 2×2 unitary ``m``."""
    s = (abs(m[0, 0]) + abs(m[1, 1])) / 2
    c = (abs(m[0, 1]) + abs(m[1, 0])) / 2
    theta = 2 * np.arctan2(s, c)
    ang = np.angle(m)
    if s >= c:  # rely on the sin(θ/2) entries
        beta = ang[1, 1] + np.pi / 2
        phi = ang[0, 1] - np.pi / 2 - beta
        alpha = ang[0, 0] - np.pi / 2 - phi
    else:  # rely on the cos(θ/2) entries
        alpha = ang[1, 0] - np.pi / 2
        beta = ang[1, 1] + np.pi / 2
        phi = ang[0, 1] - np.pi / 2 - beta
    return theta, phi % _TWO_PI, np.exp(1j * alpha), np.exp(1j * beta)


def _sweep(items, n: int):
    """Phase sweep over ``items`` (left to right): ('T', a, 2×2) blocks, ('D', vector)
    free diagonals, ('W', None) fixed diagonals. Returns [(a, θ, φ) or None], Δ."""
    delta = np.ones(n, dtype=complex)
    out = []
    for kind, a, value in items:
        if kind == "D":
            delta = delta * value
            out.append(None)
        elif kind == "W":
            out.append(None)
        else:
            theta, phi, pa, pb = _fit_mzi(delta[[a, a + 1], None] * value)
            delta[a], delta[a + 1] = pa, pb
            out.append((a, theta, phi))
    return out, delta


def _decompose(u, layout_kind: str, wrap_around: bool, atol) -> MeshPhases:
    u, dtype = _as_unitary(u, atol)
    n = u.shape[0]
    layout = MeshLayout(n, layout_kind, wrap_around)
    work = u.copy()
    lefts, rights = [], []
    if layout_kind == "clements":
        for i in range(1, n):
            if i % 2:
                for j in range(i):
                    rights.append((i - 1 - j, _null_right(work, n - 1 - j, i - 1 - j)))
            else:
                for j in range(1, i + 1):
                    lefts.append((n + j - i - 2, _null_left(work, j - 1, n + j - i - 2)))
    else:
        for r in range(n - 1, 0, -1):
            for j in range(r):
                rights.append((j, _null_right(work, r, j)))
    items = [("T", a, g.conj().T) for a, g in lefts]
    items.append(("D", None, np.diag(work).copy()))
    items += [("T", a, g.conj().T) for a, g in reversed(rights)]
    blocks, delta = _sweep(items, n)
    blocks = [b for b in blocks if b is not None]

    # placement: earliest column of the right parity, in application order (right to left)
    last = np.full(n, -1)
    placed = {}
    for a, theta, phi in reversed(blocks):
        col = max(last[a], last[a + 1]) + 1
        col += (col - a) % 2
        last[a] = last[a + 1] = col
        placed[(col, a // 2)] = (a, theta, phi)
    expected = {tuple(map(int, p)) for p in layout.active.nonzero().tolist()}
    if set(placed) != expected:  # pragma: no cover - guards the algorithm, not user input
        raise RuntimeError(f"internal error: decomposition does not fill the {layout_kind} layout")

    if wrap_around and layout.wrap.any():
        wrap_items = []
        for col in range(layout.n_cols - 1, -1, -1):
            for slot in range(layout.n_slots):
                if (col, slot) in placed:
                    a, theta, phi = placed[(col, slot)]
                    wrap_items.append(("T", a, _ideal_t(theta, phi)))
            if layout.wrap[col].any():
                w_inv = np.ones(n, dtype=complex)
                w_inv[[0, n - 1]] = 1j  # (-i)^{-1}
                wrap_items += [("W", None, None), ("D", None, w_inv)]
        wrap_items.append(("D", None, delta))
        swept, delta = _sweep(wrap_items, n)
        swept = [b for b in swept if b is not None]
        cols = [key for col in range(layout.n_cols - 1, -1, -1) for key in sorted(placed) if key[0] == col]
        placed = {key: b for key, b in zip(cols, swept)}

    theta = np.zeros(layout.slot_shape)
    phi = np.zeros(layout.slot_shape)
    for (col, slot), (_, t, p) in placed.items():
        theta[col, slot], phi[col, slot] = t, p
    real = torch.float32 if dtype == torch.complex64 else torch.float64
    psi = np.angle(delta) % _TWO_PI
    as_t = lambda v: torch.as_tensor(v, dtype=real)  # noqa: E731
    return MeshPhases(as_t(theta), as_t(phi), as_t(psi), layout)


def _ideal_t(theta: float, phi: float) -> np.ndarray:
    s, c, e = np.sin(theta / 2), np.cos(theta / 2), np.exp(1j * phi)
    return np.array([[1j * e * s, 1j * e * c], [1j * c, -1j * s]])


def clements_decompose(u, *, wrap_around: bool = False, atol: float | None = None) -> MeshPhases:
    """Phases of a rectangular mesh (Clements et al., Optica 3, 1460 (2016)) realising ``u``.

    Args:
        u: unitary ``(n, n)`` (torch or numpy; complex64 input gives float32 phases).
        wrap_around: programme the mesh variant with the fixed ``-i`` wrap-around slots.
        atol: tolerance of the unitarity check ``max|U^† U - I|`` (default 1e-8 for double,
            1e-4 for single precision).

    Returns:
        :class:`MeshPhases`; ``ClementsMesh.from_unitary(u)`` builds the programmed mesh.

    Raises:
        TypeError: not an array/tensor. ValueError: not square, ``n < 2`` or not unitary.
    """
    return _decompose(u, "clements", wrap_around, atol)


def reck_decompose(u, *, atol: float | None = None) -> MeshPhases:
    """Phases of a triangular mesh (Reck et al., PRL 73, 58 (1994)) realising ``u``.

    Same arguments and errors as :func:`clements_decompose` (without wrap-around).
    """
    return _decompose(u, "reck", False, atol)
