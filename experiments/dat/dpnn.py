"""dat-dpnn — dual adaptive training of a diffractive PNN (docs/references.md#dat-diffractive).

Phase-only layers on an SLM-like geometry (placeholder: λ 520 nm, 12.5 µm pixels, 400×400
modulated pixels on a 700×700 grid, 4 layers 0.3 m apart), amplitude-encoded input, ten
square detector regions. The physical system carries the diffractive errors of docs/hardware.md at a preset
severity; direct deployment, PAT and DAT are compared on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from hardware import PhysicalSystem, error_model
from training import TrainConfig, records

from training import figures
from .._methods import check_signs, parse_ints, parse_methods
from ..registry import register
from training.runtime import Runtime
from training.study import Arm, diffractive_task, load_data, run_arms, write_study_record

__all__ = ["DatDpnnConfig", "run", "diffractive_arms", "diffractive_figures"]


@dataclass(frozen=True)
class DatDpnnConfig:
    dataset: str = "mnist"
    preset: str = "medium"
    methods: str = "ideal,pat,dat,dat-is"
    wavelength_m: float = 520e-9
    pitch_m: float = 12.5e-6
    grid_px: int = 700
    active_px: int = 400
    layers: int = 4
    gap_m: float = 0.3
    image_px: int = 200
    region_px: int = 40
    region_spacing_px: int = 100
    temperature: float = 10.0
    n_train: int = 60000
    n_test: int = 10000
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 0.05
    sepn_learning_rate: float = 1e-3
    sepn_features: str = "4,6,8"
    lr_step_epochs: int = 10
    dat_warmup_epochs: int = 0
    val_fraction: float = 0.1
    seed: int = 0
    error_seed: int = 5

    def __post_init__(self):
        from hardware import diffractive_error_model

        check_signs(self, ("temperature",), detail=" (the logits' scale)")
        check_signs(self, ("gap_m",), detail=" m (the layers' distance, light goes forward)")
        diffractive_error_model(self.preset, pitch=self.pitch_m, gap=self.gap_m)  # a bad preset fails now
        parse_methods(self.methods)
        parse_ints(self.sepn_features, "sepn_features", 3)


# cpu: the SLM geometry shrunk to 48×48 pixels with a 15 mm gap, which keeps the Fresnel
# number N·d²/(λ z) of the placeholder (≈ 0.7) — light still crosses about one layer width
SCALES = {
    "smoke": dict(grid_px=32, active_px=32, layers=2, gap_m=0.01, image_px=16, region_px=3, region_spacing_px=6,
                  n_train=120, n_test=60, epochs=1, batch_size=30, sepn_features="2,2,2", methods="ideal,pat,dat"),
    "cpu": dict(grid_px=48, active_px=48, layers=3, gap_m=0.015, image_px=24, region_px=3, region_spacing_px=8,
                n_train=3000, n_test=2000, epochs=2, batch_size=50),
    "paper": dict(),
}


def diffractive_arms(cfg, preset: str, prefix: str = "diffractive") -> list[Arm]:
    feats = parse_ints(cfg.sepn_features, "sepn_features", 3)
    arms = []
    for label, method, internal, options in parse_methods(cfg.methods):
        def build(method=method):
            task = diffractive_task(grid_px=cfg.grid_px, pitch_m=cfg.pitch_m, wavelength_m=cfg.wavelength_m,
                                    layers=cfg.layers, gap_m=cfg.gap_m, image_px=cfg.image_px,
                                    region_px=cfg.region_px, region_spacing_px=cfg.region_spacing_px,
                                    temperature=cfg.temperature, active_px=cfg.active_px)
            em = error_model("diffractive", preset, pitch=cfg.pitch_m, gap=cfg.gap_m)
            return task, PhysicalSystem(task.device_model, preset=preset, seed=cfg.error_seed), em
        tc = TrainConfig(method=method, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.learning_rate,
                         sepn_lr=cfg.sepn_learning_rate, sepn_features=feats, lr_step_epochs=cfg.lr_step_epochs,
                         dat_warmup_epochs=cfg.dat_warmup_epochs, internal_states=internal,
                         val_fraction=cfg.val_fraction, seed=cfg.seed, **options)
        arms.append(Arm(f"{prefix}-{label}", "diffractive", method, build, tc))
    return arms


def diffractive_figures(out_dir: Path, cfg, label: str, data) -> list[tuple[str, str]]:
    """Phase masks and mean output pattern per class of the arm ``label``."""
    arm = diffractive_arms(cfg, "none")[0]
    task, _, _ = arm.build()
    task.load_state_dict(torch.load(out_dir / "checkpoints" / f"{label}.best.pt", weights_only=True))
    masks = torch.stack([layer.full_phase().detach() for layer in task.system.layers if hasattr(layer, "phase")])
    f1 = figures.phase_masks(masks, cfg.pitch_m, out_dir / "figures" / f"{label}_masks.png",
                             title=f"{label}: phase masks")
    _, _, xt, yt = data
    with torch.no_grad():
        n_cls = int(yt.max()) + 1
        pats = []
        for c in range(n_cls):
            sel = xt[yt == c][:20]
            if len(sel) == 0:  # class absent from a small test subset
                pats.append(torch.zeros(task.grid.shape))
                continue
            out, _ = task.numeric(task.encode(sel))
            pats.append(task.intensity(out).mean(0))
    f2 = figures.class_patterns(torch.stack(pats), task.regions.bool(), out_dir / "figures" / f"{label}_patterns.png",
                                title=f"{label}: mean output intensity per class (numerical model)")
    return [(f"{label} phase masks", f1.name), (f"{label} output patterns", f2.name)]


@register("dat-dpnn", "DAT vs PAT vs direct deployment on a diffractive PNN (Zheng et al. 2023)", DatDpnnConfig,
          runtime={"smoke": "15 s", "cpu": "4 min", "paper": "hours (GPU)"}, scales=SCALES, report="dat")
def run(cfg: DatDpnnConfig, out_dir: Path, *, resume: bool = False, runtime: Runtime | None = None) -> dict:
    runtime = runtime or Runtime()
    records.write_config(out_dir / "config.json", "dat-dpnn", cfg, cfg.seed)
    data = load_data(cfg.dataset, cfg.n_train, cfg.n_test, cfg.seed)
    results = run_arms(out_dir, diffractive_arms(cfg, cfg.preset), data, resume=resume, runtime=runtime)
    if not runtime.is_main:
        return {}
    last = list(results)[-1]
    extra = diffractive_figures(out_dir, cfg, last, data)
    intro = (f"{cfg.layers} phase layers ({cfg.active_px}×{cfg.active_px} modulated of {cfg.grid_px}×{cfg.grid_px}, "
             f"{cfg.pitch_m * 1e6:.1f} µm pixels, λ {cfg.wavelength_m * 1e9:.0f} nm, gaps {cfg.gap_m * 1e3:.1f} mm), "
             f"{cfg.dataset} resized to {cfg.image_px} px. Physical system: preset {cfg.preset!r} "
             "(docs/hardware.md; error seed {}). The geometry is a placeholder (docs/references.md#dat-diffractive).".format(cfg.error_seed))
    return write_study_record(out_dir, "dat-dpnn", cfg, results, title=f"dat-dpnn: diffractive PNN, {cfg.preset} errors",
                              intro=intro, extra_figures=extra)
