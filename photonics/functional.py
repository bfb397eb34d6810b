"""Pure functions of integrated photonics: MZI transfer matrices, nonlinearity, readout.

Conventions (docs/photonics.md, pinned by ``tests/photonics/test_mzi_conventions.py``):

* Mode vectors are complex tensors ``(*batch, n)``; matrices act as ``y = U @ x`` with
  ``U[out, in]``. Time dependence ``exp(-iωt)``; a phase shifter multiplies by ``e^{+iφ}``.
* Directional coupler with splitting error ``e`` (power split ``(1+e)/2 : (1-e)/2``, i.e.
  amplitudes ``sqrt(1±e)/sqrt(2)`` on the bar and cross paths):

  .. math:: B(e) = \\begin{pmatrix} \\sqrt{(1+e)/2} & i\\sqrt{(1-e)/2} \\\\
            i\\sqrt{(1-e)/2} & \\sqrt{(1+e)/2} \\end{pmatrix}

* MZI on ports ``(a, b)`` (``a`` the lower index, carrying the external phase):

  .. math:: T(θ, φ) = 10^{-L/20}\\, \\mathrm{diag}(e^{iφ}, 1)\\, B(e_{out})\\,
            \\mathrm{diag}(e^{iθ/2}, e^{-iθ/2})\\, B(e_{in})

  which without errors is

  .. math:: T = \\begin{pmatrix} i e^{iφ} \\sin(θ/2) & i e^{iφ} \\cos(θ/2) \\\\
            i \\cos(θ/2) & -i \\sin(θ/2) \\end{pmatrix}

  so θ = π is the *bar* state (``T = diag(i e^{iφ}, -i)``, no power crosses) and θ = 0 the
  *cross* state (``T = [[0, i e^{iφ}], [i, 0]]``, all power crosses). θ is a differential phase (±θ/2 on the two arms).
"""

from __future__ import annotations

import math
import numbers

import torch

from optics._checks import check_complex

__all__ = [
    "mzi_transfer",
    "electro_optic_activation",
    "intensity",
    "normalized_intensity",
    "haar_unitary",
    "jacobian_at",
]


def _as_real_tensor(value, name: str, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise TypeError(f"{name} must be real (radians, dB or a split error), got {value.dtype}")
        return value if like is None or value.is_floating_point() else value.to(like.dtype)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number or tensor, got {type(value).__name__}")
    dtype = like.dtype if like is not None and like.is_floating_point() else torch.get_default_dtype()
    return torch.tensor(float(value), dtype=dtype, device=None if like is None else like.device)


def mzi_coefficients(theta, phi, bs_in=None, bs_out=None, loss_db=None) -> torch.Tensor:
    """Unchecked, vectorised core of :func:`mzi_transfer`; all arguments broadcast.

    ``bs_in``/``bs_out``/``loss_db`` may be ``None`` (ideal component). Returns ``(..., 2, 2)``.
    """
    half = theta / 2
    phase = torch.polar(torch.ones_like(phi), phi)
    if bs_in is None and bs_out is None:
        s = torch.complex(torch.zeros_like(half), torch.sin(half))  # i sin(θ/2)
        c = torch.complex(torch.zeros_like(half), torch.cos(half))  # i cos(θ/2)
        t = torch.stack([phase * s, phase * c, c, -s], dim=-1)
    else:
        zero = torch.zeros((), dtype=theta.dtype, device=theta.device)
        e1 = zero if bs_in is None else bs_in
        e2 = zero if bs_out is None else bs_out
        p1, q1 = torch.sqrt((1 + e1) / 2), torch.sqrt((1 - e1) / 2)
        p2, q2 = torch.sqrt((1 + e2) / 2), torch.sqrt((1 - e2) / 2)
        a = torch.polar(torch.ones_like(half), half)  # e^{iθ/2}
        ac = a.conj()
        i = torch.complex(zero, torch.ones_like(zero))
        # B(e_out) diag(a, ā) B(e_in), multiplied out (see module docstring)
        t00 = phase * (p2 * p1 * a - q2 * q1 * ac)
        t01 = phase * i * (p2 * q1 * a + q2 * p1 * ac)
        t10 = i * (q2 * p1 * a + p2 * q1 * ac)
        t11 = p2 * p1 * ac - q2 * q1 * a
        t = torch.stack(torch.broadcast_tensors(t00, t01, t10, t11), dim=-1)
    if loss_db is not None:
        t = t * torch.pow(10.0, -loss_db / 20).unsqueeze(-1)
    return t.unflatten(-1, (2, 2))


def mzi_transfer(theta, phi, *, bs_error=(0.0, 0.0), loss_db=0.0) -> torch.Tensor:
    """2×2 transfer matrix ``T[out, in]`` of a Mach–Zehnder interferometer.

    ``T = 10^{-L/20} diag(e^{iφ}, 1) B(e_out) diag(e^{iθ/2}, e^{-iθ/2}) B(e_in)`` with the
    coupler ``B(e)`` of the module docstring (Zheng et al., Nat. Mach.
    Intell. 5 (2023)); ideal: ``[[i e^{iφ} sin(θ/2), i e^{iφ} cos(θ/2)], [i cos(θ/2),
    -i sin(θ/2)]]``. θ = π: bar; θ = 0: cross.

    Args:
        theta: internal (differential) phase θ in rad, real tensor or float.
        phi: external phase φ in rad on the output of the upper arm ``a``.
        bs_error: ``(e_in, e_out)`` splitting errors of the input and output coupler,
            each in ``[-1, 1]`` (power split ``(1+e)/2 : (1-e)/2``).
        loss_db: insertion loss in dB (>= 0 attenuates), applied equally to both arms.

    Returns:
        complex tensor ``(..., 2, 2)``; complex128 for float64 inputs, else complex64.

    Shape:
        all arguments broadcast to a common ``(...)``.
    """
    theta = _as_real_tensor(theta, "theta")
    phi = _as_real_tensor(phi, "phi", like=theta)
    if not isinstance(bs_error, (tuple, list)) or len(bs_error) != 2:
        raise TypeError("bs_error must be a pair (e_in, e_out) of split errors")
    e_in = _as_real_tensor(bs_error[0], "bs_error[0]", like=theta)
    e_out = _as_real_tensor(bs_error[1], "bs_error[1]", like=theta)
    loss = _as_real_tensor(loss_db, "loss_db", like=theta)
    for e, name in ((e_in, "bs_error[0]"), (e_out, "bs_error[1]")):
        if e.numel() and bool((e.detach().abs() > 1).any()):
            raise ValueError(f"{name} must lie in [-1, 1] (power split (1+e)/2 : (1-e)/2)")
    dtype = torch.promote_types(torch.promote_types(theta.dtype, phi.dtype), loss.dtype)
    dtype = torch.promote_types(dtype, torch.promote_types(e_in.dtype, e_out.dtype))
    theta, phi, e_in, e_out, loss = (v.to(dtype) for v in (theta, phi, e_in, e_out, loss))
    return mzi_coefficients(theta, phi, e_in, e_out, loss)


def electro_optic_activation(z: torch.Tensor, *, alpha=0.1, gain=0.05 * math.pi, bias=math.pi):
    """Electro-optic nonlinearity of Williamson et al. (IEEE JSTQE 26, 7700412 (2020)).

    A fraction ``alpha`` of the power is tapped to a photodiode whose signal drives a phase
    shifter (convention of the reference code, without the paper's global
    factor ``i``):

    .. math:: Δφ = g |z|^2 / 2 + φ_b / 2, \\qquad
              f(z) = \\sqrt{1-α}\\, \\cos(Δφ)\\, e^{-iΔφ}\\, z

    Args:
        z: complex mode amplitudes ``(..., n)`` (power ``|z|^2`` in arbitrary units).
        alpha: tapped power fraction in [0, 1).
        gain: g in rad per unit power (tensor or float, may be trainable).
        bias: φ_b in rad.

    Shape:
        ``(..., n) -> (..., n)``.
    """
    check_complex(z, "activation input")
    dphi = gain * z.real.square().add(z.imag.square()) / 2 + bias / 2
    amp = math.sqrt(1 - float(alpha)) if not isinstance(alpha, torch.Tensor) else torch.sqrt(1 - alpha)
    return z * (amp * torch.cos(dphi)) * torch.polar(torch.ones_like(dphi), -dphi)


def intensity(z: torch.Tensor) -> torch.Tensor:
    """Photodetected power ``|z|^2`` per port (real, same shape)."""
    check_complex(z, "detected field")
    return z.real.square() + z.imag.square()


def normalized_intensity(z: torch.Tensor, *, eps: float = 1e-12) -> torch.Tensor:
    """Port powers ``|z|^2`` divided by their L2 norm over the last axis (Zheng et al. 2023; docs/references.md#dat).

    Shape:
        ``(..., n) -> (..., n)``; each row has unit L2 norm (zero rows stay zero).
    """
    p = intensity(z)
    return p / p.norm(dim=-1, keepdim=True).clamp_min(eps)


def haar_unitary(n: int, *, generator: torch.Generator | None = None, dtype=torch.complex128):
    """A Haar-random ``n × n`` unitary (QR of a complex Ginibre matrix with the phases of
    ``diag(R)`` divided out; Mezzadri, Notices AMS 54, 592 (2007)).

    Args:
        n: size.
        generator: torch random generator (explicit randomness; ``None`` uses torch's default).
        dtype: complex64 or complex128.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"haar_unitary size n must be an integer ≥ 1, got {n!r}")
    if dtype not in (torch.complex64, torch.complex128):
        raise TypeError(f"dtype must be torch.complex64 or torch.complex128, got {dtype}")
    n = int(n)
    g = torch.randn(2, n, n, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(torch.complex(g[0], g[1]))
    d = torch.diagonal(r)
    return (q * (d / d.abs()).unsqueeze(-2)).to(dtype)


def jacobian_at(f, z: torch.Tensor, z_at: torch.Tensor) -> torch.Tensor:
    """``f(z)`` in the forward pass, differentiated at ``z_at``: ``∂f/∂z := J_f(z_at)``.

    The value is ``f(z)`` exactly (``f(z).detach() + (f(z') − f(z').detach())``, whose second
    term is exactly zero), and the gradient reaching ``z`` is the vector–Jacobian product of
    ``f`` at ``z_at`` (``z' = z_at + (z − z.detach())`` has ``z_at``'s value and ``z``'s
    gradient path). ``z_at`` gets no gradient. This is the semantics of the state fusion in
    the reference code of dual adaptive training (Zheng et al., Nat. Mach. Intell. 5, 1119
    (2023); docs/references.md#dat), which overwrites a layer's saved field with the measured
    amplitude after the forward pass: the following operation keeps its numerical output but
    is differentiated at the fused field. ``f`` is evaluated twice.

    Shape:
        ``z`` and ``z_at`` alike; the result is ``f(z)``'s.
    """
    if z_at.shape != z.shape:
        raise ValueError(f"jacobian_at: z_at has shape {tuple(z_at.shape)}, z has {tuple(z.shape)}")
    z_prime = z_at.detach().to(z.dtype) + (z - z.detach())
    y_at = f(z_prime)
    return f(z).detach() + (y_at - y_at.detach())
