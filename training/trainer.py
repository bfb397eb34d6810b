"""One training loop for every method (docs/training.md, docs/design.md#training).

Methods (``TrainConfig.method``):

* ``ideal`` — train the error-free numerical model; deploy as is ("direct deploy").
* ``noise`` — sample a fresh error realization from an error model every step and train
  through it (misalignment "vaccination", Mengu et al. 2020, and friends).
* ``pat`` — physics-aware training (Wright et al. 2022): the loss is evaluated on the
  physical system's measured output; gradients flow through the ideal model at the same
  inputs and parameters (:class:`training.fusion.PhysicalForward`). ``pat_fusion="scores"``
  (default; the PAT baseline of the DAT paper's reference code, THPCILab/DAT_MPNN) replaces
  the class scores by the measured ones and differentiates the numerical model at its own
  states; ``"field"`` fuses the measured amplitude into the numerical output field before
  detection (as DAT's state fusion does), so the detection Jacobian is taken at the measured
  amplitudes — a stronger variant. With ``internal_states`` every measured internal layer is
  fused as well (amplitude fusion: the next layer needs a complex field).
* ``dat`` — dual adaptive training (Zheng et al. 2023): one SEPN per photonic layer corrects
  the numerical model (``z ← z + w·SEPN(z)``, identity at start). Each step (1) measures the
  physical outputs (and internal states with ``internal_states``), (2) updates the SEPNs on
  the similarity loss between numerical and measured normalised intensities, (3) runs the
  numerical model again with SEPN weight w (0 during ``dat_warmup_epochs``, then 1), (4) fuses
  measured amplitudes with numerical phases (output; every layer with internal states) and
  updates the PNN on the task loss through the numerical model including the SEPNs.
  ``joint=True`` reproduces the reference code, whose similarity gradients also reach the
  PNN phases and are not cleared before step 4. The measurement of step 1 is reused in step
  4 (parameters do not change in between): one physical query per step, where the
  reference code spends two.

Model selection uses a held-out validation split (never the test set). ``select_on="auto"``
selects on the physical system for the methods that train against it (``pat``, ``dat``) and
on the numerical model for ``ideal`` and ``noise``: direct deployment means no access to the
hardware before deployment, so its epoch must not be picked by physical measurements (the
physical system, when given, is then only used to report the deployed accuracy). Checkpoints
are written atomically every epoch (with a checksum, the previous one kept as a fallback,
:mod:`training.checkpoint`) and resume exactly (same final parameters as an uninterrupted run
with the same seed).

One engine for every task. Besides the classification tasks, a task may define

* ``objective(out, x, y)`` — the training loss of the numerical output (default: softmax
  cross-entropy of ``scores(intensity(out))`` against the labels ``y``);
* ``start_epoch(epoch)`` — per-epoch state drawn from the epoch number alone (e.g. the
  diffusers of an imaging epoch), so that a resumed run draws the same;
* ``validate(x, y, *, ctx, batch_size)`` — validation metrics (a dict of floats, reduced over
  ranks) with ``selection_metric`` naming the one to select on (default: accuracy).

Devices and ranks: ``TrainConfig.device`` (``auto`` = CUDA when available) holds the task,
SEPNs, physical system and every batch (data stay on the CPU and move per batch, from pinned
memory on CUDA). Under ``torchrun`` each rank trains on its shard of every global batch and
gradients are summed over ranks (:mod:`training.distributed`); one process is unchanged bit
for bit.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from photonics.functional import jacobian_at

from .checkpoint import CheckpointError, load_checkpoint, load_module_state, save_checkpoint
from .config import LEGACY_CONFIG, METHODS, RUNTIME_KEYS, TrainConfig
from .data import validation_count
from .distributed import DistContext, resolve_device
from .fusion import fuse_amplitude, fused_amplitude, physical_forward
from .losses import reference_similarity_loss, scaled_cross_entropy, similarity_loss
from .metrics import batch_order, check_labels, evaluate, task_device, to_device
from .progress import progress_bar, write as progress_write
from .records import with_legacy

__all__ = ["METHODS", "TrainConfig", "Trainer", "RUNTIME_KEYS"]


class _frozen:
    """Context: ``params`` do not require gradients inside (restored on exit)."""

    def __init__(self, params):
        self.params = [p for p in params if p.requires_grad]

    def __enter__(self):
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for p in self.params:
            p.requires_grad_(True)
        return False


def _errors_to(errors, device):
    """An error realization (or a list/tuple of them, or of tensors) on ``device``."""
    if isinstance(errors, (list, tuple)):
        return type(errors)(_errors_to(e, device) for e in errors)
    return errors.to(device) if hasattr(errors, "to") else errors


class Trainer:
    """Trains ``task`` by one method (module docstring).

    Args:
        task: the model wrapped in its task (:mod:`training.tasks`).
        config: a :class:`TrainConfig`.
        physical: a physical system wrapping ``task.device_model`` (needed by ``pat`` and
            ``dat``; used for physical validation when given).
        error_model: an error model (``hardware`` presets) for ``noise``.
        ctx: the rank and device (:func:`training.distributed.init`); default one process on
            ``config.device``.
        logger: optional ``logger(record: dict)`` called on rank 0 after every epoch (e.g.
            :class:`training.tracking.TensorBoardLogger`).
    """

    def __init__(self, task, config: TrainConfig, *, physical=None, error_model=None, ctx: DistContext | None = None,
                 logger: Callable | None = None):
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.ctx = ctx if ctx is not None else DistContext(device=resolve_device(config.device))
        self.task, self.config, self.physical, self.error_model = task, config, physical, error_model
        self.logger = logger
        m = config.method
        if m in ("pat", "dat") and physical is None:
            raise ValueError(f"method {m!r} trains against hardware: pass physical=PhysicalSystem(...)")
        if m == "noise" and error_model is None:
            raise ValueError("method 'noise' samples fresh errors every step: pass error_model= "
                             "(e.g. hardware.error_model(family, 'medium', ...))")
        if m == "dat" and config.dat_fusion == "reference" and task.family != "mesh":
            raise ValueError(f"dat_fusion='reference' is the interference-mesh reference code's rule; the task is "
                             f"{task.family!r}: use dat_fusion='carry'")
        if physical is not None and physical.family != task.family:
            raise ValueError(f"the physical system is {physical.family!r} but the task is {task.family!r}")
        dev = self.ctx.device
        task.to(dev)
        if physical is not None:
            if hasattr(physical, "to"):
                physical.to(dev)
            if self.ctx.distributed and hasattr(physical, "fork_noise"):
                physical.fork_noise(self.ctx.rank)  # independent detector noise on every rank
        # foreach: one kernel per step for all tensors instead of a Python loop over them (the
        # CPU default); the same arithmetic, ~17 ms less per DAT step of the MPNN (of ~150 ms
        # that do not scale with the batch)
        self.pnn_opt = torch.optim.Adam(task.pnn_parameters(), lr=config.lr, eps=config.adam_eps, foreach=True)
        self.pnn_sched = torch.optim.lr_scheduler.StepLR(self.pnn_opt, config.lr_step_epochs, config.lr_gamma)
        self.sepns = None
        if m == "dat":
            from .sepn import SEPN

            self.sepns = nn.ModuleList(
                SEPN(config.sepn_features, kernel_size=config.sepn_kernel, dtype=task.complex_dtype,
                     generator=torch.Generator().manual_seed(config.seed * 7919 + 101 + i))
                for i in range(task.n_layers)).to(dev)
            self.sepn_opt = torch.optim.Adam(self.sepns.parameters(), lr=config.sepn_lr, foreach=True)
            gamma = config.lr_gamma if config.sepn_lr_gamma is None else config.sepn_lr_gamma
            self.sepn_sched = torch.optim.lr_scheduler.StepLR(self.sepn_opt, config.lr_step_epochs, gamma)
        self.history: list[dict] = []
        self.epoch = 0
        self.best = {"accuracy": -1.0, "epoch": -1, "state": None}
        self._queries = {"train": 0, "validation": 0}  # measurement rounds of global batches (reduced)
        self._samples = {"train": 0, "validation": 0}  # measured samples, all ranks (reduced)
        self._calls = {"train": 0, "validation": 0}     # this rank's calls since the last reduction
        self._measured = {"train": 0, "validation": 0}
        self._partial = {"step": 0, "sums": {}, "err_gen": None}  # progress inside an interrupted epoch
        # training time over all invocations, checkpointed: wall (rank 0's clock) and CPU (all ranks, all
        # threads); epochs with their validation, not the setup or the tests [s]
        self.wall_time_s = 0.0
        self._cpu_before_s = 0.0  # CPU seconds of earlier invocations, summed over their ranks
        self._cpu_here_s = 0.0  # this process's CPU seconds in this invocation

    # -- one step per method -----------------------------------------------------------
    def _sepn_hook(self, weight: float, fuse_with=None, fuse_layers=(), *, carry: bool = True):
        """Per-layer hook: add ``weight`` × SEPN correction, then fuse the measured amplitude
        ``fuse_with[i]`` into layer ``i`` for ``i`` in ``fuse_layers`` — carried forward
        (``carry``), or only as the point where the next activation is differentiated."""
        task = self.task
        fuse_layers = frozenset(fuse_layers)
        last_only = self.config.sepn_layers == "last"

        def hook(i, z):
            if self.sepns is not None and weight and not (last_only and i != task.n_layers - 1):
                img = task.to_image(z)
                z = z + weight * task.from_image(self.sepns[i](img), z)
            if fuse_with is not None and i in fuse_layers:
                if not carry:
                    return z, fused_amplitude(z, fuse_with[i].reshape(z.shape))
                z = fuse_amplitude(z, fuse_with[i].reshape(z.shape))
            return z

        return hook

    def sepn_weight(self, epoch: int | None = None) -> float:
        """The SEPN correction weight w of ``dat`` in (0-based) ``epoch`` (default: the current
        one): 0 during the warm-up, then k/R in the k-th epoch after it while ramping over
        R = ``sepn_ramp_epochs`` epochs, then 1."""
        cfg = self.config
        k = (self.epoch if epoch is None else epoch) - cfg.dat_warmup_epochs + 1
        if k <= 0:
            return 0.0
        return min(1.0, k / cfg.sepn_ramp_epochs) if cfg.sepn_ramp_epochs > 1 else 1.0

    def _program(self) -> None:
        """Write the current PNN parameters into the hardware (as an experimenter would)."""
        self.physical.load_parameters(self.task.device_model.state_dict())

    def _count(self, kind: str, before: int, n: int) -> None:
        self._calls[kind] += self.physical.queries - before
        self._measured[kind] += n

    @property
    def queries(self) -> dict:
        """Physical measurement rounds ``{"train", "validation"}``: one per measured global
        batch, whatever the number of ranks (this rank's count until the epoch's reduction)."""
        return {k: v + self._calls[k] for k, v in self._queries.items()}

    @property
    def samples(self) -> dict:
        """Measured samples ``{"train", "validation"}`` summed over ranks."""
        return {k: v + self._measured[k] for k, v in self._samples.items()}

    def _reduce_queries(self) -> None:
        """Fold this rank's measurement calls into the run totals (same numbers as one process:
        the shards of one global batch are one measurement round; samples add up)."""
        for kind in ("train", "validation"):
            calls, measured = self.ctx.max(self._calls[kind]), self.ctx.sum(self._measured[kind])
            self._queries[kind] += calls
            self._samples[kind] += measured
            self._calls[kind] = self._measured[kind] = 0

    def _measure(self, x, n: int):
        """Measured output and internal intensities, the output being the detector reading."""
        self._program()
        before = self.physical.queries
        reading, taps = self.physical.measure(x, internal_states=True)
        self._count("train", before, n)
        return reading, list(taps[:-1]) + [reading.reshape(taps[-1].shape)]

    def _objective(self, out, x, y):
        task = self.task
        if hasattr(task, "objective"):
            return task.objective(out, x, y), None
        scores = task.scores(task.intensity(out))
        return self._task_loss(scores, y), scores

    def _task_loss(self, scores, labels):
        """Cross-entropy of the class scores times ``config.score_scale``."""
        return scaled_cross_entropy(scores, labels, self.config.score_scale)

    def _backward(self, loss, n_local: int, n_global: int | None) -> None:
        scale = self.ctx.loss_scale(n_local, n_global or n_local)
        (loss if scale is None else loss * scale).backward()

    def _joint(self) -> bool:
        """Whether DAT's similarity gradients reach the PNN phases (and stay for the task step)."""
        cfg = self.config
        return cfg.method == "dat" and (cfg.joint or (cfg.dat_fusion == "reference" and cfg.reference_joint))

    def step(self, images: torch.Tensor, labels: torch.Tensor, *, generator=None, n_global: int | None = None) -> dict:
        """One optimisation step on a batch (this rank's shard of a global batch of
        ``n_global`` samples; default: the batch is the global batch). Returns local stats."""
        cfg, task, ctx = self.config, self.task, self.ctx
        images, labels = to_device(images, ctx.device), to_device(labels, ctx.device)
        n_local = len(labels)
        x = task.encode(images)
        stats = {}
        if cfg.method in ("ideal", "noise"):
            loss, scores = self._numeric_loss(x, labels, generator)
        elif cfg.method == "pat":
            loss, scores = self._pat_loss(x, labels, n_local)
        else:
            loss, scores = self._dat_loss(x, labels, n_local, n_global, stats)
        if not self._joint():
            self.pnn_opt.zero_grad()
        self._backward(loss, n_local, n_global)
        ctx.all_reduce_grads(self.pnn_opt.param_groups[0]["params"])
        self.pnn_opt.step()
        stats["loss"] = float(loss.detach())
        if scores is not None:
            stats["accuracy"] = int((scores.detach().argmax(-1) == labels).sum()) / n_local  # exact count
        return stats

    def _numeric_loss(self, x, labels, generator):
        """``ideal`` and ``noise``: the task loss of the numerical model (through a fresh error
        realization drawn from ``generator`` for ``noise``) and its class scores."""
        task, cfg = self.task, self.config
        errors = task.sample_errors(self.error_model, generator) if cfg.method == "noise" else None
        if errors is not None and self.ctx.device.type != "cpu":
            errors = _errors_to(errors, self.ctx.device)
        out, _ = task.numeric(x, errors=errors)
        return self._objective(out, x, labels)

    def _pat_loss(self, x, labels, n_local: int):
        """``pat``: the measured scores (or, ``pat_fusion="field"``, the measured output amplitude)
        forward, the numerical model's Jacobian backward."""
        task, cfg = self.task, self.config
        n = task.n_layers
        reading, taps = self._measure(x, n_local)
        field = cfg.pat_fusion == "field"
        fuse = set(range(n - 1)) if cfg.internal_states else set()
        if field:
            fuse.add(n - 1)
        out, _ = task.numeric(x, hook=self._sepn_hook(0.0, taps, fuse) if fuse else None)
        if field:
            scores = task.scores(physical_forward(task.intensity(out), reading))
        else:  # the measured scores forward, the numerical model's own Jacobian backward
            scores = physical_forward(task.scores(task.intensity(out)), task.scores(reading))
        return self._task_loss(scores, labels), scores

    def _dat_loss(self, x, labels, n_local: int, n_global: int | None, stats: dict):
        """``dat``: measure, step the SEPNs on the similarity loss (steps 1-2 of the module
        docstring), then the task loss of the numerical model with SEPN weight w and the
        measured states fused in (steps 3-4) and its class scores."""
        task, cfg, ctx = self.task, self.config, self.ctx
        n = task.n_layers
        reference, joint = cfg.dat_fusion == "reference", self._joint()
        reading, taps = self._measure(x, n_local)
        # the similarity step updates the SEPNs only: unless joint, the PNN's gradients of
        # it are not computed (they would be discarded), nor the SEPNs' in the task step
        with _frozen(() if joint else task.pnn_parameters()):
            _, states = task.numeric(x, hook=self._sepn_hook(1.0))
        num = [task.intensity(s) for s in states]
        if not cfg.internal_states:
            num, taps_sim = num[-1:], taps[-1:]
        else:
            taps_sim = taps
        sim = reference_similarity_loss(task, num, taps_sim) if reference else similarity_loss(num, taps_sim)
        self.sepn_opt.zero_grad()
        self.pnn_opt.zero_grad()  # joint: the similarity gradients stay for the task step
        self._backward(sim, n_local, n_global)
        ctx.all_reduce_grads(self.sepns.parameters())
        self.sepn_opt.step()
        w = self.sepn_weight()
        # carry fuses the output in the hook too; reference differentiates |u|² at it below
        fuse = [*(range(n - 1) if cfg.internal_states else ()), *(() if reference else (n - 1,))]
        with _frozen(self.sepns.parameters()):
            out, _ = task.numeric(x, hook=self._sepn_hook(w, taps, fuse, carry=not reference))
        if reference:  # numerical values forward; activations and |u|² differentiated at the fused fields
            v = jacobian_at(task.intensity, out, fused_amplitude(out, reading.reshape(out.shape)))
            scores = physical_forward(task.scores(v), task.scores(reading.reshape(v.shape)))
        else:
            scores = task.scores(physical_forward(task.intensity(out), reading))
        stats["similarity"] = float(sim.detach())
        return self._task_loss(scores, labels), scores

    # -- validation and selection --------------------------------------------------------
    def _select_physical(self) -> bool:
        if self.config.select_on == "auto":
            return self.physical is not None and self.config.method in ("pat", "dat")
        if self.config.select_on == "physical" and self.physical is None:
            raise ValueError("select_on='physical' needs a physical system")
        return self.config.select_on == "physical"

    @property
    def selection_metric(self) -> str:
        return getattr(self.task, "selection_metric", "accuracy")

    def validate(self, images, labels, *, physical: bool = False) -> dict:
        """Validation metrics of the current parameters (numerical, or measured)."""
        if hasattr(self.task, "validate"):
            if physical:
                raise ValueError("this task validates numerically only")
            with torch.no_grad():
                return self.task.validate(images, labels, ctx=self.ctx, batch_size=self.config.eval_batch_size)
        if physical:
            self._program()
            before = self.physical.queries
        r = evaluate(self.task, images, labels, physical=self.physical if physical else None,
                     batch_size=self.config.eval_batch_size, ctx=self.ctx, score_scale=self.config.score_scale)
        if physical:
            self._count("validation", before, r["local_samples"])
        return {"accuracy": r["accuracy"], "loss": r["loss"]}

    def split(self, n: int):
        """Deterministic train/validation indices for ``n`` samples."""
        g = torch.Generator().manual_seed(self.config.seed)
        perm = torch.randperm(n, generator=g)
        n_val = validation_count(n, self.config.val_fraction)
        return perm[n_val:], perm[:n_val]

    # -- checkpoints ---------------------------------------------------------------------
    def _state(self) -> dict:
        s = {"format": 2, "epoch": self.epoch, "task": copy.deepcopy(self.task.state_dict()),
             "pnn_opt": self.pnn_opt.state_dict(), "pnn_sched": self.pnn_sched.state_dict(),
             "history": self.history, "best": self.best, "queries": dict(self.queries),
             "samples": dict(self.samples), "config": asdict(self.config), "world_size": self.ctx.world_size,
             "partial": self._partial, "wall_time_s": self.wall_time_s, "cpu_time_s": self._cpu_time()}
        if self.sepns is not None:
            s.update(sepns=self.sepns.state_dict(), sepn_opt=self.sepn_opt.state_dict(),
                     sepn_sched=self.sepn_sched.state_dict())
        if self.physical is not None:
            s["physical"] = self.ctx.gather(self.physical.state_dict())  # one per rank (noise streams)
        return s

    def _cpu_time(self) -> float:
        """Training CPU seconds over all invocations and ranks (collective under torch.distributed)."""
        return self._cpu_before_s + float(self.ctx.sum(self._cpu_here_s))

    def _clock(self, since: tuple[float, float]) -> tuple[float, float]:
        """Add the wall and CPU time since ``since`` (perf_counter, process_time) to the training
        time; returns the new mark."""
        now = time.perf_counter(), time.process_time()
        self.wall_time_s += now[0] - since[0]
        self._cpu_here_s += now[1] - since[1]
        return now

    def _load(self, s: dict, path) -> None:
        if s.get("format") != 2:
            raise CheckpointError(f"{path} was written by an older onnsim (no format 2); start again with --overwrite")
        free = RUNTIME_KEYS + ("epochs",)  # a run may be extended by more epochs
        stored = {k: v for k, v in s["config"].items() if k not in free}
        now = {k: v for k, v in asdict(self.config).items() if k not in free}
        stored["sepn_features"] = tuple(stored.get("sepn_features", ()))
        stored = with_legacy(stored, LEGACY_CONFIG)  # written before an option existed: what the run used
        for c in (stored, now):  # compare the SEPN rate's factor in effect (None: lr_gamma's)
            if c.get("sepn_lr_gamma") is None:
                c["sepn_lr_gamma"] = c.get("lr_gamma")
        diff = sorted(k for k in set(stored) | set(now) if stored.get(k) != now.get(k))
        if diff:
            changes = ", ".join(f"{k}: {stored.get(k)!r} -> {now.get(k)!r}" for k in diff)
            raise CheckpointError(f"{path} was trained with other settings ({changes}); resume with the same "
                                  "settings or start again with --overwrite")
        if s["world_size"] != self.ctx.world_size and self.physical is not None:
            raise CheckpointError(f"{path} was written by {s['world_size']} rank(s), this run has "
                                  f"{self.ctx.world_size}: resume with the same number of processes")
        self.epoch = s["epoch"]
        load_module_state(self.task, s["task"], path, "model")
        self.pnn_opt.load_state_dict(s["pnn_opt"])
        self.pnn_sched.load_state_dict(s["pnn_sched"])
        self.history, self.best = s["history"], s["best"]
        self._queries, self._samples = dict(s["queries"]), dict(s["samples"])
        self._partial = s["partial"]
        self.wall_time_s = s["wall_time_s"]
        # checkpoints from before CPU time was kept count it from this resume on
        self._cpu_before_s, self._cpu_here_s = s.get("cpu_time_s", 0.0), 0.0
        if self.sepns is not None:
            load_module_state(self.sepns, s["sepns"], path, "SEPNs")
            self.sepn_opt.load_state_dict(s["sepn_opt"])
            self.sepn_sched.load_state_dict(s["sepn_sched"])
        if self.physical is not None and "physical" in s:
            self.physical.load_state_dict(s["physical"][self.ctx.rank])

    def resume_from(self, checkpoint) -> bool:
        """Load ``checkpoint`` (verified; a corrupt latest one falls back to the previous);
        False when there is none."""
        s = load_checkpoint(checkpoint, map_location=self.ctx.device)
        if s is None:
            return False
        self._load(s, checkpoint)
        return True

    # -- the loop ------------------------------------------------------------------------
    def fit(self, images: torch.Tensor, labels: torch.Tensor, *, val=None, checkpoint: str | Path | None = None,
            resume: bool = False, progress: bool = True, should_stop: Callable[[], bool] | None = None,
            save_every_s: float | None = 600.0, save_every_epochs: int = 1) -> dict:
        """Train for ``config.epochs`` epochs; returns the history and the selected state.

        Args:
            images: training inputs (on the CPU; batches move to the device).
            labels: training targets, one per image.
            val: ``(images, labels)`` for validation; default: ``val_fraction`` held out.
            checkpoint: file written after every ``save_every_epochs``-th epoch, after the last
                and at a stop (rank 0); ``resume`` continues from it.
                Under torchrun give every rank the same path: all ranks take part in a save.
            should_stop: polled after every step; when it returns True the loop stops after
                writing the checkpoint (``interrupted`` is then True in the result).
            save_every_s: inside an epoch, also write the checkpoint (where the epoch stands, as a
                stop does) once this many seconds have passed since the last write, so that a
                killed run loses at most that much (None: at epoch ends only). Rank 0's clock
                decides for all ranks. One process continues bit for bit as without it.
            save_every_epochs: epochs between two end-of-epoch checkpoints (≥ 1; a task whose
                epoch is a single step, such as a design task, saves every N steps instead of
                every step). A resumed run repeats the epochs since the last checkpoint and, the
                training being deterministic, ends the same.
        """
        cfg, ctx = self.config, self.ctx
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        classes = getattr(self.task, "n_classes", None)
        if classes is not None or not hasattr(self.task, "objective"):  # a classifier: indices its readout has
            check_labels(labels, len(images), classes)
            if val is not None:
                check_labels(val[1], len(val[0]), classes, name="validation labels")
        if not isinstance(save_every_epochs, int) or isinstance(save_every_epochs, bool) or save_every_epochs < 1:
            raise ValueError(f"save_every_epochs must be an int ≥ 1, got {save_every_epochs!r}")
        if checkpoint is not None and resume:
            self.resume_from(checkpoint)
        if val is None:
            train_idx, val_idx = self.split(len(labels))
            if len(val_idx) == 0:
                raise ValueError("validation split is empty: raise val_fraction or give more samples")
            val_x, val_y = images[val_idx], labels[val_idx]
        else:
            train_idx, (val_x, val_y) = torch.arange(len(labels)), val
        if len(train_idx) == 0:
            raise ValueError("no training samples left after the validation split")
        use_physical = self._select_physical()
        interrupted = False
        while self.epoch < cfg.epochs and not interrupted:
            mark = time.perf_counter(), time.process_time()
            if hasattr(self.task, "start_epoch"):
                self.task.start_epoch(self.epoch)
            if (self.sepns is not None and cfg.dat_lr_factor != 1 and self.epoch == cfg.dat_warmup_epochs
                    and self._partial["step"] == 0):  # once: a checkpoint inside this epoch holds the lowered rate
                for group in self.pnn_opt.param_groups:
                    group["lr"] *= cfg.dat_lr_factor
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.epoch)
            err_gen = torch.Generator().manual_seed(cfg.seed * 1_000_033 + self.epoch + 17)
            batches = list(batch_order(len(train_idx), cfg.batch_size, gen))
            start = self._partial["step"]
            sums = dict(self._partial["sums"]) if ctx.is_main else {}  # partial sums are global totals
            if start:
                err_gen.set_state(self._partial["err_gen"])
            bar = progress_bar(batches, desc=f"{cfg.method} epoch {self.epoch + 1}/{cfg.epochs}", leave=False,
                               initial=start, enabled=progress and ctx.is_main)
            periodic = checkpoint is not None and save_every_s is not None
            polling = bool(ctx.broadcast(should_stop is not None or periodic))  # rank 0's say, for every rank
            last_save = time.monotonic()
            for j, b in enumerate(batches):
                if j < start:
                    continue
                idx = train_idx[ctx.shard(b)]
                st = self.step(images[idx], labels[idx], generator=err_gen, n_global=len(b))
                for k, v in st.items():
                    sums[k] = sums.get(k, 0.0) + v * len(idx)
                bar.update(1)
                bar.set_postfix(loss=f"{st['loss']:.3f}", refresh=False)
                if j + 1 == len(batches) or not polling:
                    continue
                # a safe point inside the epoch; one decision for all ranks: 0 go on, 1 save, 2 stop
                decision = 0
                if ctx.is_main:
                    if should_stop is not None and should_stop():
                        decision = 2
                    elif periodic and time.monotonic() - last_save >= save_every_s:
                        decision = 1
                decision = int(ctx.broadcast(decision))
                if decision:
                    # keep where we are, the partial sums (as global totals) and the error stream
                    keys = sorted(sums)
                    self._partial = {"step": j + 1, "sums": dict(zip(keys, ctx.sum([sums[k] for k in keys]))),
                                     "err_gen": err_gen.get_state()}
                if decision == 2:
                    interrupted = True
                    break
                if decision == 1:
                    mark = self._clock(mark)
                    self._reduce_queries()
                    self._save(checkpoint)
                    # go on exactly as a run resumed from this checkpoint would
                    sums = dict(self._partial["sums"]) if ctx.is_main else {}
                    last_save = time.monotonic()
            bar.close()
            if interrupted:
                self._clock(mark)
                self._reduce_queries()
                self._save(checkpoint)
                break
            self._partial = {"step": 0, "sums": {}, "err_gen": None}
            keys = sorted(sums)
            totals = ctx.sum([sums[k] for k in keys])
            record = {k: t / len(train_idx) for k, t in zip(keys, totals)}
            record["epoch"] = self.epoch + 1
            record["lr"] = self.pnn_opt.param_groups[0]["lr"]
            if self.sepns is not None:
                record["sepn_lr"], record["sepn_weight"] = self.sepn_opt.param_groups[0]["lr"], self.sepn_weight()
            val = self.validate(val_x, val_y, physical=use_physical)
            record.update({f"val_{k}": v for k, v in val.items()})
            self._reduce_queries()
            self.history.append(record)
            score = val[self.selection_metric]
            if cfg.select == "last" or score > self.best["accuracy"]:
                self.best = {"accuracy": score, "epoch": self.epoch + 1,
                             "state": copy.deepcopy(self.task.state_dict())}
            self.pnn_sched.step()
            if self.sepns is not None:
                self.sepn_sched.step()
            self.epoch += 1
            self._clock(mark)  # the epoch and its validation
            interrupted = (should_stop is not None and self.epoch < cfg.epochs
                           and bool(ctx.broadcast(bool(should_stop()))))
            if interrupted or self.epoch == cfg.epochs or self.epoch % save_every_epochs == 0:
                self._save(checkpoint)
            if ctx.is_main and self.logger is not None:
                self.logger(record)
            if progress and ctx.is_main:
                shown = ", ".join(f"val {k} {v:.4f}" for k, v in val.items() if k != "loss")
                progress_write(f"[{cfg.method}] epoch {self.epoch}: loss {record['loss']:.4f}, "
                               f"{'(physical) ' if use_physical else ''}{shown}")
        return {"history": self.history, "best_epoch": self.best["epoch"], "best_val_accuracy": self.best["accuracy"],
                "best_val": self.best["accuracy"], "queries": dict(self.queries), "samples": dict(self.samples),
                "interrupted": interrupted, "wall_time_s": self.wall_time_s, "cpu_time_s": self._cpu_time()}

    def _save(self, checkpoint) -> None:
        if checkpoint is None:
            return
        state = self._state()  # collective (gathers the ranks' noise streams)
        if self.ctx.is_main:
            save_checkpoint(state, checkpoint)
        self.ctx.barrier()

    def load_best(self) -> None:
        """Load the validation-selected parameters into the task."""
        if self.best["state"] is None:
            raise RuntimeError("no epoch finished yet: call fit() first")
        self.task.load_state_dict(self.best["state"])
