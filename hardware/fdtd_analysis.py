"""Analysis of the FDTD validation: onnsim's scalar models next to Meep's fields.

The Meep jobs themselves are described and run by :mod:`hardware.fdtd`; this module builds
them for the comparisons (used by the ``fdtd-validation`` experiment, and by anyone checking a
design of their own against FDTD) and compares: diffraction-order
efficiencies of phase gratings (Meep vs onnsim's thin element + angular spectrum), Gaussian
beams and slits in free space (:func:`beam_comparison`), 1-D reliefs such as a trained layer
(:func:`layer_comparison`), and the intensity metrics they report. Lengths in metres.
"""

from __future__ import annotations

import math

import numpy as np

from .fdtd import FdtdJob, run_job

__all__ = ["grating_heights", "order_efficiencies", "thin_element_field", "grating_comparison",
           "grating_validity_sweep", "feature_size", "validity_threshold", "asm_1d", "normalized_intensity",
           "intensity_error", "intensity_correlation", "spot_fractions", "beam_profile", "beam_comparison",
           "layer_comparison"]


# Gratings: diffraction-order efficiencies, Meep vs thin element + onnsim ASM


def grating_heights(kind: str, period_px: int, wavelength: float, index: float) -> np.ndarray:
    """One period of a phase grating as local heights (m), ``period_px`` pixels.

    ``"binary"``: π phase step (height λ/(2(n−1))), 50 % duty. ``"blazed4"``: 4-level staircase
    with phases 0, π/2, π, 3π/2 (heights j·λ/(4(n−1))) rising with x, blazed into order +1.
    """
    step = wavelength / (index - 1)  # height of a 2π phase step
    j = np.arange(period_px)
    if kind == "binary":
        return np.where(j < period_px // 2, step / 2, 0.0)
    if kind == "blazed4":
        return (j * 4 // period_px) * step / 4
    raise ValueError(f"grating kind must be 'binary' or 'blazed4', got {kind!r}")


def order_efficiencies(field, dx: float, wavelength: float) -> dict[int, float]:
    """Power fractions of the propagating diffraction orders of one period of ``field``.

    ``field`` (complex, one period sampled at ``dx``) is a transverse cut in a homogeneous
    medium of index 1; order m has sin θ_m = mλ/period and power ∝ |c_m|² cos θ_m (c_m the
    Fourier coefficients). Fractions are of the total propagating power (so Fresnel losses
    and the normalisation of the source cancel)."""
    e = np.asarray(field, dtype=complex).reshape(-1)
    n = e.size
    c = np.fft.fft(e) / n
    m = np.rint(np.fft.fftfreq(n, d=1.0 / n)).astype(int)
    s = m * wavelength / (n * dx)
    prop = np.abs(s) < 1
    p = np.abs(c[prop]) ** 2 * np.sqrt(1 - s[prop] ** 2)
    return {int(k): float(v) for k, v in zip(m[prop], p / p.sum())}


def thin_element_field(heights, index: float, wavelength: float, dx: float, z: float) -> np.ndarray:
    """onnsim's model of a layer: thin-element phase exp(i·2π(n−1)h/λ) on a unit plane wave,
    propagated ``z`` by :func:`optics.functional.propagation.asm_propagate` on one period
    (1 × nx grid) with ``pad_factor=1``, no band limit and no sampling check: circular
    convolution, i.e. the periodic grating, whose transfer function is then evaluated exactly
    at the order frequencies (zero padding would model one finite period; the band limit,
    meant for aperiodic windows, would cut real orders at short periods)."""
    import torch

    from optics import Field, Grid
    from optics.functional.masks import phase_mask
    from optics.functional.propagation import asm_propagate

    h = torch.as_tensor(np.asarray(heights, dtype=float))[None, :]
    grid = Grid((1, h.shape[1]), (dx, dx))
    f = Field(torch.ones(h.shape, dtype=torch.complex128), grid, wavelength)
    f = phase_mask(f, 2 * math.pi * (index - 1) * h / wavelength)
    return asm_propagate(f, z, pad_factor=1, band_limit=False, check_sampling=False).data[0].numpy()


def grating_comparison(kind: str, period: float, *, wavelength: float = 1e-6, index: float = 1.5,
                       resolution: float = 20, z: float | None = None, python: str | None = None,
                       timeout: float = 600) -> dict:
    """Order efficiencies of one grating, Meep (layer mode, periodic) vs thin element + ASM.

    Returns ``period_wl`` (period/λ), ``meep`` and ``thin`` (order → power fraction),
    ``orders`` (propagating orders with ≥ 1 % in either model), ``max_abs_err`` (largest
    absolute difference over all propagating orders), ``main_order`` (+1) with its
    ``main_rel_err`` (relative to thin element) and the Meep ``wall_s``.
    """
    import time

    period_px = int(round(period / wavelength * resolution))
    dx = wavelength / resolution
    h = grating_heights(kind, period_px, wavelength, index)
    z = 2 * wavelength if z is None else z
    t0 = time.perf_counter()
    res = run_job(FdtdJob(wavelength=wavelength, resolution=resolution, heights=h, index=index,
                          monitors=(z,), transverse="periodic"), python=python, timeout=timeout)
    wall = time.perf_counter() - t0
    meep = order_efficiencies(res.fields[0], dx, wavelength)
    thin = order_efficiencies(thin_element_field(h, index, wavelength, dx, z), dx, wavelength)
    keys = sorted(set(meep) | set(thin))
    err = max(abs(meep.get(k, 0.0) - thin.get(k, 0.0)) for k in keys)
    return {"kind": kind, "period_wl": period_px / resolution, "meep": meep, "thin": thin,
            "orders": [k for k in keys if max(meep.get(k, 0), thin.get(k, 0)) >= 0.01],
            "max_abs_err": err, "main_order": 1,
            "main_rel_err": abs(meep[1] - thin[1]) / thin[1], "wall_s": wall}


def grating_validity_sweep(periods_wl=(20, 10, 5, 3, 2), kinds=("binary", "blazed4"), **kw) -> list[dict]:
    """:func:`grating_comparison` for each grating kind and period (in wavelengths): the map
    of where the thin-element + ASM model holds. ``kw`` goes to :func:`grating_comparison`."""
    return [grating_comparison(k, p * kw.get("wavelength", 1e-6), **kw) for k in kinds for p in periods_wl]


# --------------------------------------------------------------------------------------------
# Beams in free space and 1-D layers: Meep vs onnsim's angular spectrum


def asm_1d(profile, dx: float, z: float, wavelength: float) -> np.ndarray:
    """onnsim's angular-spectrum propagation of a 1-D field (linear convolution).

    The 1-D cut is a ``(1, nx)`` :class:`optics.Grid` propagated by
    :func:`optics.functional.propagation.asm_propagate` with 2× zero padding (a one-sample
    axis is never padded, so this is the 1-D problem)."""
    import torch

    from optics import Field, Grid
    from optics.functional.propagation import asm_propagate

    e = np.asarray(profile, dtype=complex).reshape(-1)
    f = Field(torch.as_tensor(e)[None, :], Grid((1, e.size), (dx, dx)), wavelength)
    return asm_propagate(f, z, pad_factor=2, check_sampling=False).data[0].numpy()


def normalized_intensity(field) -> np.ndarray:
    """|E|² normalised to unit sum."""
    i = np.abs(np.asarray(field)) ** 2
    return i / i.sum()


def intensity_error(field, reference) -> float:
    """Relative L2 error of |field|² against |reference|², each normalised to unit sum."""
    a, b = normalized_intensity(field), normalized_intensity(reference)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def intensity_correlation(field, reference) -> float:
    """Pearson correlation of |field|² and |reference|²."""
    return float(np.corrcoef(np.abs(np.asarray(field)) ** 2, np.abs(np.asarray(reference)) ** 2)[0, 1])


def beam_profile(kind: str, x: np.ndarray, size: float) -> np.ndarray:
    """Input field on samples ``x`` (m): ``"gaussian"`` exp(−(x/w)²) with waist ``size`` or
    ``"slit"`` a hard-edged unit slit of width ``size`` (samples with |x| < size/2)."""
    if kind == "gaussian":
        return np.exp(-(x / size) ** 2) + 0j
    if kind == "slit":
        return (np.abs(x) < size / 2).astype(complex)
    raise ValueError(f"beam kind must be 'gaussian' or 'slit', got {kind!r}")


def beam_comparison(kind: str, resolution: float, *, size: float, z: float, width: float,
                    wavelength: float = 1e-6, near: float | None = None, python: str | None = None,
                    timeout: float = 600) -> dict:
    """Free-space propagation of a Gaussian beam or a slit: Meep (source mode, PML all round)
    vs onnsim's ASM (:func:`asm_1d`).

    Meep monitors sit at ``near`` (default one wavelength) and ``z``. Returns the relative L2
    errors of the normalised |E|² (:func:`intensity_error`): ``err_near`` (ASM of the ideal
    input vs Meep at ``near``: how well the source makes the profile), ``err_ideal`` (ASM of
    the ideal input vs Meep at ``z``: the end-to-end agreement), ``err_meep_input`` (ASM of
    Meep's field at ``near`` over ``z − near`` vs Meep at ``z``: the propagation alone), the
    complex fields ``meep``/``asm`` at ``z`` on ``x``, and the Meep ``wall_s``.
    """
    import time

    near = wavelength if near is None else near
    nx = int(round(width / wavelength * resolution))
    nx += nx % 2
    dx = wavelength / resolution
    x = (np.arange(nx) - (nx - 1) / 2) * dx
    p = beam_profile(kind, x, size)
    t0 = time.perf_counter()
    r = run_job(FdtdJob(wavelength=wavelength, resolution=resolution, profile=p, monitors=(near, z)),
                python=python, timeout=timeout)
    wall = time.perf_counter() - t0
    asm_z = asm_1d(p, dx, z, wavelength)
    return {"kind": kind, "resolution": float(resolution), "size": size, "z": z, "width": nx * dx,
            "err_near": intensity_error(r.fields[0], asm_1d(p, dx, near, wavelength)),
            "err_ideal": intensity_error(r.fields[1], asm_z),
            "err_meep_input": intensity_error(r.fields[1], asm_1d(r.fields[0], dx, z - near, wavelength)),
            "x": x, "meep": r.fields[1], "asm": asm_z, "wall_s": wall}


def layer_comparison(pixel_heights, pixel: float, *, z, wavelength: float = 1e-6, index: float = 1.5,
                     resolution: float = 20, transverse: str = "periodic", python: str | None = None,
                     timeout: float = 600) -> dict:
    """A 1-D relief of ``len(pixel_heights)`` pixels of width ``pixel`` (m) lit by a normal
    plane wave: Meep (layer mode) vs onnsim's thin element exp(i·2π(n−1)h/λ) + ASM, at the
    distances ``z`` behind the exit face. ``pixel`` must be a whole number of grid steps
    λ/resolution.

    ``transverse="periodic"``: the relief is one period of a periodic array; onnsim side
    :func:`thin_element_field` (circular convolution on the same period). ``"pml"``: a finite
    window with absorbing sides, lit across the window only; onnsim side :func:`asm_1d` of the
    thin element on the window (zero outside: an aperture, linear convolution).

    Returns ``x``, ``heights`` (per grid sample), per distance the complex fields
    ``meep[i]``/``thin[i]``, the Pearson ``correlation`` and relative L2 ``l2`` of the |E|²
    profiles (over the window), and the Meep ``wall_s``."""
    import time

    dx = wavelength / resolution
    px = pixel / dx
    if abs(px - round(px)) > 1e-6 or round(px) < 1:
        raise ValueError(f"pixel {pixel!r} m is not a whole number of grid steps λ/resolution = {dx!r} m")
    h = np.repeat(np.asarray(pixel_heights, dtype=float), int(round(px)))
    zs = tuple(float(v) for v in np.atleast_1d(z))
    t0 = time.perf_counter()
    r = run_job(FdtdJob(wavelength=wavelength, resolution=resolution, heights=h, index=index, monitors=zs,
                        transverse=transverse), python=python, timeout=timeout)
    wall = time.perf_counter() - t0
    if transverse == "periodic":
        thin = np.stack([thin_element_field(h, index, wavelength, dx, d) for d in zs])
    else:
        t0_field = np.exp(2j * math.pi * (index - 1) * h / wavelength)
        thin = np.stack([asm_1d(t0_field, dx, d, wavelength) for d in zs])
    return {"resolution": float(resolution), "transverse": transverse, "z": np.asarray(zs), "x": r.x,
            "heights": h, "meep": r.fields, "thin": thin,
            "correlation": [intensity_correlation(m, t) for m, t in zip(r.fields, thin)],
            "l2": [intensity_error(m, t) for m, t in zip(r.fields, thin)], "wall_s": wall}


def spot_fractions(field, x, centres, width) -> list[float]:
    """Fraction of the (normalised) intensity in each spot window ``|x − c| < width/2``."""
    i = normalized_intensity(field)
    return [float(i[np.abs(x - c) < width / 2].sum()) for c in centres]


def feature_size(kind: str, period_wl: float) -> float:
    """Smallest feature of a grating in wavelengths: half a period (binary, 50 % duty) or a
    quarter (4-level blazed)."""
    return period_wl / (2 if kind == "binary" else 4)


def validity_threshold(rows: list[dict], tolerance: float) -> dict:
    """From grating rows of one kind (``period_wl``, ``main_rel_err``): going down from the
    longest period, the smallest feature size (λ) for which this and every longer period keep
    the relative +1 error below ``tolerance`` (``n_wl``, None if the longest fails) and the
    feature size of the first period that fails (``first_fail_wl``, None if none fails)."""
    rows = sorted(rows, key=lambda r: -r["period_wl"])
    n_wl, fail = None, None
    for r in rows:
        f = feature_size(r["kind"], r["period_wl"])
        if r["main_rel_err"] < tolerance:
            n_wl = f
        else:
            fail = f
            break
    return {"n_wl": n_wl, "first_fail_wl": fail}
