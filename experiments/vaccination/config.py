"""vaccination — misalignment-resilient diffractive networks (Mengu et al., Nanophotonics 2020;
docs/references.md#vaccination and #diffusers).

A *standard* network is trained error-free (method ``ideal``); a *vaccinated* one is trained
with method ``noise``: every batch each phase layer gets a fresh independent 3-D displacement,
uniform in ±Δ per lateral axis and ±Δz along the axis (:class:`LayerDisplacements`). A layer
displaced axially by δ_l moves both planes it borders: the gap after it changes by
δ_{l+1} − δ_l (the output plane is fixed, δ_L = 0; for the classifier the input image lies
on the first layer's plane, so δ_0 only moves layer 0 relative to layer 1).
Both are then tested over a grid of test misalignments Δ_test = s·Δ (and s·Δz) for s in
``test_factors``, with ``test_draws`` independent random draws per level; every draw is shared
by both networks (paired comparison), and s = 0 is the perfectly aligned device (one draw).

Networks (``networks``):

* ``classifier`` — Lin et al. (2018) THz D2NN classifier (λ 0.75 mm, 5 phase-only layers of
  200×200 at 0.4 mm, 3 cm apart, ten detector regions), MNIST, softmax cross-entropy;
  metric: test accuracy.
* ``imaging`` — the diffuser-imaging network of Luo et al. (eLight 2, 4 (2022)), built
  and trained by :mod:`experiments.diffusers.imaging`; metric: PCC of the output to the object
  through random diffusers.

The acceptance criterion is stated and checked in the report: at Δ_test = Δ the
vaccinated classifier keeps ≥ 90% of its aligned accuracy, and the standard classifier's
retention is at least ``margin`` (5 percentage points) lower.

Resumable: training arms use the study machinery (per-arm checkpoints, ``progress.json``);
every finished (network, arm, level) of the misalignment sweep is recorded in ``sweep.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal
from pathlib import Path

import torch

from hardware import LayerDisplacements
from hardware.presets import parse_pairs
from training.checkpoint import read_json

from .._methods import parse_list

NETWORKS = ("classifier", "imaging")


def _override_pairs(spec: str) -> list[str]:
    """``"key=value,key=value"`` -> ``["--key", "value", ...]`` (values parsed later by type)."""
    return [tok for k, v in parse_pairs(spec, what="imaging_overrides item").items() for tok in (f"--{k}", v)]


ARMS = ("standard", "vaccinated")
RETENTION = 0.90  # the vaccinated classifier keeps ≥ 90% of its aligned accuracy at Δ_test = Δ
MARGIN = 0.05     # ... and the standard one keeps at least 5 points (of retention) less


@dataclass(frozen=True)
class VaccinationConfig:
    """Settings (SI units unless the name says otherwise).

    ``shift_max_px`` is the training half-width Δ of the lateral shift per layer and axis in
    pixel pitches; ``axial_max_m`` the training half-width Δz of the axial displacement of each layer (m).
    ``test_factors`` lists s for Δ_test = s·Δ, s·Δz.
    """

    networks: str = "classifier"  # networks studied, comma-separated: classifier, imaging
    dataset: str = "mnist"
    wavelength_m: float = 0.75e-3
    pitch_m: float = 0.4e-3
    grid_px: int = 200
    layers: int = 5
    gap_m: float = 0.03
    image_px: int = 100
    region_px: int = 12
    region_spacing_px: int = 30
    temperature: float = 10.0
    n_train: int = 60000
    n_test: int = 10000
    epochs: int = 10
    batch_size: int = 50
    learning_rate: float = 0.05
    lr_step_epochs: int = 5
    val_fraction: float = 0.1
    shift_max_px: float = 1.0  # training half-width Δ of the lateral shift of every layer, per axis [px]
    axial_max_m: float = 1.5e-3  # training half-width Δz of the axial displacement of every layer [m]
    test_factors: str = "0,0.5,1,1.5,2"
    """test levels s, comma-separated: tested at Δ_test = s·Δ and s·Δz [dimensionless]"""
    test_draws: int = 20  # random misalignment draws per test level [count]
    eval_batch_size: int = 500  # images per forward pass in evaluation (memory only, not results) [count]
    imaging_scale: Literal["smoke", "cpu", "paper"] = "paper"
    """scale of diffuser-imaging whose geometry and training the imaging network uses"""
    imaging_overrides: str = ""  # key=value,… overrides of those diffuser-imaging settings (e.g. epochs=5)
    imaging_shift_max_px: float = 1.0  # imaging network: training half-width Δ of the lateral layer shift [px]
    imaging_axial_max_m: float = 0.3e-3  # imaging network: training half-width Δz of the axial layer displacement [m]
    imaging_test_objects: int = 200  # imaging network: test objects per misalignment draw [count]
    imaging_test_diffusers: int = 4  # imaging network: new diffusers per misalignment draw [count]
    seed: int = 0
    eval_seed: int = 1234  # seed of the misalignment draws of the test sweep (shared by both arms)

    def __post_init__(self):
        nets = self.network_list
        bad = [n for n in nets if n not in NETWORKS]
        if bad or not nets or len(set(nets)) != len(nets):
            raise ValueError(f"networks must be a comma-separated subset of {', '.join(NETWORKS)} "
                             f"(each once), got {self.networks!r}")
        factors = self.factor_list
        if 1.0 not in factors or 0.0 not in factors:
            raise ValueError(f"test_factors must include 0 (aligned) and 1 (the training Δ), got {self.test_factors!r}")
        if any(f < 0 for f in factors) or len(set(factors)) != len(factors):
            raise ValueError(f"test_factors must be distinct numbers ≥ 0, got {self.test_factors!r}")
        for name in ("shift_max_px", "axial_max_m"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number ≥ 0, got {v!r}")
        if self.shift_max_px == 0 and self.axial_max_m == 0:
            raise ValueError("shift_max_px and axial_max_m are both 0: there is nothing to vaccinate against")
        if self.imaging_scale not in ("smoke", "cpu", "paper"):
            raise ValueError(f"imaging_scale must be smoke, cpu or paper, got {self.imaging_scale!r}")
        for name in ("imaging_shift_max_px", "imaging_axial_max_m"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number ≥ 0, got {v!r}")
        from .imaging import imaging_config

        imaging_config(self)  # the imaging settings and overrides, checked even when only the classifier runs
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0 (the logits' scale), got {self.temperature!r}")
        if not isinstance(self.test_draws, int) or self.test_draws < 1:
            raise ValueError(f"test_draws must be a positive int, got {self.test_draws!r}")

    @property
    def network_list(self) -> list[str]:
        return [s.strip() for s in self.networks.split(",") if s.strip()]

    @property
    def factor_list(self) -> list[float]:
        return sorted(parse_list(self.test_factors, name="test_factors"))

    @property
    def shift_max_m(self) -> float:
        return self.shift_max_px * self.pitch_m


# cpu: 64×64 pixels (25.6 mm, a third of the published 80 mm width; same λ, pitch, 3 cm gaps,
# 5 layers), digits resized to 32 px, 8000 training images (10% held out for validation), 1000
# test images, 4 epochs, 16 draws per misalignment level; the classifier only (the imaging part
# is opt-in: --networks classifier,imaging; at cpu scale it is the diffuser-imaging cpu geometry,
# 120² at 0.3 mm, with its training pinned here so that later changes of that experiment's
# scale do not change this one: 12 diffusers per epoch, lr 0.03 decayed ×0.92 per epoch, 200
# objects, 5 epochs; tested on 50 test objects × 4 new diffusers)
SCALES = {
    "smoke": dict(grid_px=24, layers=2, gap_m=0.01, image_px=12, region_px=2, region_spacing_px=5, n_train=100,
                  n_test=40, epochs=1, batch_size=25, test_factors="0,1,2", test_draws=2, imaging_scale="smoke",
                  imaging_test_objects=8),
    "cpu": dict(grid_px=64, image_px=32, region_px=4, region_spacing_px=10, n_train=8000, n_test=1000, epochs=4,
                lr_step_epochs=2, test_draws=16, imaging_scale="cpu", imaging_test_objects=50,
                imaging_overrides="diffusers_per_epoch=12,n_train=200,epochs=5,lr=0.03,lr_decay=0.92,n_val=12,"
                                  "n_val_new=2"),
    "paper": dict(),
}


def misalignment_levels(cfg: VaccinationConfig) -> list[dict]:
    """The test grid: ``[{"factor", "shift_max_m", "axial_max_m", "draws"}]`` (one draw when aligned)."""
    return [{"factor": s, "shift_max_m": s * cfg.shift_max_m, "axial_max_m": s * cfg.axial_max_m,
             "draws": 1 if s == 0 else cfg.test_draws} for s in cfg.factor_list]


def _draw_generator(cfg: VaccinationConfig, level: int, draw: int) -> torch.Generator:
    # shared by both arms (paired comparison); independent of the training seed
    return torch.Generator().manual_seed(cfg.eval_seed * 1_000_003 + 1000 * level + draw)



def vaccine(cfg: VaccinationConfig, factor: float = 1.0) -> LayerDisplacements:
    """The classifier's uniform 3-D layer displacements at ``factor`` × the training half-widths."""
    return LayerDisplacements(factor * cfg.shift_max_m, factor * cfg.axial_max_m)


def imaging_vaccine(cfg: VaccinationConfig, pitch_m: float, factor: float = 1.0) -> LayerDisplacements:
    """The imaging network's uniform 3-D layer displacements at ``factor`` × its half-widths
    (lateral in pixels of ``pitch_m``)."""
    return LayerDisplacements(factor * cfg.imaging_shift_max_px * pitch_m, factor * cfg.imaging_axial_max_m)



def _summarise(values: list[float]) -> dict:
    t = torch.tensor(values, dtype=torch.float64)
    return {"values": values, "mean": float(t.mean()), "std": float(t.std()) if len(values) > 1 else 0.0,
            "min": float(t.min()), "max": float(t.max())}



def criterion(curves: dict, metric: str = "accuracy") -> dict:
    """The done-when check at Δ_test = Δ: retention = mean metric at Δ / aligned metric."""
    res = {}
    for arm in ARMS:
        rows = {r["factor"]: r[metric]["mean"] for r in curves[arm]}
        res[arm] = {"aligned": rows[0.0], "at_delta": rows[1.0],
                    "retention": rows[1.0] / rows[0.0] if rows[0.0] > 0 else float("nan")}
    v, s = res["vaccinated"]["retention"], res["standard"]["retention"]
    res["holds"] = bool(v >= RETENTION and s <= v - MARGIN)
    res["rule"] = (f"vaccinated retention ≥ {RETENTION:.2f} and standard retention ≤ vaccinated − {MARGIN:.2f}")
    return res


def sweep_levels(cfg: VaccinationConfig, prefix: str, done: dict, path: Path, measure) -> list[dict]:
    """One arm's rows over the misalignment grid. A level already in ``done`` (key
    ``prefix/factor``, from ``sweep.json`` of a resumed run) is reused; every other is measured
    by ``measure(level_index, level) -> row`` and recorded in ``path`` at once."""
    from training.records import atomic_json

    rows = []
    for li, level in enumerate(misalignment_levels(cfg)):
        key = f"{prefix}/{level['factor']:g}"
        if key not in done:
            done[key] = measure(li, level)
            atomic_json(path, done)
        rows.append(done[key])
    return rows


def _load_json(path: Path, resume: bool) -> dict:
    """The finished points of a resumed sweep (``sweep.json``); empty for a new run."""
    return read_json(path, what="sweep record", default={}) if resume else {}
