"""FDTD validation bridge: run 2-D jobs in MIT Meep out of process (docs/validation/fdtd.md).

Meep is not on PyPI; Debian ships ``python3-meep`` for ``/usr/bin/python3`` (install with
``scripts/setup_fdtd.sh``). This module imports no Meep: it writes a :class:`FdtdJob` to
HDF5 (in Meep units, see :func:`to_meep_units`), runs ``hardware/fdtd_worker.py`` under the
Meep interpreter in a subprocess and reads the complex Ez fields at the monitor planes back.

The interpreter is, in order: the ``python`` argument, the environment variable
``ONNSIM_MEEP_PYTHON``, ``/usr/bin/python3``.

Model: 2-D, TM (Ez out of plane), a scalar wave equation like onnsim's. The transverse axis
x is sampled at ``dx = wavelength / resolution`` (``nx`` points centred on 0, like
:class:`optics.Grid`); propagation is along z. Time dependence exp(-iωt), as in onnsim.

Example::

    job = FdtdJob(wavelength=1e-6, resolution=20, profile=gaussian_1d, monitors=(0.0, 30e-6))
    result = run_job(job)          # result.fields: complex (n_monitors, nx)
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

WORKER = Path(__file__).with_name("fdtd_worker.py")
DEFAULT_PYTHON = "/usr/bin/python3"
ENV_PYTHON = "ONNSIM_MEEP_PYTHON"
SETUP_HINT = "install it with `bash scripts/setup_fdtd.sh` (Debian python3-meep) or set " \
             f"{ENV_PYTHON} to an interpreter that has meep and h5py"

#: Meep length unit a, in metres. Lengths in Meep = SI / MEEP_LENGTH_UNIT; frequency in c/a.
MEEP_LENGTH_UNIT = 1e-6


class FdtdError(RuntimeError):
    """Meep is missing or the FDTD worker failed."""


@dataclass(frozen=True)
class FdtdJob:
    """A 2-D TM (Ez) FDTD job. All lengths in metres.

    Exactly one of ``profile`` (mode "source") and ``heights`` (mode "layer") is given.

    Args:
        wavelength: vacuum wavelength.
        resolution: Meep grid points per wavelength (also the transverse sampling, dx = λ/resolution).
        profile: complex 1-D input field E(x) on the reference plane z = 0 (source mode).
        heights: 1-D local heights h(x) ≥ 0 of a dielectric layer lit by a normal plane wave of
            unit amplitude (layer mode); z = 0 is the layer's exit face.
        index: refractive index of the layer (layer mode).
        base: thickness of a uniform base slab under the ridges (layer mode).
        monitors: distances z ≥ 0 from the reference plane at which Ez is returned.
        pml: PML thickness.
        transverse: "pml" (absorbing, for beams) or "periodic" (period nx·dx, for gratings).
        gap: clearance between source, structure, monitors and PML (default one wavelength).
        compensate: source mode: pre-compensate the line current so that the forward field on
            the source line equals ``profile`` (otherwise the current is ``profile``).
        run_periods: simulated time in optical periods (default: switch-on plus two transits).
    """

    wavelength: float
    resolution: float = 20
    profile: np.ndarray | None = None
    heights: np.ndarray | None = None
    index: float = 1.5
    base: float = 0.0
    monitors: tuple = (0.0,)
    pml: float | None = None
    transverse: str = "pml"
    gap: float | None = None
    compensate: bool = True
    run_periods: float | None = None
    turn_on_periods: float = 5.0

    def __post_init__(self):
        if not (self.wavelength > 0 and math.isfinite(self.wavelength)):
            raise ValueError(f"FdtdJob wavelength must be a positive finite length in metres, got {self.wavelength!r}")
        if not self.resolution >= 4:
            raise ValueError(f"FdtdJob resolution (points per wavelength) must be >= 4, got {self.resolution!r}")
        if (self.profile is None) == (self.heights is None):
            raise ValueError("FdtdJob needs exactly one of profile (input field, source mode) and "
                             "heights (dielectric layer, layer mode)")
        arr = self.profile if self.profile is not None else self.heights
        arr = np.asarray(arr)
        if arr.ndim != 1 or arr.size < 2 or not np.all(np.isfinite(arr)):
            raise ValueError(f"FdtdJob profile/heights must be a finite 1-D array of >= 2 samples, got shape {arr.shape}")
        if self.heights is not None and (np.any(arr < 0) or not self.index >= 1):
            raise ValueError("FdtdJob heights must be >= 0 and index >= 1")
        if self.transverse not in ("pml", "periodic"):
            raise ValueError(f"FdtdJob transverse must be 'pml' or 'periodic', got {self.transverse!r}")
        mon = np.atleast_1d(np.asarray(self.monitors, dtype=float))
        if mon.size == 0 or np.any(mon < 0) or not np.all(np.isfinite(mon)):
            raise ValueError(f"FdtdJob monitors must be distances >= 0 (metres), got {self.monitors!r}")

    @property
    def mode(self) -> str:
        return "source" if self.profile is not None else "layer"

    @property
    def dx(self) -> float:
        return self.wavelength / self.resolution

    @property
    def nx(self) -> int:
        return int(np.asarray(self.profile if self.profile is not None else self.heights).size)

    @property
    def x(self) -> np.ndarray:
        """Transverse sample positions (m), centred like :class:`optics.Grid`."""
        return (np.arange(self.nx) - (self.nx - 1) / 2) * self.dx


@dataclass(frozen=True)
class FdtdResult:
    """Complex Ez at the monitor planes: ``fields[i]`` at ``monitors[i]`` (m), sampled at ``x`` (m)."""

    fields: np.ndarray
    x: np.ndarray
    monitors: np.ndarray
    wavelength: float
    meta: dict


def to_meep_units(job: FdtdJob) -> dict:
    """The one SI → Meep conversion. Meep length unit a = 1 µm (:data:`MEEP_LENGTH_UNIT`):
    lengths are divided by 1e-6 m, frequency is a/λ (units of c/a), resolution is grid points
    per a = points per wavelength / (λ / a). Fields are dimensionless (unit source amplitude).
    Returns the attributes and arrays the worker reads."""
    a = MEEP_LENGTH_UNIT
    lam = job.wavelength / a
    pml = job.pml if job.pml is not None else 2 * job.wavelength
    gap = job.gap if job.gap is not None else job.wavelength
    mon = np.atleast_1d(np.asarray(job.monitors, dtype=float)) / a
    if job.mode == "layer":
        extent = float(np.max(job.heights)) + job.base
    else:
        extent = 0.0
    span = (extent + 2 * gap) / a + float(mon.max()) + gap / a  # source → last monitor + clearance
    if job.transverse == "pml":
        span = max(span, job.nx * job.dx / a)
    run_periods = job.run_periods
    if run_periods is None:
        run_periods = job.turn_on_periods * 2 + 2 * span / lam + 10
    out = {
        "mode": job.mode,
        "frequency": 1.0 / lam,
        "resolution": job.resolution / lam,
        "dx": job.dx / a,
        "nx": job.nx,
        "pml": pml / a,
        "gap": gap / a,
        "transverse": job.transverse,
        "monitors": mon,
        "compensate": bool(job.compensate),
        "turn_on_periods": float(job.turn_on_periods),
        "run_time": run_periods * lam,
        "length_unit_m": a,
    }
    if job.mode == "source":
        p = np.asarray(job.profile, dtype=complex)
        out["profile_re"], out["profile_im"] = p.real.copy(), p.imag.copy()
    else:
        out["heights"] = np.asarray(job.heights, dtype=float) / a
        out["index"] = float(job.index)
        out["base"] = job.base / a
    return out


def write_job(job: FdtdJob, path) -> None:
    """Write ``job`` to HDF5 in Meep units (scalars as attributes, arrays as datasets)."""
    with h5py.File(path, "w") as f:
        for k, v in to_meep_units(job).items():
            if isinstance(v, np.ndarray):
                f.create_dataset(k, data=v)
            else:
                f.attrs[k] = v


def _python(python) -> str:
    return python or os.environ.get(ENV_PYTHON) or DEFAULT_PYTHON


def meep_available(python: str | None = None) -> tuple[bool, str]:
    """Whether ``python`` (default: see module docstring) can import meep and h5py, and why not."""
    py = _python(python)
    if not Path(py).exists():
        return False, f"Meep interpreter {py} not found; {SETUP_HINT}"
    try:
        r = subprocess.run([py, "-c", "import meep, h5py"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"cannot run {py}: {e}; {SETUP_HINT}"
    if r.returncode != 0:
        tail = r.stderr.strip().splitlines()[-1:] or ["?"]
        return False, f"{py} cannot import meep/h5py ({tail[0]}); {SETUP_HINT}"
    return True, f"meep available under {py}"


_MEEP_OK: set = set()


def run_job(job: FdtdJob, *, python: str | None = None, timeout: float = 600,
            workdir=None) -> FdtdResult:
    """Run ``job`` in Meep in a subprocess and return the monitor fields (SI positions).

    Raises:
        FdtdError: Meep is not available (names scripts/setup_fdtd.sh), the worker failed
            (with its stderr tail) or timed out.
    """
    py = _python(python)
    if py not in _MEEP_OK:
        ok, why = meep_available(py)
        if not ok:
            raise FdtdError(why)
        _MEEP_OK.add(py)  # only successes are remembered: an install later in the session counts
    with tempfile.TemporaryDirectory(prefix="onnsim-fdtd-", dir=workdir) as tmp:
        job_h5, out_h5 = Path(tmp) / "job.h5", Path(tmp) / "out.h5"
        write_job(job, job_h5)
        try:
            r = subprocess.run([py, str(WORKER), str(job_h5), str(out_h5)], capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise FdtdError(f"FDTD worker exceeded timeout={timeout} s; raise timeout or lower "
                            f"resolution/cell size") from e
        if r.returncode != 0 or not out_h5.exists():
            tail = "\n".join(r.stderr.strip().splitlines()[-15:])
            raise FdtdError(f"FDTD worker failed (exit {r.returncode}) under {py}:\n{tail}")
        with h5py.File(out_h5, "r") as f:
            a = float(f.attrs["length_unit_m"])
            fields = f["ez_re"][()] + 1j * f["ez_im"][()]
            x = f["x"][()] * a
            mon = f["monitors"][()] * a
            meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return FdtdResult(fields=fields, x=x, monitors=mon, wavelength=job.wavelength, meta=meta)


# --------------------------------------------------------------------------------------------
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
