"""The FDTD validation page (``python -m experiments report fdtd RUN_DIR --out
docs/validation/fdtd.md``) and the run's own report.md, from a run's ``results.json``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from training.records import atomic_text, markdown_table
from ..reports import read_record

__all__ = ["Options", "render_markdown", "write_report"]


def _pct(v, digits=2) -> str:
    return "—" if v is None else f"{100 * v:.{digits}f}"


#: the columns of a field comparison (one sampling and distance a row), :func:`_field_cells`
_FIELD_COLUMNS = ["points per λ", "z/λ", "Pearson r of \\|E\\|²", "relative L2 of \\|E\\|²"]


def _field_cells(c: dict, i: int) -> list[str]:
    """The :data:`_FIELD_COLUMNS` cells of comparison ``c`` at its ``i``-th distance."""
    return [f"{c['resolution']:g}", f"{c['z_wl'][i]:g}", f"{c['correlation'][i]:.4f}", f"{_pct(c['l2'][i], 1)} %"]


def _g(v) -> str:
    return "—" if v is None else f"{v:g}"


_BRIDGE = """## The bridge

- `scripts/setup_fdtd.sh` — optional, idempotent: installs Debian `python3-meep`,
  `python3-h5py`, `python3-matplotlib` with apt-get (needs root; otherwise says what to do).
  Not part of `scripts/setup.sh` or `.ci/run`.
- `hardware/fdtd.py` — the bridge (imports no Meep). `FdtdJob` (2-D TM/Ez: wavelength,
  resolution in points per wavelength, either a complex 1-D input profile — "source" mode —
  or a dielectric height profile with index and base slab lit by a normal plane wave —
  "layer" mode —, monitor distances, PML thickness, transverse "pml" or "periodic"),
  `to_meep_units` (the one SI → Meep conversion: length unit a = 1 µm, frequency a/λ,
  resolution = points per λ / (λ/µm)), `write_job` (HDF5), `run_job` (runs the worker in a
  subprocess with a timeout, reads complex Ez back, SI positions), `meep_available`.
  Interpreter: argument `python`, else `$ONNSIM_MEEP_PYTHON`, else `/usr/bin/python3`.
  Missing Meep → `FdtdError` naming `scripts/setup_fdtd.sh`; worker failure → `FdtdError`
  with the worker's stderr tail.
- `hardware/fdtd_worker.py` — the only file importing `meep`; imports no onnsim package.
  Source mode: a line current on the reference plane z = 0, pre-compensated in k-space with
  the Yee grid's own line-source Green's function (J = −2 (sin(k_y Δ)/Δ) E / ω, k_y from the
  grid's dispersion relation; continuum limit −2 k_y E/ω), so the field on the source line is
  the requested profile. Layer mode: a plane wave a gap before the layer, the pixel staircase
  sampled point-wise on Meep's grid (a grid point carries each job sample — for an even
  sample count by a half-pixel shift of the whole problem; no subpixel averaging, so no pixel
  edge falls on a grid point and a mirror-symmetric profile stays symmetric to < 1e-4). Complex fields, smoothly switched-on CW source,
  run to steady state (switch-on + two transits), Ez sampled on the monitor lines with the
  exp(−iωt) factor removed. The reference plane and the monitors lie on grid rows.
- `hardware/fdtd_analysis.py` — the comparisons: `beam_comparison` (Gaussian, slit),
  `grating_comparison` / `grating_validity_sweep`, `layer_comparison` (any 1-D relief),
  `asm_1d` (onnsim's ASM on a 1-D cut), `intensity_error`, `intensity_correlation`, the
  validity threshold.
- `experiments/fdtd/` — the study: `validation.py` (the `fdtd-validation`
  experiment), `plots.py` (its figures) and `report.py` (this page:
  `python -m experiments report fdtd RUN_DIR --out docs/validation/fdtd.md`).

Model compared: 2-D, TM (Ez out of plane) — a scalar wave equation, like onnsim's. Meep
x = onnsim's transverse x, Meep y = propagation axis z. Units: Meep length unit a = 1 µm,
frequency 1/λ in c/a, Meep resolution = (points per λ)/(λ/µm); fields dimensionless (unit
source or plane-wave amplitude). Intensities are compared normalised to unit sum, so
Fresnel reflection at the layer and the source normalisation cancel."""

_FIXES = """## Fixes made while validating

- Grating orders were asymmetric: one Meep `Block` per pixel with edges on Meep's Ez grid
  left subpixel-averaged "seams" (ε ≈ 1.2–1.6) inside the ridges; the symmetric binary grating
  gave ±1 = 40.0 / 36.5 %. Fixed by the half-pixel shift and point-wise sampling (±1 equal to
  < 0.01 points at every period).
- Source mode put the source line one gap (1λ) *before* z = 0, so every monitor was 1λ
  further from the source than labelled. A Gaussian of waist 3λ hides this (the old table
  showed 4.2 % / 2.2 % at 10 / 20 points/λ, now 2.6 % / 0.6 %); a beam tilted at
  sin θ = 0.7 was 45 % off. The source line is now the reference plane.
- Layer mode with an odd number of samples and layer mode with PML sides were not
  mirror-symmetric (see the next section).
- `optics.asm_propagate` on a 1-row grid with `pad_factor=2` padded the row too; the padded y
  axis carried an evanescent Nyquist component and the field came out exactly halved
  (z ≫ dx; normalised intensities were unaffected). Fixed in `Grid.padded_shape`: a
  one-sample axis is not padded."""

_PML_NOTE = """## Layer mode with absorbing (PML) sides

Layers are validated here with periodic sides (the gratings; the trained layer is one period
of a periodic array, so Meep and onnsim solve the same problem). With `transverse="pml"` the
layer mode used to show a mirror asymmetry for a symmetric ridge (window 10λ, 10 points/λ:
0.007–0.022 in |E| of peak 1.67; 0.32 with an odd number of samples). Two causes, both fixed
(test `test_layer_mode_keeps_a_symmetric_ridge_symmetric`, periodic and PML, even and odd
sample counts: now < 1e-4):

- Meep's grid points lie at integer multiples of dx from the cell centre. The job's samples
  are such points for an odd sample count and half a pixel off for an even one; the worker
  shifted the problem by half a pixel in both cases, which for odd counts put every grid
  point on a pixel edge (asymmetry 0.22). The shift is now applied for even counts only.
- The plane-wave source ran on through the side PMLs to the cell walls; stopping it at the
  PML (a plane wave cut to the window) removes the rest (0.011 → 3e-6). The half-pixel
  offset of the PMLs relative to the problem was not the cause.

So PML-sided layers now see a plane wave cut to the window, like onnsim's field on its grid
(zero outside); its edges diffract over the 1λ gap before the layer, which onnsim's thin
element does not model. The trained layer's finite-window table above compares this mode with
onnsim's zero-padded ASM."""


def render_markdown(res: dict, config: dict, *, figures_prefix: str | None = "", command: str | None = None) -> str:
    """The validation page from a run's ``results.json`` (``res``) and configuration.

    ``figures_prefix``: where the run's ``figures/`` are, relative to the page (``""`` for the
    run's own report.md); None leaves the figures out (named only)."""
    lam_um = res["wavelength_m"] * 1e6
    tol = res["tolerance"]
    lines = ["# FDTD validation of onnsim's wave optics with MIT Meep", ""]
    if command is not None:
        lines += [f"*Generated by `{command}` from a run of `python -m experiments run fdtd-validation` — do "
                  "not edit by hand; rerun instead.*", ""]
    v = res.get("versions", {})
    lines += [f"Meep runs out of process (the bridge below). λ = {lam_um:g} µm, layers of index "
              f"n = {res['index']:g}, 2-D TM/Ez. Python {v.get('python', '?')}, torch {v.get('torch', '?')}, "
              f"numpy {v.get('numpy', '?')}; Meep: Debian python3-meep 1.25 under /usr/bin/python3. "
              f"Meep time {res['meep_wall_s']:.0f} s of a {res['wall_s']:.0f} s run on the 2-core CPU machine.", ""]

    # summary
    beams = res["beams"]
    top = res["layer"]["comparisons"][-1]
    lines += ["## Summary", ""]
    for kind in ("gaussian", "slit"):
        rows = [r for r in beams if r["kind"] == kind]
        errs = " / ".join(f"{_pct(r['err_ideal'])} %" for r in rows)
        ppws = " / ".join(f"{r['resolution']:g}" for r in rows)
        lines.append(f"- {kind.capitalize()}: relative L2 error of |E|², onnsim ASM vs Meep, {errs} at {ppws} "
                     f"points/λ — shrinks with resolution (FDTD numerical dispersion; the ASM is exact for a "
                     f"scalar 2-D field).")
    for kind, val in res["validity"].items():
        name = "binary π grating (feature = half period)" if kind == "binary" else \
            "4-level blazed grating (feature = step = quarter period)"
        if val["n_wl"] is None:
            txt = f"fails already at the longest period sampled (feature {_g(val['first_fail_wl'])}λ)"
        elif val["first_fail_wl"] is None:
            txt = f"holds down to the shortest period sampled (feature {_g(val['n_wl'])}λ)"
        else:
            txt = (f"holds for feature ≥ N·λ with N = {_g(val['n_wl'])} (first failure at feature "
                   f"{_g(val['first_fail_wl'])}λ, so {_g(val['first_fail_wl'])} < N_true ≤ {_g(val['n_wl'])})")
        lines.append(f"- Thin element + ASM, {name}: relative error of η₊₁ < {100 * tol:g} % {txt}, at "
                     f"{res['grating_resolution']:g} points/λ.")
    lay = res["layer"]
    lines.append(f"- Trained layer ({lay['pixels']} pixels of {lay['pixel_wl']:g}λ, relief up to "
                 f"{lay['max_height_m'] * 1e6:.2f} µm, focusing into {lay['spots']} spots at {lay['z_wl']:g}λ): "
                 f"Meep vs onnsim output intensity Pearson r = {top['correlation'][-1]:.4f}, relative L2 "
                 f"{_pct(top['l2'][-1], 1)} % at {top['resolution']:g} points/λ (one period of a periodic array)"
                 + (f"; as a finite window with absorbing sides vs onnsim's zero-padded ASM r = "
                    f"{lay['window_comparisons'][-1]['correlation'][-1]:.4f}, L2 "
                    f"{_pct(lay['window_comparisons'][-1]['l2'][-1], 1)} % at "
                    f"{lay['window_comparisons'][-1]['resolution']:g} points/λ." if lay.get("window_comparisons")
                    else "."))
    n = res["index"]
    worst = {k: max((r for r in res["gratings"] if r["kind"] == k), key=lambda r: r["main_rel_err"])
             for k in res["validity"]}
    worst_txt = "; ".join(f"{k} {_pct(r['main_rel_err'], 1)} % at period {r['period_wl']:g}λ (Meep η₊₁ "
                          f"{_pct(r['meep_main'], 1)} % vs {_pct(r['thin_main'], 1)} %, η₀ {_pct(r['meep_zero'], 1)} %)"
                          for k, r in worst.items())
    lines += ["", ("Where the scalar model is trustworthy: free-space propagation at any angle the grid carries "
                   "(the angular spectrum is exact for a scalar 2-D field; the differences above are Meep's "
                   "discretisation and shrink with resolution); thin elements (phase = 2π(n−1)h/λ) when the "
                   "smallest feature is at least N·λ with N as measured above — for these reliefs: n = "
                   f"{n:g}, binary step {1 / (2 * (n - 1)):g}λ tall, blazed steps up to {3 / (4 * (n - 1)):g}λ. "
                   f"Below that the order efficiencies are off by more than {100 * tol:g} %; largest relative "
                   f"error of η₊₁ in the sweep: {worst_txt}."), ""]

    # beams
    lines += ["## Free space: Gaussian beam and slit", ""]
    g = next(r for r in beams if r["kind"] == "gaussian")
    s = next(r for r in beams if r["kind"] == "slit")
    lines += [f"Gaussian: waist {g['size'] / res['wavelength_m']:g}λ, propagated {g['z'] / res['wavelength_m']:g}λ, "
              f"window {g['width'] / res['wavelength_m']:g}λ. Slit: hard-edged, width "
              f"{s['size'] / res['wavelength_m']:g}λ, propagated {s['z'] / res['wavelength_m']:g}λ, window "
              f"{s['width'] / res['wavelength_m']:g}λ. PML 2λ on all sides. Metric: relative L2 error of the "
              "|E|² profile, each normalised to unit sum. Columns: the source reproduces the profile (ASM of "
              "the ideal input vs Meep 1λ after the source); end to end (ASM of the ideal input vs Meep at z); "
              "propagation alone (ASM of Meep's field 1λ after the source, over z − 1λ, vs Meep at z).", "",
              markdown_table(["beam", "points per λ", "source, 1λ", "end to end, at z", "propagation alone",
                              "Meep wall time"],
                             [[r["kind"], f"{r['resolution']:g}", f"{_pct(r['err_near'])} %", f"{_pct(r['err_ideal'])} %",
                               f"{_pct(r['err_meep_input'])} %", f"{r['wall_s']:.1f} s"] for r in beams]), ""]
    for kind in ("gaussian", "slit"):
        rows = [r for r in beams if r["kind"] == kind]
        if len(rows) >= 2:
            ratios = ", ".join(f"{rows[i]['err_ideal'] / rows[i + 1]['err_ideal']:.1f}×"
                               for i in range(len(rows) - 1))
            orders = [math.log(rows[i]["err_ideal"] / rows[i + 1]["err_ideal"])
                      / math.log(rows[i + 1]["resolution"] / rows[i]["resolution"]) for i in range(len(rows) - 1)]
            lines.append(f"- Convergence, {kind}: the error falls by {ratios} from one resolution to the next "
                         f"(observed order {', '.join(f'{o:.1f}' for o in orders)}; Yee FDTD is second order).")
    lines += [""]

    # gratings
    lines += ["## Gratings: order efficiencies, Meep vs thin element + ASM", "",
              "Normal plane wave, periodic sides, one period per cell, orders from the Fourier series of Ez "
              "2λ behind the layer, power ∝ |c_m|² cos θ_m, as fractions of the propagating power. Thin "
              "element: exp(i·2π(n−1)h/λ) on a unit plane wave, `asm_propagate` over the same 2λ on one period "
              "with `pad_factor=1` and no band limit (circular convolution = the periodic grating). Binary: π "
              "step (h = λ/(2(n−1))), 50 % duty; blazed: 4 levels 0, π/2, π, 3π/2, blazed into +1. "
              f"{res['grating_resolution']:g} points/λ. η in % of the propagating power; |Δ|max = largest "
              "absolute difference over all orders (percentage points); rel = |η₊₁(Meep) − η₊₁(thin)| / "
              "η₊₁(thin).", "",
              markdown_table(["grating", "period/λ", "feature/λ", "η₊₁ Meep", "η₊₁ thin", "η₋₁ Meep", "η₀ Meep",
                              "\\|Δ\\|max", "rel (+1)"],
                             [[r["kind"], f"{r['period_wl']:g}", f"{r['feature_wl']:g}", _pct(r["meep_main"]),
                               _pct(r["thin_main"]), _pct(r["meep"].get("-1", 0.0)), _pct(r["meep_zero"]),
                               _pct(r["max_abs_err"]), f"{_pct(r['main_rel_err'], 1)} %"]
                              for r in sorted(res["gratings"], key=lambda r: (r["kind"], -r["period_wl"]))])]
    conv = res.get("grating_convergence", [])
    if conv:
        lines += ["", f"Resolution check at period {conv[0]['period_wl']:g}λ (η₊₁ in %):", "",
                  markdown_table(["grating", *(f"{r['resolution']:g} pts/λ" for r in conv if r["kind"] == conv[0]["kind"])],
                                 [[kind, *(_pct(r["meep_main"]) for r in conv if r["kind"] == kind)]
                                  for kind in dict.fromkeys(r["kind"] for r in conv)])]
        lines += ["", "The resolution changes η₊₁ far less than the thin-element differences in the table, which "
                  "are therefore the scalar thin-element model's error, not FDTD discretisation."]
    lines += [""]

    # trained layer
    lines += ["## A trained diffractive layer re-simulated in Meep", "",
              f"One period ({lay['pixels']} pixels × {lay['pixel_wl']:g}λ = {lay['pixels'] * lay['pixel_wl']:g}λ) of a "
              f"phase-only layer trained with onnsim (thin element + periodic ASM at {lay['train_resolution']:g} "
              f"points/λ, {lay['train_steps']} Adam steps) to focus a normal plane wave into {lay['spots']} spots of "
              f"width {lay['spot_width_wl']:g}λ at z = {lay['z_wl']:g}λ (trained: {_pct(lay['train_efficiency'], 1)} % "
              f"of the power in the spots, non-uniformity {lay['train_nonuniformity']:.3f}). Phase → relief with "
              f"`hardware.export.phase_to_height` (n = {res['index']:g}; h = λ·wrap(φ)/(2π(n−1)), up to "
              f"{lay['max_height_m'] * 1e6:.2f} µm), re-simulated in Meep (layer mode, periodic sides) and "
              "compared with onnsim's thin element + ASM of the same relief at the same sampling.", "",
              markdown_table([*_FIELD_COLUMNS, "spot powers Meep (%)", "spot powers onnsim (%)"],
                             [[*_field_cells(c, i), *(", ".join(f"{100 * v:.1f}" for v in c[k]) if i == len(c["z_wl"]) - 1
                                                      else "" for k in ("spots_meep", "spots_thin"))]
                              for c in lay["comparisons"] for i in range(len(c["z_wl"]))])]
    near = lay["comparisons"][-1]
    lines += ["", "Spot powers are fractions of the transmitted power in each spot window at the focal plane. "
              f"Agreement is poorest close to the layer (r = {near['correlation'][0]:.2f} at "
              f"{near['z_wl'][0]:g}λ) and best towards the focal plane (r = {near['correlation'][-1]:.3f} at "
              f"{near['z_wl'][-1]:g}λ): with {lay['pixel_wl']:g}λ pixels up to "
              f"{lay['max_height_m'] / res['wavelength_m']:.1f}λ tall the layer is far from thin (compare the "
              "grating table at feature 2λ)."]
    win = lay.get("window_comparisons", [])
    if win:
        lines += ["", ("The same relief as a finite window instead (absorbing sides, PML 2λ; Meep lights the "
                       "window only) against onnsim's usual aperture model: thin element on the window, zero "
                       "outside, `asm_propagate` with zero padding (linear convolution, `hardware.fdtd_analysis.asm_1d`):"),
                  "", markdown_table(_FIELD_COLUMNS, [_field_cells(c, i) for c in win for i in range(len(c["z_wl"]))])]
    lines += [""]

    lines += [_BRIDGE, "", _FIXES, "", _PML_NOTE, ""]
    lines += ["## Tests and CI", "",
              "- `tests/hardware/test_fdtd.py`: the bridge's pure-Python parts (job validation, unit "
              "conversion, HDF5 job file, missing-Meep error) in the default suite; the layer-mode symmetry "
              "check in Meep marked `fdtd`. `tests/hardware/test_fdtd_analysis.py`: the comparisons — "
              "thin-element orders against 4/π² and sinc²(1/4), `asm_1d` against the Gaussian beam — in the "
              "default suite; Meep runs (Gaussian and slit convergence, grating orders, the trained layer at "
              "coarse resolution) marked `fdtd`. Opt-in: `.venv/bin/python -m pytest -m fdtd`, skipped with "
              "the reason when Meep is absent.",
              "- `tests/experiments/test_fdtd_validation.py`: the page generator on a synthetic record and the "
              "experiment's registration/configuration (default suite, no Meep). The smoke run of every "
              "registered experiment (`tests/experiments/test_cli_and_records.py`) runs `fdtd-validation` in "
              "about 15 s when Meep is present and skips it with the reason when not.",
              "- CI (`.ci/run`) does not install Meep, and the FDTD tests stay opt-in. Meep is not on PyPI; the "
              "Debian package is small (python3-meep, libmeep, libctl, libharminv, HDF5, h5py: ≈ 14 MB "
              "installed) but needs root, apt-get and network access at CI time, which `.ci/run` (a plain "
              "`bash scripts/test.sh` on a clean checkout) does not assume; and the Meep tests add ≈ 2 min of "
              "CPU. Rerun this experiment and regenerate this page after any change to `optics` propagation, "
              "`hardware.fdtd`, `hardware/fdtd_analysis.py` or the worker; `pytest -m fdtd` is the quick "
              "check (≈ 2 min).", ""]
    figs = res.get("figures", {})
    if figs:
        lines += ["## Figures", ""]
        captions = {"profiles": "Meep vs onnsim ASM at z (Gaussian, slit)",
                    "convergence": "error vs resolution",
                    "grating_validity": "thin-element error and η₊₁ vs period",
                    "trained_layer": "trained layer: relief and output intensity"}
        for key, path in figs.items():
            if figures_prefix is None:
                lines.append(f"- {captions.get(key, key)}: `{path}` in the run directory")
            else:
                lines.append(f"![{captions.get(key, key)}]({figures_prefix}{path})")
        lines += [""]
    cfg_txt = ", ".join(f"{k}={v}" for k, v in config.items())
    lines += ["## Configuration", "", f"`{cfg_txt}`", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class Options:
    redraw_figures: bool = False  # first redraw the run's figures from its results (no Meep)


def write_report(runs, out, options: Options | None = None, *, command: str = "",
                 figures_dir: str | None = "fdtd_figures") -> Path:
    """Write the validation page (docs/validation/fdtd.md) from the run directory of one
    ``fdtd-validation`` run (its ``results.json`` and ``config.json``).

    The run's figures are copied next to the page into ``figures_dir`` and linked; when
    ``figures_dir`` is None or a figure is missing, they are only named."""
    import shutil

    runs = [Path(r) for r in ([runs] if isinstance(runs, (str, Path)) else runs)]
    if len(runs) != 1:
        raise ValueError(f"the fdtd report reads one fdtd-validation run, got {len(runs)}")
    run_dir, out_path = runs[0], Path(out)
    res_path = run_dir / "results.json"
    if not res_path.exists():
        raise FileNotFoundError(f"{run_dir} is not a finished fdtd-validation run (no results.json)")
    cfg = read_record(run_dir / "config.json")
    if cfg.get("experiment") != "fdtd-validation":
        raise ValueError(f"{run_dir} is a run of {cfg.get('experiment')!r}, not 'fdtd-validation'")
    if options is not None and options.redraw_figures:
        from .plots import redraw_figures

        redraw_figures(run_dir)
    res = read_record(res_path)
    figs = res.get("figures", {})
    prefix = None
    if figures_dir is not None and figs and all((run_dir / p).is_file() for p in figs.values()):
        dest = out_path.parent / figures_dir
        dest.mkdir(parents=True, exist_ok=True)
        for key, p in figs.items():
            shutil.copyfile(run_dir / p, dest / Path(p).name)
        res = dict(res, figures={k: f"{figures_dir}/{Path(p).name}" for k, p in figs.items()})
        prefix = ""
    command = command or f"python -m experiments report fdtd {run_dir} --out {out_path}"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_text(out_path, render_markdown(res, cfg["config"], figures_prefix=prefix, command=command))
    return out_path
