"""Figures of the fdtd-validation run: profiles, convergence, grating validity, trained layer."""

from __future__ import annotations

from pathlib import Path

from hardware.fdtd_analysis import normalized_intensity
from ..reports import read_record

__all__ = ["draw_figures", "redraw_figures"]


def draw_figures(fig_dir: Path, res: dict, arrays: dict) -> dict:
    import matplotlib.ticker

    from training import figures  # sets the Agg backend; figures.save writes and closes

    import matplotlib.pyplot as plt

    out = {}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, kind in zip(axes, ("gaussian", "slit")):
        rows = [r for r in res["beams"] if r["kind"] == kind]
        for r in rows:
            a = arrays[f"beams/{kind}/{r['resolution']:g}"]
            ax.plot(a["x"] * 1e6, normalized_intensity(a["meep"]) * r["resolution"], lw=1,
                    label=f"Meep, {r['resolution']:g} pts/λ")
        a = arrays[f"beams/{kind}/{rows[-1]['resolution']:g}"]
        ax.plot(a["x"] * 1e6, normalized_intensity(a["asm"]) * rows[-1]["resolution"], "k--", lw=1.2,
                label="onnsim ASM")
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("|E|² (normalised per µm)")
        ax.set_title(f"{kind}: z = {rows[0]['z'] * 1e6:g} µm", fontsize=10)
        ax.legend(fontsize=7)
    figures.save(fig, fig_dir / "profiles.png")
    out["profiles"] = "figures/profiles.png"

    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, marker in (("gaussian", "o"), ("slit", "s")):
        rows = [r for r in res["beams"] if r["kind"] == kind]
        ppw = [r["resolution"] for r in rows]
        ax.loglog(ppw, [100 * r["err_ideal"] for r in rows], marker + "-", label=f"{kind}: ASM(ideal input)")
        ax.loglog(ppw, [100 * r["err_meep_input"] for r in rows], marker + ":",
                  label=f"{kind}: ASM(Meep field 1λ after source)")
    for kind, marker in (("binary", "^"), ("blazed4", "v")):
        rows = [r for r in res.get("grating_convergence", []) if r["kind"] == kind]
        if len(rows) >= 2:
            ref = rows[-1]
            ax.loglog([r["resolution"] for r in rows[:-1]],
                      [100 * max(abs(r["meep_main"] - ref["meep_main"]) / ref["meep_main"], 1e-6) for r in rows[:-1]],
                      marker + "--", label=f"{kind} grating: η₊₁ vs its value at {ref['resolution']:g} pts/λ")
    ticks = sorted({r["resolution"] for r in res["beams"]} | {r["resolution"] for r in res.get("grating_convergence", [])})
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("resolution (grid points per λ)")
    ax.set_ylabel("relative error (%)")
    ax.set_title("convergence with resolution", fontsize=10)
    ax.legend(fontsize=7)
    figures.save(fig, fig_dir / "convergence.png")
    out["convergence"] = "figures/convergence.png"

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for kind, marker in (("binary", "o"), ("blazed4", "s")):
        rows = sorted([r for r in res["gratings"] if r["kind"] == kind], key=lambda r: r["period_wl"])
        if not rows:
            continue
        p = [r["period_wl"] for r in rows]
        a1.semilogx(p, [100 * r["main_rel_err"] for r in rows], marker + "-", label=f"{kind}: rel. error of η₊₁")
        a1.semilogx(p, [100 * r["max_abs_err"] for r in rows], marker + ":", label=f"{kind}: max |Δη| (points)")
        a2.semilogx(p, [100 * r["meep"]["1"] for r in rows], marker + "-", label=f"{kind}: Meep")
        a2.semilogx(p, [100 * r["thin"]["1"] for r in rows], marker + "--", label=f"{kind}: thin element + ASM")
    periods = sorted({r["period_wl"] for r in res["gratings"]})
    for ax in (a1, a2):
        ax.set_xticks(periods)
        ax.set_xticklabels([f"{p:g}" for p in periods], fontsize=7)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    a1.axhline(100 * res["tolerance"], color="grey", lw=0.8)
    a1.set_xlabel("period / λ")
    a1.set_ylabel("error (%)")
    a1.set_title("thin-element model error vs period", fontsize=10)
    a2.set_xlabel("period / λ")
    a2.set_ylabel("η₊₁ (% of propagating power)")
    a2.set_title("+1 order efficiency", fontsize=10)
    for ax in (a1, a2):
        ax.legend(fontsize=7)
    figures.save(fig, fig_dir / "grating_validity.png")
    out["grating_validity"] = "figures/grating_validity.png"

    lay = res["layer"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 2]})
    top = lay["comparisons"][-1]
    a = arrays[f"layer/{top['resolution']:g}"]
    a1.step(a["x"] * 1e6, a["heights"] * 1e6, where="mid")
    a1.set_xlabel("x (µm)")
    a1.set_ylabel("relief height (µm)")
    a1.set_title(f"trained layer, n = {res['index']:g}", fontsize=10)
    a2.plot(a["x"] * 1e6, normalized_intensity(a["meep"][-1]), lw=1.2, label=f"Meep, {top['resolution']:g} pts/λ")
    a2.plot(a["x"] * 1e6, normalized_intensity(a["thin"][-1]), "k--", lw=1.2, label="onnsim thin element + ASM")
    for c in lay["spot_centres_wl"]:
        a2.axvspan((c - lay["spot_width_wl"] / 2) * res["wavelength_m"] * 1e6,
                   (c + lay["spot_width_wl"] / 2) * res["wavelength_m"] * 1e6, color="grey", alpha=0.15)
    a2.set_xlabel("x (µm)")
    a2.set_ylabel("|E|² (normalised)")
    a2.set_title(f"output at z = {top['z_wl'][-1]:g}λ: Pearson r = {top['correlation'][-1]:.4f}", fontsize=10)
    a2.legend(fontsize=7)
    figures.save(fig, fig_dir / "trained_layer.png")
    out["trained_layer"] = "figures/trained_layer.png"
    return out


def redraw_figures(run_dir) -> dict:
    """Redraw a finished run's ``figures/*.png`` from its ``results.json`` and ``results.h5``
    (after a change to the figure code; no Meep)."""
    import h5py

    run_dir = Path(run_dir)
    res = read_record(run_dir / "results.json")
    arrays: dict = {}
    with h5py.File(run_dir / "results.h5", "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and "/" in name:
                key, leaf = name.rsplit("/", 1)
                arrays.setdefault(key, {})[leaf] = obj[()]
        f.visititems(visit)
    return draw_figures(run_dir / "figures", res, arrays)
