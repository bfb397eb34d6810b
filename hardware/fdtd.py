"""FDTD validation bridge: run 2-D jobs in MIT Meep out of process (docs/validation/fdtd.md).

Meep is not on PyPI; Debian ships ``python3-meep`` for ``/usr/bin/python3`` (install with
``scripts/setup_fdtd.sh``). This module imports no Meep: it writes a :class:`FdtdJob` to
HDF5 (in Meep units, see :func:`to_meep_units`), runs ``hardware/fdtd_worker.py`` under the
Meep interpreter in a subprocess and reads the complex Ez fields at the monitor planes back.

The interpreter is, in order: the ``python`` argument, the environment variable
``ONNSIM_MEEP_PYTHON``, ``/usr/bin/python3``.

This module describes and runs jobs only; the comparisons of the validation study (grating
orders, beams, layers against onnsim's models) are part of that study
(:mod:`hardware.fdtd_analysis`).

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
