"""diffuser-imaging — all-optical imaging through random diffusers (Luo et al., eLight 2, 4
(2022); docs/references.md#diffusers).

Geometry (paper scale): an amplitude object (MNIST grey value = field amplitude, 28 -> 160 px
bilinear, centred in 240×240 at 0.3 mm pitch) -> 40 mm -> thin random phase diffuser ->
2 mm -> phase-only layer 1 -> 2 mm -> ... -> layer L -> 7 mm -> output intensity ``o``.
λ = 0.75 mm; band-limited angular spectrum with 2× zero padding between all planes.

Diffusers: :func:`optics.functional.random_diffuser` (heights N(25λ, (8λ)²) smoothed by a
unit-sum Gaussian of std σ, Δn = 0.74). Every epoch draws ``diffusers_per_epoch`` new
diffusers held fixed for that epoch; every object of a batch goes through all of them.

Loss (per object–diffuser pair, mean over pairs): ``−PCC(o_R, h_R) + E(o, h)`` with
``E = Σ[α(1−m)o − βm·o]/Σm``, ``m = [h > 0]``, α = 1, β = 0.5. Choices not fixed by the paper
(written down here and in the report):

* ``o = |u_out|²`` in the units of the input intensity: the object field has amplitude
  ``h ∈ [0, 1]`` on a unit illumination, so a perfect unit-magnification image of all the
  light would give ``o = h²``. No further normalisation.
* **PCC region** ``R``: the central ``object_px × object_px`` square where the object lies
  (paper scale 160×160 px = 48 × 48 mm). Training PCC and every reported PCC use it; ``E``
  uses the whole output window (stray light anywhere in the window is penalised).
* PCC target: the object grey value ``h`` (the amplitude), as in the paper's loss.

Public interface (used by ``diffuser-study`` and the vaccination experiment):
:class:`ImagingConfig`, :data:`SCALES`, :func:`build_imaging_network`, :func:`train_imaging`,
:func:`evaluate_pcc`, :func:`draw_diffusers`, :func:`new_diffusers`, :func:`load_objects`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from hardware import LayerDisplacements
from optics import Grid
from optics.functional import random_diffuser
from training import TrainConfig, Trainer, imaging, load_dataset, records
from training.resolution import grating_statistics
from training.transforms import pad_to, resize, to_float

from .._methods import check_signs, parse_list
from training.runtime import Interrupted, Runtime

__all__ = ["ImagingConfig", "SCALES", "DiffuserImager", "build_imaging_network", "imaging_objective",
           "train_imaging", "evaluate_pcc", "pair_pcc", "draw_diffusers", "new_diffusers", "load_objects",
           "object_region", "region_key", "sigma_list", "imaging_task", "train_config"]


@dataclass(frozen=True)
class ImagingConfig:
    """Settings of the diffuser-imaging experiment (SI unless the name carries a unit;
    ``*_lambda`` fields are in wavelengths)."""

    seed: int = 0  # seed of the run's random streams (initialisation, objects, diffusers)
    dataset: str = "mnist"  # data set of the object images (training.load_dataset)
    wavelength_m: float = 0.75e-3
    pitch_m: float = 0.3e-3
    grid_px: int = 240
    object_px: int = 160  # side of the object (resized image) on the grid [px]
    layers: int = 4  # trainable phase layers [count]
    object_to_diffuser_m: float = 40e-3  # distance from the object plane to the diffuser [m]
    diffuser_to_layer_m: float = 2e-3  # distance from the diffuser to the first phase layer [m]
    layer_gap_m: float = 2e-3  # distance between neighbouring phase layers [m]
    layer_to_output_m: float = 7e-3  # distance from the last phase layer to the output plane [m]
    pad_factor: float = 2.0
    """zero padding of the angular-spectrum propagation, as a multiple of the grid side [dimensionless]"""
    # diffuser statistics (Luo et al. 2022; docs/references.md#diffusers)
    diffuser_sigma_lambda: float = 4.0  # correlation length σ of the random diffusers [wavelengths]
    diffuser_sigma_mix: str = ""
    """e.g. 2,4,6: training diffusers cycle through these correlation lengths; empty: diffuser_sigma_lambda only
    [wavelengths]"""
    delta_n: float = 0.74  # refractive-index contrast of the diffuser material to air [dimensionless]
    height_mean_lambda: float = 25.0  # mean thickness of the diffusers [wavelengths]
    height_std_lambda: float = 8.0  # standard deviation of the diffuser thickness [wavelengths]
    # training
    diffusers_per_epoch: int = 20  # new random diffusers drawn for every training epoch [count]
    n_train: int = 50000  # training objects, a seeded subset of the training split [count]
    epochs: int = 100
    batch_size: int = 4  # objects per optimisation step (each seen through every diffuser of the epoch) [count]
    lr: float = 1e-3  # Adam learning rate of the phases [rad per step]
    lr_decay: float = 0.99  # factor applied to the learning rate after every epoch [dimensionless]
    alpha: float = 1.0  # loss weight α of the light outside the object support (training.imaging_loss) [dimensionless]
    beta: float = 0.5  # loss weight β of the light inside the object support (training.imaging_loss) [dimensionless]
    # evaluation
    n_test: int = 10000  # test objects, the first of the test split [count]
    n_new_diffusers: int = 20  # new diffusers, never seen in training, for the final evaluation [count]
    n_val: int = 32  # test objects of the per-epoch learning curve [count]
    n_val_new: int = 4  # fixed new diffusers of the per-epoch learning curve [count]
    eval_batch: int = 8  # objects per forward pass in evaluation (memory only, not results) [count]
    grating_periods_mm: str = "7.2,8.4,9.6,10.8,12.0"  # periods of the three-bar test gratings, comma-separated [mm]
    lens_focal_m: float = 21e-3  # focal length of the lens baseline (2f-2f imaging, lens 2 mm behind the diffuser) [m]

    def __post_init__(self):
        if self.object_px > self.grid_px:
            raise ValueError(f"object_px {self.object_px} exceeds grid_px {self.grid_px}")
        if self.layers < 1 or self.diffusers_per_epoch < 1 or self.epochs < 1:
            raise ValueError("layers, diffusers_per_epoch and epochs must be ≥ 1")
        sigma_list(self)  # validates the mix
        check_signs(self, ("object_to_diffuser_m", "diffuser_to_layer_m", "layer_gap_m", "layer_to_output_m", "alpha",
                           "beta"), zero=True)
        if not all(p > 0 for p in parse_list(self.grating_periods_mm, name="grating_periods_mm")):
            raise ValueError(f"--grating-periods-mm must be periods > 0, got {self.grating_periods_mm!r}")

    @property
    def grid(self) -> Grid:
        return Grid(self.grid_px, self.pitch_m)


# paper: the published setting exactly (docs/references.md#diffusers; GPU).
# cpu: the same λ, pitch, distances and diffuser statistics (they set the physics: the
# diffuser phase std depends on σ in pixels, so the pitch is kept) on half the lateral
# extent: 120×120 layers (36 mm) with the object 80 px (24 mm) — the object keeps 2/3 of the
# window as in the paper; 1,000 training objects, 30 epochs, 12 diffusers per epoch, 200 test
# objects; the gratings that fit the 24 mm object square (3 bars of period P span 2.5 P).
# The learning rate decays ×0.93 per epoch (0.11 of its start after 30 epochs; the paper's
# overall factor is 0.99^100 = 0.37): with a nearly constant rate the network keeps adapting to
# the last epoch's diffusers (a first cpu run with 600 objects, 8 epochs, n = 8 and ×0.99 showed
# a known/new gap of ≈0.06 on the validation objects at epoch 4). Measured (square region):
# 300 objects × 20 epochs ×0.92 gave PCC new 0.697, 40 epochs 0.720, this setting 0.756. The
# lens baseline was 0.695 with its first, aliased pupil; with the corrected pupil it is 0.722
# (support 0.493 against the network's 0.516), so at this half window the network is only
# slightly ahead of a good lens (docs/reproduction/diffusers.md, secondary table).
# Learning rate 0.03 instead of 1e-3: the cpu run takes ≈7,500 Adam steps instead of the
# paper's ≈1.25 million, and Adam moves each phase by at most ≈lr per step (measured on
# 120 training objects × 2 epochs: val PCC 0.30 at lr 1e-3, 0.35 at 1e-2, 0.40 at 3e-2).
SCALES = {
    "smoke": dict(grid_px=32, object_px=20, layers=2, diffusers_per_epoch=2, n_train=8, epochs=1, n_test=4,
                  n_new_diffusers=2, n_val=2, n_val_new=1, grating_periods_mm="2.4", eval_batch=4),
    "cpu": dict(grid_px=120, object_px=80, diffusers_per_epoch=12, n_train=1000, epochs=30, n_test=200, lr=0.03,
                lr_decay=0.93,
                n_new_diffusers=20, n_val=24, n_val_new=4, grating_periods_mm="7.2,8.4,9.6", eval_batch=8),
    "paper": dict(),
    # the published geometry exactly (240² at 0.3 mm, 160 px objects, 4 layers, the same
    # distances and diffusers) with the training budget cut to ≈3 h on 2 CPU cores under
    # `torchrun --nproc_per_node 2` (one thread each): 2,000 objects × 25 epochs × 12 diffusers
    # (paper: 50,000 × 100 × 20), lr 0.03 ×0.9/epoch (the cpu scale's reasoning: ~40× fewer Adam
    # steps than the paper), 200 test objects, 20 new diffusers, the published gratings. Measured:
    # one step (4 objects × 12 diffusers) costs 2.2 s of CPU on one thread, so an epoch is ≈280 s
    # on two ranks and the 25 epochs plus evaluation ≈2.5–3 h.
    "full-window": dict(diffusers_per_epoch=12, n_train=2000, epochs=25, lr=0.03, lr_decay=0.9, n_test=200,
                        n_val=24, n_val_new=4, eval_batch=8),
}


def sigma_list(cfg: ImagingConfig) -> list[float]:
    """σ/λ of the training diffusers: the mix if given, else ``[diffuser_sigma_lambda]``."""
    if not cfg.diffuser_sigma_mix.strip():
        return [float(cfg.diffuser_sigma_lambda)]
    out = parse_list(cfg.diffuser_sigma_mix, name="diffuser_sigma_mix")
    if not out or any(s <= 0 for s in out):
        raise ValueError(f"diffuser_sigma_mix needs positive σ/λ values, got {cfg.diffuser_sigma_mix!r}")
    return out


def object_region(cfg: ImagingConfig) -> tuple[slice, slice]:
    """Rows and columns of the PCC region: the central ``object_px`` square (as :func:`pad_to` places it)."""
    top = (cfg.grid_px - cfg.object_px) // 2
    s = slice(top, top + cfg.object_px)
    return s, s


# -- objects and diffusers ---------------------------------------------------------------
def load_objects(cfg: ImagingConfig, split: str, n: int, *, offset: int = 0) -> torch.Tensor:
    """``n`` images of ``split`` as 28×28 uint8 (encode them with :func:`encode_objects`).

    The training set is shuffled once with ``cfg.seed``; the test set is taken in order from
    ``offset``."""
    x, _ = load_dataset(cfg.dataset, split)
    if split == "train":
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed))
        x = x[perm]
    if offset + n > len(x):
        raise ValueError(f"{split} has {len(x)} images, asked for {n} from {offset}")
    return x[offset:offset + n]


def encode_objects(cfg: ImagingConfig, images: torch.Tensor) -> torch.Tensor:
    """Grey values in [0, 1] resized to ``object_px`` (bilinear) and centred on the grid: ``(N, ny, nx)`` float32."""
    return pad_to(resize(to_float(images), cfg.object_px), (cfg.grid_px, cfg.grid_px)).float()


def draw_diffusers(cfg: ImagingConfig, n: int, generator: torch.Generator, *, sigma_lambda=None) -> torch.Tensor:
    """``n`` independent diffusers ``(n, ny, nx)`` complex64; σ cycles through ``sigma_lambda``
    (a number or a list of σ/λ; default :func:`sigma_list`)."""
    sig = sigma_list(cfg) if sigma_lambda is None else (
        list(sigma_lambda) if isinstance(sigma_lambda, (list, tuple)) else [float(sigma_lambda)])
    lam = cfg.wavelength_m
    return torch.stack([random_diffuser(cfg.grid, lam, sigma=sig[k % len(sig)] * lam, delta_n=cfg.delta_n,
                                        height_mean=cfg.height_mean_lambda * lam,
                                        height_std=cfg.height_std_lambda * lam, generator=generator)
                        for k in range(n)])


def new_diffusers(cfg: ImagingConfig, n: int, *, sigma_lambda=None, stream: int = 0) -> torch.Tensor:
    """Test ("new") diffusers from a generator that training never uses (seed stream
    ``10⁶ + 1000·seed + stream``), σ = ``diffuser_sigma_lambda`` unless given."""
    g = torch.Generator().manual_seed(1_000_000 + 1000 * cfg.seed + stream)
    return draw_diffusers(cfg, n, g, sigma_lambda=cfg.diffuser_sigma_lambda if sigma_lambda is None else sigma_lambda)


def _epoch_generator(cfg: ImagingConfig, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(7919 * (cfg.seed + 1) + epoch)


# -- the network (training.imaging) and its training through the engine ---------------------
class DiffuserImager(imaging.DiffuserImager):
    """:class:`training.imaging.DiffuserImager` with the geometry of an :class:`ImagingConfig`
    (kept as ``.cfg``)."""

    def __init__(self, cfg: ImagingConfig):
        d = [cfg.diffuser_to_layer_m] + [cfg.layer_gap_m] * (cfg.layers - 1) + [cfg.layer_to_output_m]
        super().__init__(cfg.grid, cfg.wavelength_m, cfg.layers, object_to_diffuser=cfg.object_to_diffuser_m,
                         distances=d, pad_factor=cfg.pad_factor)
        self.cfg = cfg


def build_imaging_network(cfg: ImagingConfig) -> DiffuserImager:
    """The trainable network of ``cfg`` (phases initialised to zero: free space at start)."""
    return DiffuserImager(cfg)


def pair_pcc(out: torch.Tensor, objects: torch.Tensor, cfg: ImagingConfig) -> torch.Tensor:
    """PCC over the object region of every object–diffuser pair: ``(B, n, ...), (B, ...) -> (B, n)``."""
    return imaging.region_pcc(out, objects, object_region(cfg))


def imaging_objective(out: torch.Tensor, objects: torch.Tensor, cfg: ImagingConfig) -> torch.Tensor:
    """Mean over pairs of ``−PCC(o_R, h_R) + E(o, h)`` (module docstring)."""
    return imaging.imaging_objective(out, objects, object_region(cfg), alpha=cfg.alpha, beta=cfg.beta)


@torch.no_grad()
def evaluate_pcc_regions(model: DiffuserImager, objects: torch.Tensor, diffusers=None, *, errors=None,
                         batch: int | None = None) -> dict:
    """PCC of every object × diffuser pair in each region of
    :data:`training.imaging.PCC_REGIONS`: ``{region: (N, n)}`` (see :func:`evaluate_pcc`)."""
    batch = batch or model.cfg.eval_batch
    dev = model.device
    diffusers = None if diffusers is None else diffusers.to(dev)
    out = {r: [] for r in imaging.PCC_REGIONS}
    for i in range(0, len(objects), batch):
        x = objects[i:i + batch].to(dev)
        out_x = model.image(x, diffusers, errors=errors)
        for r, v in imaging.region_pccs(out_x, x, object_region(model.cfg)).items():
            out[r].append(v.cpu())
    return {r: torch.cat(v) for r, v in out.items()}


def evaluate_pcc(model: DiffuserImager, objects: torch.Tensor, diffusers=None, *, errors=None,
                 batch: int | None = None, per_pair: bool = False, region: str = "square"):
    """Mean PCC over all object × diffuser pairs in ``region`` (default the central object
    square, the loss's region; ``"support"``, ``"canvas"``, or ``"all"`` for a dict of the three).

    Args:
        objects: encoded amplitudes ``(N, ny, nx)`` (see :func:`encode_objects`).
        diffusers: ``(n, ny, nx)`` complex, or None (no diffuser).
        errors: a misalignment realization (:class:`hardware.DiffractiveErrors`, e.g.
            :func:`hardware.displacement_errors` of per-layer shifts and axial displacements).
        per_pair: return the ``(N, n)`` tensor(s) instead of the mean(s).
    """
    if region != "all" and region not in imaging.PCC_REGIONS:
        raise ValueError(f"region must be one of {', '.join(imaging.PCC_REGIONS)} or 'all', got {region!r}")
    r = evaluate_pcc_regions(model, objects, diffusers, errors=errors, batch=batch)
    r = {k: (v if per_pair else float(v.double().mean())) for k, v in r.items()}
    return r if region == "all" else r[region]


def imaging_task(cfg: ImagingConfig) -> imaging.ImagingTask:
    """The network of ``cfg`` as a training task: each epoch's diffusers drawn from ``(seed,
    epoch)``, the validation curve through ``n_val_new`` fixed new diffusers."""
    return imaging.ImagingTask(
        build_imaging_network(cfg), encode=lambda images: encode_objects(cfg, images),
        epoch_diffusers=lambda epoch: draw_diffusers(cfg, cfg.diffusers_per_epoch, _epoch_generator(cfg, epoch)),
        val_diffusers=new_diffusers(cfg, cfg.n_val_new, stream=999), region=object_region(cfg),
        alpha=cfg.alpha, beta=cfg.beta)


def train_config(cfg: ImagingConfig, *, method: str = "ideal", device: str = "auto") -> TrainConfig:
    """The engine's settings: Adam at ``lr`` decayed by ``lr_decay`` every epoch, the last
    epoch kept (no selection), validation through the new diffusers."""
    return TrainConfig(method=method, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, lr_step_epochs=1,
                       lr_gamma=cfg.lr_decay, select="last", eval_batch_size=cfg.eval_batch, seed=cfg.seed,
                       device=device)


def train_imaging(cfg: ImagingConfig, out_dir: Path, *, misalignment: LayerDisplacements | None = None,
                  resume: bool = False, progress: bool = True, runtime: Runtime | None = None) -> dict:
    """Train the network of ``cfg`` with :class:`training.Trainer`; checkpoint after every
    epoch in ``out_dir/checkpoint.pt``.

    Each epoch draws ``diffusers_per_epoch`` diffusers from a generator seeded by ``(seed,
    epoch)`` (a resumed run draws the same ones); every object of a batch goes through all of
    them. With ``misalignment`` (a :class:`hardware.LayerDisplacements`) the method is
    ``noise``: every batch draws fresh per-layer displacements from the engine's seeded error
    stream ("vaccination", Mengu et al. 2020).

    Returns ``{"model", "known_diffusers", "history", "wall_time_s"}``; ``history`` holds per-
    epoch dicts (loss, lr, ``val_pcc_known`` and ``val_pcc_new`` of ``n_val`` test objects).
    """
    rt = runtime or Runtime()
    out_dir = Path(out_dir)
    if rt.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    task = imaging_task(cfg)
    tc = train_config(cfg, method="noise" if misalignment is not None else "ideal", device=rt.device)
    trainer = Trainer(task, tc, error_model=misalignment, ctx=rt.ctx, logger=rt.logger(out_dir.name))
    raw = load_objects(cfg, "train", cfg.n_train)
    val = load_objects(cfg, "test", cfg.n_val)
    fit = trainer.fit(raw, torch.zeros(len(raw), dtype=torch.long), val=(val, torch.zeros(len(val), dtype=torch.long)),
                      checkpoint=out_dir / "checkpoint.pt", resume=resume, progress=progress and rt.progress,
                      should_stop=rt.should_stop)
    if fit["interrupted"]:
        raise Interrupted()
    trainer.load_best()
    task.start_epoch(cfg.epochs - 1)  # the known diffusers: the last epoch's
    task.model.eval()
    return {"model": task.model, "known_diffusers": task.diffusers.cpu(), "history": fit["history"],
            "wall_time_s": fit["wall_time_s"]}


# -- the experiment ------------------------------------------------------------------------
PUBLISHED = {"known": 0.78, "new": 0.78, "gap": 0.003, "gratings": 0.74}  # Luo et al. 2022, region unstated
#: no-network baseline of independent reproductions at the published geometry: free space behind
#: new σ = 4λ diffusers, PCC over the object support (docs/references.md#diffusers)
INDEPENDENT = {"free_space_new_support": 0.50}


def region_key(name: str, region: str) -> str:
    """The summary key of quantity ``name`` over ``region`` (:data:`training.imaging.PCC_REGIONS`):
    the central square, the loss's region, keeps the bare name; the others add ``_support`` /
    ``_canvas``."""
    return name if region == "square" else f"{name}_{region}"


def evaluate_all(cfg: ImagingConfig, model: DiffuserImager, known: torch.Tensor) -> dict:
    """Every number of the report: PCC known/new/none, baselines, gratings (tensors kept for the record)."""
    from . import evaluation as ev

    objects = encode_objects(cfg, load_objects(cfg, "test", cfg.n_test))
    new = new_diffusers(cfg, cfg.n_new_diffusers)
    r, s = {}, {}
    for name, d in (("known", known), ("new", new), ("none", None)):
        per = evaluate_pcc(model, objects, d, per_pair=True, region="all")
        r[f"pcc_{name}_pairs"] = per["square"]
        for reg, v in per.items():
            s[region_key(f"pcc_{name}", reg)] = float(v.double().mean())
            if reg != "square":
                r[f"pcc_{name}_{reg}_pairs"] = v
    dev = model.device
    for reg in ("", "_support", "_canvas"):
        s[f"pcc_gap_known_minus_new{reg}"] = s[f"pcc_known{reg}"] - s[f"pcc_new{reg}"]
    for base, fn in (("free_space", ev.free_space_output), ("lens", ev.lens_output)):
        for name, d in (("new", new), ("none", None)):
            for reg, v in ev.baseline_pcc(cfg, fn, objects, d, device=dev, region="all").items():
                s[region_key(f"pcc_{base}_{name}", reg)] = v
    periods = ev.parse_periods(cfg)
    gratings = ev.grating_objects(cfg, periods)
    with torch.no_grad():
        g_out = torch.cat([model.image(gratings[i:i + 1].to(dev), new.to(dev)).cpu() for i in range(len(periods))])
    fits = ev.grating_periods(cfg, g_out, periods)
    g_all = imaging.region_pccs(g_out, gratings, object_region(cfg))
    g_pcc = g_all["square"]
    s["grating_pcc_new"] = float(g_pcc.double().mean())
    s["grating_pcc_new_support"] = None  # a binary bar target is constant on its support: no correlation defined
    s["grating_pcc_new_canvas"] = float(g_all["canvas"].double().mean())
    s["gratings"] = []
    for p, row, pc in zip(periods, fits, g_pcc):
        s["gratings"].append({"period_m": p, "pcc_new": float(pc.double().mean()), **grating_statistics(row, p)})
    s["lens_geometry"] = ev.lens_geometry(cfg)
    return {"summary": s, "pairs": r, "objects": objects, "new": new, "gratings": gratings, "grating_out": g_out,
            "grating_fits": fits, "periods": periods}


from ..registry import register  # noqa: E402


@register("diffuser-imaging", "Imaging through random diffusers (Luo et al., eLight 2022)", ImagingConfig,
          runtime={"smoke": "5 s", "cpu": "≈30 min idle (1,000 objects × 30 epochs × 12 diffusers on a 120² grid)",
                   "paper": "GPU: 50k × 100 epochs × 20 diffusers on 240² (≈10⁸ object–diffuser passes; a day-scale run)",
                   "full-window": "≈3 h on 2 cores with torchrun --nproc_per_node 2 (published 240² geometry, 2k × 25 × 12)"},
          scales=SCALES, report="diffusers")
def run(cfg: ImagingConfig, out_dir: Path, *, resume: bool = False, runtime: Runtime | None = None) -> dict:
    from .record import run_figures, run_report

    rt = runtime or Runtime()
    out_dir = Path(out_dir)
    if rt.is_main:
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
        records.write_config(out_dir / "config.json", "diffuser-imaging", cfg, cfg.seed)
    t0 = time.perf_counter()
    tr = train_imaging(cfg, out_dir, resume=resume, runtime=rt)
    if not rt.is_main:
        return {}
    model, known = tr["model"], tr["known_diffusers"]
    t_eval = time.perf_counter()
    ev_res = evaluate_all(cfg, model, known)
    s = ev_res["summary"]
    s["train_wall_time_s"] = tr["wall_time_s"]
    figs = run_figures(cfg, out_dir, model, known, ev_res, tr["history"])
    s["eval_wall_time_s"] = time.perf_counter() - t_eval  # evaluation and figures
    s["invocation_wall_time_s"] = time.perf_counter() - t0  # this call (a resumed run trains only the rest)
    s["total_wall_time_s"] = tr["wall_time_s"] + s["eval_wall_time_s"]  # training over all calls + evaluation
    hist = tr["history"]
    datasets = {
        "phase_masks": (model.phase.detach().cpu(), "rad"),
        "known_diffuser_phase": (known.angle(), "rad (wrapped)"),
        "pcc_known": (ev_res["pairs"]["pcc_known_pairs"], "1 (test object × known diffuser)"),
        "pcc_new": (ev_res["pairs"]["pcc_new_pairs"], "1 (test object × new diffuser)"),
        "pcc_none": (ev_res["pairs"]["pcc_none_pairs"], "1 (test object)"),
        **{f"pcc_{n}_{reg}": (ev_res["pairs"][f"pcc_{n}_{reg}_pairs"], f"1 (PCC over the {reg} region)")
           for n in ("known", "new", "none") for reg in ("support", "canvas")},
        "history/loss": ([h["loss"] for h in hist], "1 (−PCC + E)"),
        "history/val_pcc_known": ([h["val_pcc_known"] for h in hist], "1"),
        "history/val_pcc_new": ([h["val_pcc_new"] for h in hist], "1"),
        **{f"history/val_pcc_new_{reg}": ([h[f"val_pcc_new_{reg}"] for h in hist], f"1 (PCC over the {reg} region)")
           for reg in ("support", "canvas")},
        "gratings/period": (ev_res["periods"], "m"),
        "gratings/fitted_period": ([[f["period_m"] for f in row] for row in ev_res["grating_fits"]],
                                   "m (grating × new diffuser)"),
        "gratings/output": (ev_res["grating_out"][:, 0], "intensity, input units (first new diffuser)"),
    }
    records.write_results(out_dir / "results.h5", attrs={
        "experiment": "diffuser-imaging", "seed": cfg.seed, "config": dataclasses.asdict(cfg),
        "versions": records.versions(), "summary": s, "published": PUBLISHED,
        "units": "PCC dimensionless; lengths m; times s; pcc_* without a suffix: central object_px square; "
                 "_support: object > 0; _canvas: whole window"}, datasets=datasets)
    records.atomic_torch_save({"phase": model.phase.detach().cpu(), "known_diffusers": known, "config": dataclasses.asdict(cfg)},
                              out_dir / "model.pt")
    records.atomic_json(out_dir / "summary.json", s, indent=2)
    report = run_report(cfg, s, figs, tr["wall_time_s"])
    records.atomic_text(out_dir / "report.md", report)
    return {k: v for k, v in s.items() if k not in ("gratings", "lens_geometry")}
