"""Random thin phase diffusers and their statistics (Luo et al., eLight 2, 4 (2022); docs/references.md#diffusers).

Model (Luo et al., eLight 2, 4 (2022), Methods; Li et al., IEEE JSTQE 29, 7700110 (2023)):
a height profile ``D(x, y) = W(x, y) ∗ K(x, y)`` where ``W`` holds i.i.d. Gaussian heights
``N(μ, σ_h²)`` per pixel and ``K`` is a unit-sum Gaussian of standard deviation ``σ``
(metres); the thin-element transmittance is ``t = exp(i 2π Δn D / λ)``. Defaults
μ = 25λ, σ_h = 8λ, Δn = 0.74. Because ``K`` has unit sum the mean height stays μ and
the smoothed height has standard deviation ``σ_h · sqrt(Σ K²)`` ≈ ``σ_h / (2 √π σ/d)``
(continuous limit), so the phase standard deviation is

    std(φ) = 2π Δn σ_h sqrt(Σ K²) / λ     (≈ 1.05 rad for σ = 4λ at d = 0.3 mm, λ = 0.75 mm).

Correlation length (:func:`correlation_length`). The estimator follows the paper's recipe:
the radially averaged, normalised autocorrelation ``R(r)`` of the transmittance, fitted by
``exp(-π r² / L²)`` over the points with ``0.2 < R < 0.95``. *We remove the mean of t*
before correlating: ``t`` has a large non-zero mean (|E t| = exp(-std(φ)²/2) ≈ 0.58 for
std(φ) = 1.05 rad), so without mean removal ``R`` levels off at |E t|² ≈ 0.33 instead of
decaying to 0 and the 0.2-0.95 window would include that plateau; the mean-removed
``R`` decays from 1 to 0 like a Gaussian of the phase correlation
``ρ_φ(r) = exp(-r² / (4σ²))``:

    R(r) = (exp(-s (1 - ρ_φ(r))) - exp(-s)) / (1 - exp(-s)),   s = std(φ)².

The fit is a least-squares line through the origin of ``-ln R`` against ``π r²``:
``1/L² = Σ π r² (-ln R) / Σ (π r²)²``.

Independence (:func:`diffuser_correlation`, :func:`mean_abs_phase_difference`): see those
functions.
"""

from __future__ import annotations

import math

import torch

from .. import _fft
from .._checks import check_complex, finite_float, positive_float
from ..grid import Grid

__all__ = [
    "random_diffuser",
    "diffuser_height",
    "correlation_length",
    "radial_autocorrelation",
    "diffuser_correlation",
    "mean_abs_phase_difference",
]


def _check_generator(generator, fname: str) -> torch.Generator:
    if generator is None:
        raise TypeError(f"{fname}: a keyword-only generator= (torch.Generator) is required; "
                        "onnsim never draws from the global RNG")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{fname}: generator must be a torch.Generator, got "
                        f"{type(generator).__name__}")
    return generator


def _gaussian_kernel_spectrum(shape, pitch, sigma: float, device) -> torch.Tensor:
    """FFT of a unit-sum Gaussian (std ``sigma`` m) sampled at circular distances."""
    ny, nx = shape
    dy, dx = pitch
    iy = torch.arange(ny, dtype=torch.float64, device=device)
    ix = torch.arange(nx, dtype=torch.float64, device=device)
    ry = torch.minimum(iy, ny - iy) * dy  # circular distance to pixel 0
    rx = torch.minimum(ix, nx - ix) * dx
    k = torch.exp(-(ry[:, None] ** 2 + rx[None, :] ** 2) / (2 * sigma**2))
    k = k / k.sum()
    return _fft.fft2(k), k


def diffuser_height(grid: Grid, wavelength: float, *, sigma: float, height_mean=None,
                    height_std=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random smoothed height map ``D`` in metres (float64), the core of :func:`random_diffuser`.

    i.i.d. heights ``N(height_mean, height_std²)`` per pixel are convolved (linear, not
    circular, convolution) with a unit-sum Gaussian of std ``sigma``: the white noise is
    drawn on a grid padded by ``ceil(4σ/d)`` pixels on every side, smoothed there by FFT and
    cropped, so opposite edges of the result are uncorrelated (wrap distance ≥ 8σ, residual
    correlation ≤ exp(-16)).

    Args:
        grid: sampling of the diffuser plane.
        wavelength: vacuum wavelength λ in metres (sets the default heights).
        sigma: std of the smoothing Gaussian in metres (> 0).
        height_mean: mean height in metres (default 25λ).
        height_std: std of the unsmoothed heights in metres (default 8λ, ≥ 0).
        generator: source of randomness (keyword-only, required).

    Shape:
        returns ``(ny, nx)``, float64.
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"diffuser: grid must be an optics.Grid, got {type(grid).__name__}")
    lam = positive_float(wavelength, "diffuser wavelength")
    sigma = positive_float(sigma, "diffuser sigma (smoothing std)")
    mean = 25 * lam if height_mean is None else _finite(height_mean, "height_mean")
    std = 8 * lam if height_std is None else _finite(height_std, "height_std")
    if std < 0:
        raise ValueError(f"diffuser height_std must be ≥ 0 (in m), got {std!r}")
    generator = _check_generator(generator, "random_diffuser")
    py = int(math.ceil(4 * sigma / grid.dy))
    px = int(math.ceil(4 * sigma / grid.dx))
    shape = (grid.ny + 2 * py, grid.nx + 2 * px)
    device = generator.device
    white = torch.randn(shape, generator=generator, dtype=torch.float64, device=device)
    kspec, _ = _gaussian_kernel_spectrum(shape, grid.pitch, sigma, device)
    smooth = _fft.ifft2(_fft.fft2(white) * kspec).real
    return mean + std * smooth[py:py + grid.ny, px:px + grid.nx]


def _finite(value, name: str) -> float:
    return finite_float(value, f"diffuser {name}")


def random_diffuser(grid: Grid, wavelength: float, *, sigma: float, delta_n: float = 0.74,
                    height_mean=None, height_std=None, generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.complex64) -> torch.Tensor:
    """Complex transmittance ``t = exp(i 2π Δn D / λ)`` of a random thin phase diffuser.

    ``D`` is :func:`diffuser_height` (i.i.d. Gaussian heights smoothed by a unit-sum
    Gaussian of std ``sigma``); Luo et al., eLight 2, 4 (2022). With the eLight values
    (λ = 0.75 mm, d = 0.3 mm, σ = 4λ) the phase std is ≈ 1.05 rad and the correlation
    length (this module's estimator) ≈ 10λ.

    Args:
        grid: sampling of the diffuser plane.
        wavelength: vacuum wavelength λ in metres.
        sigma: smoothing std in metres (> 0), e.g. ``4 * wavelength``.
        delta_n: refractive-index contrast Δn between diffuser material and air (> 0).
        height_mean: mean height in metres (default 25λ).
        height_std: std of the unsmoothed per-pixel heights in metres (default 8λ).
        generator: source of randomness (keyword-only, required). The tensor is created
            on the generator's device.
        dtype: complex output dtype (complex64 default or complex128).

    Returns:
        The transmittance, unit modulus.

    Shape:
        ``(ny, nx)``.
    """
    if dtype not in (torch.complex64, torch.complex128):
        raise TypeError(f"random_diffuser: dtype must be torch.complex64 or torch.complex128, "
                        f"got {dtype}")
    dn = positive_float(delta_n, "diffuser delta_n", unit="refractive index units")
    height = diffuser_height(grid, wavelength, sigma=sigma, height_mean=height_mean,
                             height_std=height_std, generator=generator)
    phase = (2 * math.pi * dn / float(wavelength)) * height
    return torch.polar(torch.ones_like(phase), phase).to(dtype)


def radial_autocorrelation(transmittance: torch.Tensor, grid: Grid, *, remove_mean: bool = True):
    """Radially averaged, normalised autocorrelation of a transmittance.

    ``C(Δ) = Σ_r t̃(r + Δ) t̃*(r) / Σ_r |t̃(r)|²`` with ``t̃ = t - mean(t)`` (or ``t``), computed
    as a *linear* (zero-padded, non-periodic) correlation and normalised per lag by the
    number of overlapping pixels (unbiased estimator). ``Re C`` is averaged in annuli of
    width ``min(dy, dx)``.

    Args:
        transmittance: complex tensor ``(*batch, ny, nx)``; batches are averaged.
        grid: its sampling.
        remove_mean: subtract the spatial mean of ``t`` first (default).

    Returns:
        ``(r, R)``: annulus radii (mean distance in the annulus) in metres and the averaged
        correlation, both 1-D float64 tensors; ``R[0] = 1`` at ``r = 0``. Only radii up to
        half the smaller grid extent are returned.
    """
    check_complex(transmittance, "transmittance")
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an optics.Grid, got {type(grid).__name__}")
    t = transmittance.detach().to(torch.complex128)
    if t.dim() < 2 or tuple(t.shape[-2:]) != grid.shape:
        raise ValueError(f"transmittance shape {tuple(t.shape)} does not match grid.shape "
                         f"{grid.shape}")
    t = t.reshape(-1, *grid.shape)
    if remove_mean:
        t = t - t.mean(dim=(-2, -1), keepdim=True)
    ny, nx = grid.shape
    s = (2 * ny, 2 * nx)
    spec = _fft.fft2(t, s=s)
    acf = _fft.ifft2(spec.abs() ** 2).real.mean(dim=0)  # Σ_r t(r+Δ) t*(r), lags in FFT order
    ones = torch.ones(ny, nx, dtype=torch.float64, device=t.device)
    count = _fft.ifft2(_fft.fft2(ones, s=s).abs() ** 2).real.round()
    acf = acf / count.clamp(min=1)
    acf = acf / acf[0, 0]
    ly = torch.fft.fftfreq(s[0], d=1.0 / s[0], dtype=torch.float64, device=t.device) * grid.dy
    lx = torch.fft.fftfreq(s[1], d=1.0 / s[1], dtype=torch.float64, device=t.device) * grid.dx
    r = torch.sqrt(ly[:, None] ** 2 + lx[None, :] ** 2)
    step = min(grid.dy, grid.dx)
    rmax = 0.5 * min(grid.extent)
    keep = r <= rmax
    idx = torch.round(r[keep] / step).long()
    nbins = int(idx.max()) + 1
    n = torch.zeros(nbins, dtype=torch.float64, device=t.device).index_add_(0, idx, torch.ones_like(r[keep]))
    sum_c = torch.zeros_like(n).index_add_(0, idx, acf[keep])
    sum_r = torch.zeros_like(n).index_add_(0, idx, r[keep])
    ok = n > 0
    return sum_r[ok] / n[ok], sum_c[ok] / n[ok]


def correlation_length(transmittance: torch.Tensor, grid: Grid, *, fit_range=(0.2, 0.95),
                       remove_mean: bool = True) -> float:
    """Correlation length ``L`` in metres of a diffuser transmittance.

    Fits ``R(r) = exp(-π r² / L²)`` to the radially averaged, normalised, mean-removed
    autocorrelation (:func:`radial_autocorrelation`) over the points with
    ``fit_range[0] < R < fit_range[1]`` (Luo et al. 2022: 0.2 < R < 0.95), by least squares
    of ``-ln R = π r² / L²`` through the origin. See the module docstring for why the mean
    is removed. A batch ``(*batch, ny, nx)`` gives one L from the averaged correlation.

    Args:
        transmittance: complex tensor ``(*batch, ny, nx)``.
        grid: its sampling.
        fit_range: ``(low, high)`` window of correlation values used by the fit.
        remove_mean: subtract the spatial mean of ``t`` before correlating (default True).

    Returns:
        L in metres (a Python float).

    Raises:
        ValueError: when fewer than two radii fall in the fit window (under-resolved or
            too-small grid).
    """
    lo, hi = fit_range
    if not 0 < lo < hi < 1:
        raise ValueError(f"fit_range must satisfy 0 < low < high < 1, got {fit_range!r}")
    r, c = radial_autocorrelation(transmittance, grid, remove_mean=remove_mean)
    sel = (c > lo) & (c < hi) & (r > 0)
    if int(sel.sum()) < 2:
        raise ValueError(
            f"correlation_length: only {int(sel.sum())} radii have {lo} < R < {hi}; the "
            "diffuser is not resolved by the grid pitch or the grid is too small for its "
            "correlation length")
    x = math.pi * r[sel] ** 2
    yv = -torch.log(c[sel])
    inv_l2 = float((x * yv).sum() / (x * x).sum())
    return 1.0 / math.sqrt(inv_l2)


def _centred(t: torch.Tensor) -> torch.Tensor:
    return t - t.mean(dim=(-2, -1), keepdim=True)


def diffuser_correlation(t1: torch.Tensor, t2: torch.Tensor) -> torch.Tensor:
    """Normalised correlation of two mean-removed transmittances.

    ``ρ = Σ t̃1 t̃2* / sqrt(Σ|t̃1|² Σ|t̃2|²)`` with ``t̃ = t - mean(t)`` over the last two
    dimensions. ``|ρ| = 1`` for the same diffuser (up to a global phase); independent
    draws give ``|ρ| ≈ L / extent`` (≈ 0.03 on the eLight grid), so use ``|ρ| < 0.2`` to
    call two diffusers different.

    Args:
        t1: complex tensor ``(*batch, ny, nx)``.
        t2: complex tensor broadcastable with ``t1``.

    Returns:
        Complex ρ; take ``abs()`` for the independence test.

    Shape:
        ``(*batch, ny, nx), (*batch, ny, nx) -> (*batch,)``.
    """
    check_complex(t1, "t1")
    check_complex(t2, "t2")
    if t1.shape[-2:] != t2.shape[-2:]:
        raise ValueError(f"diffuser_correlation: plane shapes differ: {tuple(t1.shape)} vs "
                         f"{tuple(t2.shape)}")
    a, b = _centred(t1), _centred(t2)
    num = (a * b.conj()).sum(dim=(-2, -1))
    den = torch.sqrt((a.abs() ** 2).sum(dim=(-2, -1)) * (b.abs() ** 2).sum(dim=(-2, -1)))
    return num / den


def mean_abs_phase_difference(t1: torch.Tensor, t2: torch.Tensor, *,
                              wrap: str = "difference") -> torch.Tensor:
    """Mean absolute phase difference of two transmittances, in radians.

    The eLight paper calls two diffusers "different" when this exceeds π/2, without saying
    how phases are wrapped. Readings:

    * ``wrap="difference"`` (default): ``mean |arg(t1 t2*)|``, the difference wrapped to
      (-π, π]. Independent of the (arbitrary) mean height; in [0, π]. For independent
      Gaussian phases of std s it is ≈ sqrt(2)·s·sqrt(2/π) (≈ 1.18 rad for s = 1.05, i.e.
      *below* π/2 for the eLight diffusers).
    * ``wrap="each"``: ``mean |arg t1 - arg t2|``, each phase wrapped to (-π, π] first.
      Depends on the mean phase 2π Δn μ / λ mod 2π (≈ π for the defaults, where half the
      pixels wrap), in [0, 2π).

    Args:
        t1: complex tensor ``(*batch, ny, nx)``.
        t2: complex tensor broadcastable with ``t1``.
        wrap: ``"difference"`` or ``"each"``.

    Shape:
        ``-> (*batch,)``.
    """
    check_complex(t1, "t1")
    check_complex(t2, "t2")
    if wrap == "difference":
        d = torch.angle(t1 * t2.conj())
    elif wrap == "each":
        d = torch.angle(t1) - torch.angle(t2)
    else:
        raise ValueError(f"wrap must be 'difference' or 'each', got {wrap!r}")
    return d.abs().mean(dim=(-2, -1))
