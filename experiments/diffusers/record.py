"""The diffuser-imaging run's own record: its figures and report.md (the reproduction page
across runs is :mod:`.report`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from training.imaging import PCC_REGIONS

from training import figures
from training.records import markdown_table
from . import evaluation as ev
from .imaging import INDEPENDENT, PUBLISHED, object_region, region_key

__all__ = ["cell", "region_table", "run_figures", "run_report"]


@torch.no_grad()
def run_figures(cfg, out_dir: Path, model, known, ev_res, history) -> list[tuple[str, str]]:
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    obj = ev_res["objects"][:4]
    new = ev_res["new"]
    dev = model.device

    def out(d):
        return model.image(obj.to(dev), None if d is None else d.to(dev))[:, 0].cpu()

    rows = {"known diffuser 1": out(known[:1]), "known diffuser 2": out(known[1:2] if len(known) > 1 else known[:1]),
            "new diffuser 1": out(new[:1]), "new diffuser 2": out(new[1:2] if len(new) > 1 else new[:1]),
            "no diffuser": out(None), "free space (new 1)": ev.free_space_output(cfg, obj, new[:1])[:, 0].cpu(),
            "lens (new 1)": ev.lens_output(cfg, obj, new[:1])[:, 0].cpu()}
    s = ev_res["summary"]
    figs = [("example objects and outputs (object region)",
             ev.examples_figure(cfg, obj, rows, fig_dir / "examples.png",
                                title="diffuser-imaging, numerical simulation: test objects").name),
            ("phase masks", figures.phase_masks(model.phase.detach().cpu(), cfg.pitch_m, fig_dir / "phase_masks.png",
                                                title="trained phase layers").name),
            ("learning curve", ev.learning_curve_figure(
                history, fig_dir / "learning_curve.png",
                title="diffuser-imaging, numerical simulation: training and validation").name),
            ("mean PCC", ev.pcc_bars_figure(
                {label: {reg: s.get(region_key(key, reg)) for reg in PCC_REGIONS}
                 for label, key in (("known", "pcc_known"), ("new", "pcc_new"), ("no diffuser", "pcc_none"),
                                    ("free space", "pcc_free_space_new"), ("lens", "pcc_lens_new"),
                                    ("gratings", "grating_pcc_new"))},
                fig_dir / "pcc_bars.png", title="mean PCC by region (baselines through the new diffusers)",
                published={"known": PUBLISHED["known"], "new": PUBLISHED["new"], "gratings": PUBLISHED["gratings"]}).name),
            ("gratings", ev.gratings_figure(cfg, ev_res["gratings"], ev_res["grating_out"], ev_res["grating_fits"],
                                            ev_res["periods"], fig_dir / "gratings.png",
                                            title="three-bar gratings through a new diffuser").name)]
    return figs


def cell(value, fmt: str = ".4f") -> str:
    """A table cell: ``value`` formatted, or "–" where the record has none (records written
    before the three PCC regions, or a region where the PCC is undefined)."""
    return "–" if value is None else format(value, fmt)


def region_table(s: dict, cfg, *, published: str = "published (simulation)") -> str:
    """The markdown table of a summary's PCCs: a row per quantity, a column per region
    (support, square, canvas), then the published value (column title ``published``)."""
    rows = [(f"PCC, last epoch's {cfg.diffusers_per_epoch} known diffusers", "pcc_known", f"≈ {PUBLISHED['known']}"),
            (f"PCC, {cfg.n_new_diffusers} new diffusers", "pcc_new", f"≈ {PUBLISHED['new']}"),
            ("gap known − new", "pcc_gap_known_minus_new", f"≈ {PUBLISHED['gap']}"),
            ("PCC, no diffuser", "pcc_none", "–"),
            ("free space (no layers), new diffusers", "pcc_free_space_new",
             f"– (independent reproductions, support: ≈ {INDEPENDENT['free_space_new_support']:.2f})"),
            ("free space, no diffuser", "pcc_free_space_none", "–"),
            ("lens, new diffusers", "pcc_lens_new", "–"),
            ("lens, no diffuser", "pcc_lens_none", "–"),
            ("gratings, new diffusers (mean PCC)", "grating_pcc_new", f"≈ {PUBLISHED['gratings']}")]

    def row(label, key, pub):
        fmt = "+.4f" if "gap" in key else ".4f"
        return [label, *(cell(s.get(region_key(key, reg)), fmt) for reg in PCC_REGIONS), pub]

    return markdown_table(["quantity", *PCC_REGIONS, published], [row(*r) for r in rows])


def run_report(cfg, s: dict, figs, wall: float) -> str:
    ry, _ = object_region(cfg)
    region_mm = cfg.object_px * cfg.pitch_m * 1e3
    gratings = markdown_table(
        ["period (mm)", "fitted period (mm, mean ± std over diffusers)", "fit failures", "resolved fraction", "PCC"],
        [[f"{g['period_m'] * 1e3:.1f}", f"{g['fitted_period_mean_m'] * 1e3:.2f} ± {g['fitted_period_std_m'] * 1e3:.2f}",
          g["fit_failures"], f"{g['resolved_fraction']:.2f}", f"{g['pcc_new']:.3f}"] for g in s["gratings"]])
    lens = s["lens_geometry"]
    fig_md = "\n".join(f"![{c}](figures/{f})" for c, f in figs)
    return f"""# diffuser-imaging

All-optical imaging through random diffusers (Luo et al., eLight 2, 4 (2022)).
{cfg.layers} phase-only layers of {cfg.grid_px}×{cfg.grid_px} at {cfg.pitch_m * 1e3:.2f} mm, λ {cfg.wavelength_m * 1e3:.2f} mm;
object -> {cfg.object_to_diffuser_m * 1e3:.0f} mm -> diffuser -> {cfg.diffuser_to_layer_m * 1e3:.0f} mm -> layers
{cfg.layer_gap_m * 1e3:.0f} mm apart -> {cfg.layer_to_output_m * 1e3:.0f} mm -> output; ASM with {cfg.pad_factor:g}× padding.
Diffusers σ = {cfg.diffuser_sigma_lambda:g}λ{f" (training mix σ/λ = {cfg.diffuser_sigma_mix})" if cfg.diffuser_sigma_mix else ""},
Δn {cfg.delta_n}, heights N({cfg.height_mean_lambda:g}λ, ({cfg.height_std_lambda:g}λ)²); {cfg.diffusers_per_epoch} new diffusers per
epoch, {cfg.epochs} epochs, {cfg.n_train} training objects ({cfg.dataset}, 28 -> {cfg.object_px} px), batch {cfg.batch_size}.

**PCC regions** (the paper does not state its region, so all three are reported): *support* — the
pixels where the object is > 0 (as independent reproductions compute it); *square* — the central
{cfg.object_px}×{cfg.object_px} px square (rows/columns {ry.start}..{ry.stop - 1}, {region_mm:.1f} × {region_mm:.1f} mm) where the
object lies, the region of the training loss (a fixed region for every object, so the loss does not
reward matching the digit's shape only); *canvas* — the whole {cfg.grid_px}×{cfg.grid_px} output window. PCC between the
output intensity and the object grey value; mean over {cfg.n_test} test objects × every diffuser.

## Results

{region_table(s, cfg)}

Lens baseline: thin lens {cfg.diffuser_to_layer_m * 1e3:.0f} mm behind the diffuser (the plane of layer 1), f = {lens['f_m'] * 1e3:.1f} mm,
object distance u = {lens['u_m'] * 1e3:.1f} mm, image distance v = {lens['v_m'] * 1e3:.1f} mm (magnification {lens['magnification']:.2f}),
circular pupil of radius {lens['pupil_radius_m'] * 1e3:.1f} mm (the lens phase is alias-free inside it); the inverted image is
rotated by 180° before the PCC. Free space: no layers, diffuser -> output plane at the network's output distance.

### Gratings (three bars, period fit by three Gaussians on the y-averaged output, {cfg.n_new_diffusers} new diffusers)

{gratings}

"Resolved": fitted period within 10 % of the design and both fitted dips below 0.9 of the neighbouring peaks.

Training wall time {wall:.0f} s (2-core CPU unless stated).

## Figures

{fig_md}

## Configuration

```json
{json.dumps(dataclasses.asdict(cfg), indent=2)}
```

Files: `config.json`, `results.h5` (units as attributes), `model.pt` (phases and the known diffusers),
`checkpoint.pt`, `summary.json`.
"""
