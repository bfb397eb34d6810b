"""Standalone MIT Meep worker for the FDTD validation bridge (docs/validation/fdtd.md).

Run by :func:`hardware.fdtd.run_job` under the interpreter that has Meep (Debian's
``python3-meep`` under ``/usr/bin/python3``)::

    /usr/bin/python3 fdtd_worker.py job.h5 out.h5

It is the only file of onnsim that imports ``meep``, and it imports nothing from onnsim (it
runs under another interpreter): only meep, numpy and h5py.

The job file is already in Meep units (written by ``hardware.fdtd.write_job`` after
``hardware.fdtd.to_meep_units``): lengths in units of a = 1 µm, frequency in c/a. Geometry
of the 2-D cell (Meep x = transverse x of onnsim, Meep y = propagation axis z of onnsim),
field Ez out of plane (TM; a scalar wave equation, like onnsim's model):

    y: [PML | gap | source line | (layer) | reference plane z=0 ... last monitor | gap | PML]

* ``mode = "source"``: a continuous line current Jz(x) on the source line, pre-compensated in
  k-space (J(kx) = -2 ky E(kx) / ω, evanescent part dropped) so that the forward field on the
  source line equals the given complex profile E(x); the reference plane z = 0 is the source
  line (the grid's own Green's function, so high transverse frequencies are right too).
* ``mode = "layer"``: a uniform line current (normal plane wave) in air, then a dielectric
  layer of index n: a base slab of thickness ``base`` followed by ridges of local height
  h(x); the reference plane z = 0 is the layer's exit face (base + max h).

Time stepping with complex fields and a smoothly switched-on CW source until steady state;
the complex amplitude E(x) (time factor exp(-iωt) removed) is sampled on each monitor line.
A Meep grid point carries each of the job's transverse samples (for an even number of
samples by a half-pixel shift of the whole problem), and the layer's pixel staircase is
sampled point-wise (no subpixel averaging), so no pixel edge lies on a grid point and a
mirror-symmetric profile stays mirror-symmetric (to < 1e-4 in |E|, periodic or PML sides).
"""

from __future__ import annotations

import sys

import h5py
import meep as mp
import numpy as np

COURANT = 0.5  # Meep's default; set explicitly on the Simulation


def _read(path):
    with h5py.File(path, "r") as f:
        job = {k: f.attrs[k] for k in f.attrs}
        for k in f:
            job[k] = f[k][()]
    for k, v in list(job.items()):
        if isinstance(v, bytes):
            job[k] = v.decode()
    return job


def _compensated_current(profile, dx, freq, courant=COURANT):
    """Line current whose forward field on the line is ``profile``: the Green's function of a
    line current on Meep's Yee grid (a current on one grid row, dx = dy, time step courant·dx).

    For a transverse wave number kx the grid's dispersion gives κ² = ω̃² − k̃x² with
    ω̃ = 2 sin(ω Δt/2)/Δt and k̃x = 2 sin(kx Δx/2)/Δx; the row-to-row phase ky Δ obeys
    cos(ky Δ) = 1 − κ²Δ²/2, and the field on the source row is E = −ω J Δ / (2 sin(ky Δ)),
    so J = −2 (sin(ky Δ)/Δ) E / ω (continuum limit: J = −2 ky E / ω). Evanescent parts dropped.
    (Measured: the grid formula and the continuum one differ little — a beam tilted at
    sin θ = 0.7, 10 points/λ, 1λ from the source: residual 0.4 % vs 0.8 %.)
    """
    n = profile.size
    m = 1
    while m < 4 * n:
        m *= 2
    spec = np.fft.fft(profile, m)
    kx = 2 * np.pi * np.fft.fftfreq(m, d=dx)
    omega = 2 * np.pi * freq  # c = 1 in Meep units
    dt = courant * dx
    w_t = 2 * np.sin(omega * dt / 2) / dt
    kx_t = 2 * np.sin(kx * dx / 2) / dx
    kappa2 = w_t ** 2 - kx_t ** 2
    cos_ky = 1 - kappa2 * dx ** 2 / 2
    prop = (kappa2 > 0) & (cos_ky > -1)
    sin_ky = np.sqrt(np.clip(1 - cos_ky ** 2, 0, None))
    jspec = np.where(prop, -2 * (sin_ky / dx) * spec / omega, 0)
    return np.fft.ifft(jspec)[:n]


def main(job_path, out_path):
    job = _read(job_path)
    freq = float(job["frequency"])
    res = float(job["resolution"])
    dx = float(job["dx"])
    nx = int(job["nx"])
    x = (np.arange(nx) - (nx - 1) / 2) * dx
    width = nx * dx
    pml = float(job["pml"])
    gap = float(job["gap"])
    periodic = job["transverse"] == "periodic"
    monitors = np.atleast_1d(np.asarray(job["monitors"], dtype=float))
    lam = 1.0 / freq

    if job["mode"] == "layer":
        heights = np.asarray(job["heights"], dtype=float)
        base = float(job["base"])
        layer = base + float(heights.max())
    else:
        layer = 0.0
    # y positions relative to the reference plane z = 0
    # source mode: the source line is the reference plane z = 0 (the compensated current makes
    # the field on it the requested profile); layer mode: the plane wave starts a gap before
    # the layer. (Until Nov 2026 the source sat a gap = 1λ before z = 0 in source mode too,
    # so every monitor was 1λ further than labelled: invisible for a Gaussian of waist 3λ,
    # a 45 % intensity error for a beam tilted at sin θ = 0.7.)
    y_src = -layer - gap if job["mode"] == "layer" else 0.0
    y_lo = y_src - gap - pml
    y_hi = float(monitors.max()) + gap + pml
    # whole grid rows from the reference plane to each end, an even number in all, so that
    # z = 0 (and every monitor or source at a multiple of the grid step) lies on a grid row
    y_lo = -np.ceil(round(-y_lo * res, 6)) / res
    y_hi = np.ceil(round(y_hi * res, 6)) / res
    if int(round((y_hi - y_lo) * res)) % 2:
        y_hi += 1 / res
    sy = y_hi - y_lo
    sx = width if periodic else width + 2 * pml
    y0 = (y_lo + y_hi) / 2  # reference plane sits at Meep y = -y0

    def Y(z):
        return z - y0

    # Meep's grid points lie at integer multiples of dx from the cell centre. The job's samples
    # x_k = (k - (nx-1)/2) dx are such points when nx is odd, and half a pixel off when nx is
    # even: then everything (profile, heights, monitor samples) is shifted by SHIFT = dx/2 so
    # that a Meep grid point carries each job sample: no interpolation and no pixel edge on a
    # grid point. (A shift for odd nx too put every grid point on a pixel edge: a symmetric
    # ridge came out with a mirror asymmetry of 0.22 in |E|.)
    SHIFT = dx / 2 if nx % 2 == 0 else 0.0

    def interp_x(values, at):
        at = np.asarray(at) + SHIFT
        if periodic:
            return np.interp(at, x, values, period=width)
        return np.interp(at, x, values, left=0.0, right=0.0)

    def interp_at(at, xs, values):
        kw = {"period": width} if periodic else {}
        return np.interp(at, xs, values.real, **kw) + 1j * np.interp(at, xs, values.imag, **kw)

    if job["mode"] == "source":
        prof = np.asarray(job["profile_re"]) + 1j * np.asarray(job["profile_im"])
        cur = _compensated_current(prof, dx, freq) if bool(job["compensate"]) else prof
        cur_re, cur_im = cur.real.copy(), cur.imag.copy()

        def amp(p):
            return complex(interp_x(cur_re, p.x), interp_x(cur_im, p.x))
        src_size = width
    else:
        def amp(p):
            return complex(-2.0, 0.0)  # plane wave of unit amplitude at the source line
        # Periodic: across the cell. PML sides: across the window only (a plane wave cut to the
        # window, like onnsim's field on its grid); a source running on through the side PMLs
        # left a mirror asymmetry of 0.01-0.02 in |E| (peak 1.7) for a symmetric ridge, which
        # vanishes (< 1e-4) when the source stops at the PML.
        src_size = width
    src_x = -SHIFT if job["mode"] == "layer" else 0.0  # layer: centred on the shifted problem

    material_function = None
    if job["mode"] == "layer":
        # Pixel staircase sampled point-wise on Meep's grid (no subpixel averaging). One Block
        # per pixel with edges on the Ez grid points left averaged "seams" (eps 1.2-1.6) inside
        # the ridges at rounding-dependent places, breaking the ±order symmetry of a symmetric
        # grating. Here a grid point carries each pixel sample (see SHIFT): no edge on a grid point.
        medium, air = mp.Medium(index=float(job["index"])), mp.Medium(index=1.0)
        y_bottom = Y(-layer)
        tol = 0.25 / res  # grid rows sit on the layer's y edges: count [bottom, top) rows

        def material_function(p):
            k = int(np.floor((p.x + SHIFT - x[0]) / dx + 0.5))
            if periodic:
                k %= nx
            h = heights[k] if 0 <= k < nx else 0.0
            t = p.y - y_bottom
            return medium if -tol <= t < base + h - tol else air
    boundary = [mp.PML(pml, direction=mp.Y)]
    if not periodic:
        boundary.append(mp.PML(pml, direction=mp.X))
    turn_on = float(job["turn_on_periods"]) * lam
    sim = mp.Simulation(
        Courant=COURANT, cell_size=mp.Vector3(sx, sy), resolution=res, boundary_layers=boundary,
        material_function=material_function, eps_averaging=False,
        k_point=mp.Vector3() if periodic else False, force_complex_fields=True,
        sources=[mp.Source(mp.ContinuousSource(frequency=freq, width=turn_on), component=mp.Ez,
                           center=mp.Vector3(src_x, Y(y_src)), size=mp.Vector3(src_size, 0), amp_func=amp)],
    )
    # steady state: switch-on plus a few transits of the cell
    sim.run(until=float(job["run_time"]))
    t = sim.meep_time()
    phase = np.exp(2j * np.pi * freq * t)
    fields = np.zeros((monitors.size, nx), dtype=complex)
    for i, z in enumerate(monitors):
        vol = mp.Volume(center=mp.Vector3(0, Y(z)), size=mp.Vector3(width, 0))
        xm = np.asarray(sim.get_array_metadata(vol=vol)[0], dtype=float)
        e = np.asarray(sim.get_array(mp.Ez, vol=vol)).reshape(-1) * phase
        fields[i] = interp_at(x - SHIFT, xm, e)
    with h5py.File(out_path, "w") as f:
        f.create_dataset("ez_re", data=fields.real)
        f.create_dataset("ez_im", data=fields.imag)
        f.create_dataset("x", data=x)
        f.create_dataset("monitors", data=monitors)
        f.attrs["length_unit_m"] = 1e-6
        f.attrs["frequency_unit"] = "c/a, a = 1 um"
        f.attrs["field"] = "complex Ez amplitude, time factor exp(-i omega t) removed"
        f.attrs["meep_version"] = str(mp.__version__)
        f.attrs["meep_time"] = t
        f.attrs["resolution"] = res


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: fdtd_worker.py JOB.h5 OUT.h5")
    main(sys.argv[1], sys.argv[2])
