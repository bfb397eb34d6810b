"""d2nn-classifier — the all-optical diffractive classifier of Lin et al., Science 361, 1004
(2018) (docs/references.md#d2nn): 5 phase-only layers of 200×200 at 0.4 mm, λ 0.75 mm, 3 cm
apart, ten detector regions, trained with softmax cross-entropy; tested numerically and on a physical
system (preset ``none`` by default: the published numbers are simulations).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import records
from .dat.dpnn import DatDpnnConfig, diffractive_arms, diffractive_figures
from .registry import register
from .runtime import Runtime
from .study import load_data, run_arms, write_study_record

__all__ = ["D2nnConfig", "run"]


@dataclass(frozen=True)
class D2nnConfig(DatDpnnConfig):
    """The diffractive study settings with the Lin et al. (2018) defaults."""

    preset: str = "none"
    methods: str = "ideal"
    wavelength_m: float = 0.75e-3
    pitch_m: float = 0.4e-3
    grid_px: int = 200
    active_px: int = 200
    layers: int = 5
    gap_m: float = 0.03
    image_px: int = 100
    region_px: int = 12
    region_spacing_px: int = 30
    epochs: int = 10
    lr_step_epochs: int = 5


# cpu: 100×100 pixels (half the published width, same pitch and gaps), 10k training images
SCALES = {
    "smoke": dict(grid_px=32, active_px=32, layers=2, image_px=16, region_px=3, region_spacing_px=6, n_train=120,
                  n_test=60, epochs=1, batch_size=30),
    "cpu": dict(grid_px=100, active_px=100, image_px=50, region_px=6, region_spacing_px=16, n_train=10000,
                n_test=2000, epochs=3, batch_size=50),
    "paper": dict(),
}


@register("d2nn-classifier", "Diffractive classifier of Lin et al. (Science 2018)", D2nnConfig,
          runtime={"smoke": "5 s", "cpu": "10 min", "paper": "hours (GPU)"}, scales=SCALES)
def run(cfg: D2nnConfig, out_dir: Path, *, resume: bool = False, runtime: Runtime | None = None) -> dict:
    runtime = runtime or Runtime()
    records.write_config(out_dir / "config.json", "d2nn-classifier", cfg, cfg.seed)
    data = load_data(cfg.dataset, cfg.n_train, cfg.n_test, cfg.seed)
    results = run_arms(out_dir, diffractive_arms(cfg, cfg.preset, prefix="d2nn"), data, resume=resume, runtime=runtime)
    if not runtime.is_main:
        return {}
    extra = diffractive_figures(out_dir, cfg, list(results)[0], data)
    intro = (f"{cfg.layers} phase-only layers of {cfg.grid_px}×{cfg.grid_px} at {cfg.pitch_m * 1e3:.2f} mm, "
             f"λ {cfg.wavelength_m * 1e3:.2f} mm, {cfg.gap_m * 1e3:.0f} mm apart; {cfg.dataset} resized to "
             f"{cfg.image_px} px as input amplitude. Published (Lin et al. 2018, MSE loss): 91.75% MNIST; "
             "with softmax cross-entropy ≈97% MNIST, ≈89% Fashion-MNIST (Mengu et al., IEEE JSTQE 2020; docs/references.md#d2nn).")
    return write_study_record(out_dir, "d2nn-classifier", cfg, results, title="d2nn-classifier", intro=intro,
                              extra_figures=extra)
