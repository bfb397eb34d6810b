"""quickstart — the main job: one mesh network and one diffractive network, each trained by
direct deployment (``ideal``), PAT and DAT under joint systematic errors and tested on its
physical system; phase masks and a height-map export of the best diffractive design.

Scale ``cpu`` (the default of the Quickstart command) finishes in a few minutes on a 2-core
CPU: subsets of MNIST, a few epochs per arm, DAT with internal states (``dat-is``; the
paper's best variant, whose SEPNs learn fastest). It shows the published ordering (DAT ahead of PAT
ahead of direct deployment on the physical system) at small scale; dat-mpnn and dat-dpnn are
the full studies. The best diffractive design is exported for fabrication with a tolerance
report (:mod:`experiments.export`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training import records

from ..dat.dpnn import DatDpnnConfig, diffractive_arms, diffractive_figures
from ..dat.mpnn import REFERENCE_DAT, DatMpnnConfig, arms_for
from ..registry import register
from training.runtime import Runtime
from training.study import load_data, run_arms, write_study_record

__all__ = ["QuickstartConfig", "run"]


@dataclass(frozen=True)
class QuickstartConfig:
    dataset: str = "mnist"
    methods: str = "ideal,pat,dat-is"
    n_test: int = 2000  # test images evaluated (both networks), the first of the test split [count]
    mesh_modes: int = 64  # modes of every MZI mesh of the interference network; a square number [count]
    mesh_count: int = 3  # MZI meshes in series [count]
    mesh_bs_sigma: float = 0.06  # standard deviation of the hidden coupler splitting error e [dimensionless]
    mesh_ps_sigma: float = 0.06  # standard deviation of the hidden phase-shifter offsets [rad]
    mesh_n_train: int = 10000  # training images of the interference network [count]
    mesh_epochs: int = 3  # training epochs of the interference network [count]
    mesh_batch_size: int = 100  # images per step, interference network [count]
    mesh_learning_rate: float = 1e-2  # Adam learning rate of the mesh phases [rad per step]
    mesh_sepn_learning_rate: float = 1e-2  # Adam learning rate of the mesh SEPNs (DAT) [weight unit per step]
    diffractive_preset: str = "medium"
    """error level of the diffractive physical system: none, low, medium, high, or key=value pairs
    (docs/hardware.md)"""
    wavelength_m: float = 0.75e-3
    pitch_m: float = 0.4e-3
    grid_px: int = 48
    layers: int = 3
    gap_m: float = 0.02
    image_px: int = 24
    region_px: int = 3
    region_spacing_px: int = 8
    diffractive_n_train: int = 3000  # training images of the diffractive network [count]
    diffractive_epochs: int = 2  # training epochs of the diffractive network [count]
    diffractive_batch_size: int = 50  # images per step, diffractive network [count]
    diffractive_learning_rate: float = 0.05  # Adam learning rate of the diffractive phases [rad per step]
    diffractive_sepn_learning_rate: float = 3e-3
    """Adam learning rate of the diffractive SEPNs (DAT) [weight unit per step]"""
    export_levels: int = 8  # height levels of the exported fabrication design [count]
    tolerance_draws: int = 2  # Monte-Carlo fabrication-error draws of the tolerance report [count]
    tolerance_n_test: int = 300  # test images per draw of the tolerance report [count]
    seed: int = 0
    error_seed: int = 5


SCALES = {
    "smoke": dict(mesh_modes=16, mesh_count=2, mesh_n_train=200, mesh_epochs=1, mesh_batch_size=40,
                  grid_px=32, layers=2, image_px=16, region_spacing_px=6, diffractive_n_train=120,
                  diffractive_epochs=1, diffractive_batch_size=30, n_test=100, tolerance_draws=1, tolerance_n_test=40),
    "cpu": dict(),
    "paper": dict(mesh_n_train=60000, mesh_epochs=20, diffractive_n_train=60000, diffractive_epochs=10, n_test=10000),
}


def _mesh_cfg(cfg: QuickstartConfig) -> DatMpnnConfig:
    return DatMpnnConfig(dataset=cfg.dataset, bs_sigma=cfg.mesh_bs_sigma, ps_sigma=cfg.mesh_ps_sigma,
                         methods=cfg.methods, modes=cfg.mesh_modes, meshes=cfg.mesh_count, n_train=cfg.mesh_n_train,
                         n_test=cfg.n_test, epochs=cfg.mesh_epochs, batch_size=cfg.mesh_batch_size,
                         learning_rate=cfg.mesh_learning_rate, sepn_learning_rate=cfg.mesh_sepn_learning_rate,
                         sepn_features="4,8,16", lr_step_epochs=1, dat_warmup_epochs=0, seed=cfg.seed,
                         error_seed=cfg.error_seed, **REFERENCE_DAT)


def _diffractive_cfg(cfg: QuickstartConfig) -> DatDpnnConfig:
    return DatDpnnConfig(dataset=cfg.dataset, preset=cfg.diffractive_preset, methods=cfg.methods,
                         wavelength_m=cfg.wavelength_m, pitch_m=cfg.pitch_m, grid_px=cfg.grid_px, active_px=cfg.grid_px,
                         layers=cfg.layers, gap_m=cfg.gap_m, image_px=cfg.image_px, region_px=cfg.region_px,
                         region_spacing_px=cfg.region_spacing_px, n_train=cfg.diffractive_n_train, n_test=cfg.n_test,
                         epochs=cfg.diffractive_epochs, batch_size=cfg.diffractive_batch_size,
                         learning_rate=cfg.diffractive_learning_rate,
                         sepn_learning_rate=cfg.diffractive_sepn_learning_rate, sepn_features="4,6,8",
                         lr_step_epochs=max(1, cfg.diffractive_epochs), seed=cfg.seed, error_seed=cfg.error_seed)


@register("quickstart", "Main job: mesh and diffractive networks under joint errors, ideal vs PAT vs DAT",
          QuickstartConfig, runtime={"smoke": "30 s", "cpu": "3 min", "paper": "hours (GPU)"}, scales=SCALES)
def run(cfg: QuickstartConfig, out_dir: Path, *, resume: bool = False, runtime: Runtime | None = None) -> dict:
    runtime = runtime or Runtime()
    records.write_config(out_dir / "config.json", "quickstart", cfg, cfg.seed)
    mcfg, dcfg = _mesh_cfg(cfg), _diffractive_cfg(cfg)
    results = run_arms(out_dir, arms_for(mcfg, f"bs={cfg.mesh_bs_sigma},ps={cfg.mesh_ps_sigma}"),
                       load_data(cfg.dataset, cfg.mesh_n_train, cfg.n_test, cfg.seed), resume=resume, runtime=runtime)
    ddata = load_data(cfg.dataset, cfg.diffractive_n_train, cfg.n_test, cfg.seed)
    results.update(run_arms(out_dir, diffractive_arms(dcfg, cfg.diffractive_preset), ddata, resume=resume,
                            runtime=runtime))
    if not runtime.is_main:
        return {}
    diff = {k: v for k, v in results.items() if v["family"] == "diffractive"}
    best = max(diff, key=lambda k: diff[k]["physical_accuracy"])
    extra = diffractive_figures(out_dir, dcfg, best, ddata)
    ordering = []
    for fam in ("mesh", "diffractive"):
        accs = {k.split("-", 1)[1]: v["physical_accuracy"] for k, v in results.items() if v["family"] == fam}
        ranked = " > ".join(f"{m} {100 * a:.1f}%" for m, a in sorted(accs.items(), key=lambda kv: -kv[1]))
        ordering.append(f"- {fam}: {ranked}")
    intro = (f"Two photonic networks classify {cfg.dataset} on their simulated physical systems.\n\n"
             f"- **mesh**: {cfg.mesh_count} Clements meshes of {cfg.mesh_modes} modes (Zheng et al. 2023), errors "
             f"bs = {cfg.mesh_bs_sigma}, ps = {cfg.mesh_ps_sigma}; {cfg.mesh_n_train} training images, "
             f"{cfg.mesh_epochs} epochs.\n"
             f"- **diffractive**: {cfg.layers} phase layers of {cfg.grid_px}×{cfg.grid_px} pixels at "
             f"{cfg.pitch_m * 1e3:.2f} mm, λ = {cfg.wavelength_m * 1e3:.2f} mm, gaps {cfg.gap_m * 1e3:.0f} mm, "
             f"joint errors of preset {cfg.diffractive_preset!r} (shift, rotation, gap, modulator response, "
             f"quantization, crosstalk, fill factor, input shift, detector noise; docs/hardware.md); "
             f"{cfg.diffractive_n_train} training images, {cfg.diffractive_epochs} epochs.\n\n"
             f"Physical test accuracy, best first:\n" + "\n".join(ordering) +
             f"\n\nThe best diffractive design on hardware ({best}) is exported for fabrication in `export/` "
             f"(HDF5, 16-bit PNG + JSON, CSV, STL, GDSII; {cfg.export_levels} height levels) with a tolerance "
             "report at the end of this file (`python -m experiments export RUN_DIR` redoes it with other "
             "options; docs/export.md).")
    summary = write_study_record(out_dir, "quickstart", cfg, results, title="quickstart: photonic networks under "
                                 "systematic errors", intro=intro, extra_figures=extra)
    from ..export import export_run

    export_run(out_dir, arm=best, levels=cfg.export_levels, draws=cfg.tolerance_draws, n_test=cfg.tolerance_n_test,
               seed=cfg.seed)
    return summary
