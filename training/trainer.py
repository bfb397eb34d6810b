"""One training loop for every method (DESIGN.md §5, REFERENCE.md §A).

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
are written atomically every epoch and resume exactly (same final parameters as an
uninterrupted run with the same seed).
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .fusion import fuse_amplitude, physical_forward
from .losses import normalized_intensity_mse
from .metrics import confusion_matrix

__all__ = ["METHODS", "TrainConfig", "Trainer", "evaluate"]

METHODS = ("ideal", "noise", "pat", "dat")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (SI units; epochs and counts are plain numbers)."""

    method: str = "ideal"
    epochs: int = 5
    batch_size: int = 100
    lr: float = 1e-3
    lr_step_epochs: int = 10
    lr_gamma: float = 0.5
    sepn_lr: float = 1e-3
    sepn_features: tuple = (4, 8, 16)
    sepn_kernel: int = 3
    dat_warmup_epochs: int = 0
    internal_states: bool = False
    pat_fusion: str = "scores"
    joint: bool = False
    val_fraction: float = 0.1
    select_on: str = "auto"
    eval_batch_size: int = 1000
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown training method {self.method!r}; choose one of {', '.join(METHODS)}")
        for name in ("epochs", "batch_size", "lr_step_epochs", "eval_batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        for name in ("lr", "sepn_lr", "lr_gamma"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.pat_fusion not in ("scores", "field"):
            raise ValueError(f"pat_fusion must be 'scores' or 'field', got {self.pat_fusion!r}")
        if self.select_on not in ("auto", "physical", "numeric"):
            raise ValueError(f"select_on must be 'auto', 'physical' or 'numeric', got {self.select_on!r}")
        if not isinstance(self.dat_warmup_epochs, int) or self.dat_warmup_epochs < 0:
            raise ValueError(f"dat_warmup_epochs must be an int ≥ 0, got {self.dat_warmup_epochs!r}")
        object.__setattr__(self, "sepn_features", tuple(self.sepn_features))


def similarity_loss(numeric_states, measured_states) -> torch.Tensor:
    """Mean over layers of the MSE between L2-normalised numerical and measured intensities
    (each sample's state flattened to one vector)."""
    terms = [normalized_intensity_mse(n.flatten(1), m.to(n.dtype).flatten(1))
             for n, m in zip(numeric_states, measured_states)]
    return torch.stack(terms).mean()


def _batches(n: int, batch_size: int, generator: torch.Generator | None):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def evaluate(task, images, labels, *, physical=None, batch_size: int = 1000) -> dict:
    """Accuracy, mean cross-entropy and confusion matrix, numerically or on ``physical``."""
    correct, loss_sum = 0, 0.0
    n_classes = None
    preds = []
    with torch.no_grad():
        for idx in _batches(len(labels), batch_size, None):
            x = task.encode(images[idx])
            if physical is None:
                out, _ = task.numeric(x)
                scores = task.scores(task.intensity(out))
            else:
                scores = task.scores(physical.measure(x))
            y = labels[idx]
            loss_sum += float(F.cross_entropy(scores, y, reduction="sum"))
            p = scores.argmax(-1)
            preds.append(p)
            correct += int((p == y).sum())
            n_classes = scores.shape[-1]
    confusion = confusion_matrix(torch.cat(preds), labels, n_classes)
    return {"accuracy": correct / len(labels), "loss": loss_sum / len(labels), "confusion": confusion}


class Trainer:
    """Trains ``task`` (a :class:`training.tasks.MeshTask` or ``DiffractiveTask``) by one method.

    Args:
        task: the model wrapped in its task.
        config: a :class:`TrainConfig`.
        physical: a :class:`hardware.PhysicalSystem` wrapping ``task.device_model`` (needed by
            ``pat`` and ``dat``; used for physical validation when given).
        error_model: an error model (``hardware`` presets) for ``noise``.
    """

    def __init__(self, task, config: TrainConfig, *, physical=None, error_model=None):
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.task, self.config, self.physical, self.error_model = task, config, physical, error_model
        m = config.method
        if m in ("pat", "dat") and physical is None:
            raise ValueError(f"method {m!r} trains against hardware: pass physical=PhysicalSystem(...)")
        if m == "noise" and error_model is None:
            raise ValueError("method 'noise' samples fresh errors every step: pass error_model= "
                             "(e.g. hardware.error_model(family, 'medium', ...))")
        if physical is not None and physical.family != task.family:
            raise ValueError(f"the physical system is {physical.family!r} but the task is {task.family!r}")
        self.pnn_opt = torch.optim.Adam(task.pnn_parameters(), lr=config.lr)
        self.pnn_sched = torch.optim.lr_scheduler.StepLR(self.pnn_opt, config.lr_step_epochs, config.lr_gamma)
        self.sepns = None
        if m == "dat":
            from .sepn import SEPN

            self.sepns = nn.ModuleList(
                SEPN(config.sepn_features, kernel_size=config.sepn_kernel, dtype=task.complex_dtype,
                     generator=torch.Generator().manual_seed(config.seed * 7919 + 101 + i))
                for i in range(task.n_layers))
            self.sepn_opt = torch.optim.Adam(self.sepns.parameters(), lr=config.sepn_lr)
            self.sepn_sched = torch.optim.lr_scheduler.StepLR(self.sepn_opt, config.lr_step_epochs, config.lr_gamma)
        self.history: list[dict] = []
        self.epoch = 0
        self.best = {"accuracy": -1.0, "epoch": -1, "state": None}
        self.queries = {"train": 0, "validation": 0}

    # -- one step per method -----------------------------------------------------------
    def _sepn_hook(self, weight: float, fuse_with=None, fuse_layers=()):
        """Per-layer hook: add ``weight`` × SEPN correction, then fuse the measured amplitude
        ``fuse_with[i]`` into layer ``i`` for ``i`` in ``fuse_layers``."""
        task = self.task
        fuse_layers = frozenset(fuse_layers)

        def hook(i, z):
            if self.sepns is not None and weight:
                img = task.to_image(z)
                z = z + weight * task.from_image(self.sepns[i](img), z)
            if fuse_with is not None and i in fuse_layers:
                z = fuse_amplitude(z, fuse_with[i].reshape(z.shape))
            return z

        return hook

    def _program(self) -> None:
        """Write the current PNN parameters into the hardware (as an experimenter would)."""
        self.physical.load_parameters(self.task.device_model.state_dict())

    def _measure(self, x):
        """Measured output and internal intensities, the output being the detector reading."""
        self._program()
        before = self.physical.queries
        reading, taps = self.physical.measure(x, internal_states=True)
        self.queries["train"] += self.physical.queries - before
        return reading, list(taps[:-1]) + [reading.reshape(taps[-1].shape)]

    def step(self, images: torch.Tensor, labels: torch.Tensor, *, generator=None) -> dict:
        cfg, task = self.config, self.task
        x = task.encode(images)
        n = task.n_layers
        stats = {}
        if cfg.method in ("ideal", "noise"):
            errors = task.sample_errors(self.error_model, generator) if cfg.method == "noise" else None
            out, _ = task.numeric(x, errors=errors)
            scores = task.scores(task.intensity(out))
        elif cfg.method == "pat":
            reading, taps = self._measure(x)
            field = cfg.pat_fusion == "field"
            fuse = set(range(n - 1)) if cfg.internal_states else set()
            if field:
                fuse.add(n - 1)
            out, _ = task.numeric(x, hook=self._sepn_hook(0.0, taps, fuse) if fuse else None)
            if field:
                scores = task.scores(physical_forward(task.intensity(out), reading))
            else:  # the measured scores forward, the numerical model's own Jacobian backward
                scores = physical_forward(task.scores(task.intensity(out)), task.scores(reading))
        else:  # dat
            reading, taps = self._measure(x)
            _, states = task.numeric(x, hook=self._sepn_hook(1.0))
            num = [task.intensity(s) for s in states]
            sim = similarity_loss(num, taps) if cfg.internal_states else similarity_loss(num[-1:], taps[-1:])
            self.sepn_opt.zero_grad()
            self.pnn_opt.zero_grad()  # joint: the similarity gradients stay for the task step
            sim.backward()
            self.sepn_opt.step()
            w = 0.0 if self.epoch < cfg.dat_warmup_epochs else 1.0
            fuse = range(n) if cfg.internal_states else (n - 1,)
            out, _ = task.numeric(x, hook=self._sepn_hook(w, taps, fuse))
            scores = task.scores(physical_forward(task.intensity(out), reading))
            stats["similarity"] = float(sim.detach())
        loss = F.cross_entropy(scores, labels)
        if not (cfg.method == "dat" and cfg.joint):
            self.pnn_opt.zero_grad()
        loss.backward()
        self.pnn_opt.step()
        stats["loss"] = float(loss.detach())
        stats["accuracy"] = float((scores.detach().argmax(-1) == labels).float().mean())
        return stats

    # -- epochs, selection, checkpoints -------------------------------------------------
    def _state(self) -> dict:
        s = {"epoch": self.epoch, "task": copy.deepcopy(self.task.state_dict()), "pnn_opt": self.pnn_opt.state_dict(),
             "pnn_sched": self.pnn_sched.state_dict(), "history": self.history, "best": self.best,
             "queries": dict(self.queries), "config": asdict(self.config)}
        if self.sepns is not None:
            s.update(sepns=self.sepns.state_dict(), sepn_opt=self.sepn_opt.state_dict(),
                     sepn_sched=self.sepn_sched.state_dict())
        if self.physical is not None:
            s["physical"] = self.physical.state_dict()
        return s

    def _load(self, s: dict) -> None:
        self.epoch = s["epoch"]
        self.task.load_state_dict(s["task"])
        self.pnn_opt.load_state_dict(s["pnn_opt"])
        self.pnn_sched.load_state_dict(s["pnn_sched"])
        self.history, self.best, self.queries = s["history"], s["best"], s["queries"]
        if self.sepns is not None:
            self.sepns.load_state_dict(s["sepns"])
            self.sepn_opt.load_state_dict(s["sepn_opt"])
            self.sepn_sched.load_state_dict(s["sepn_sched"])
        if self.physical is not None and "physical" in s:
            self.physical.load_state_dict(s["physical"])

    def _select_physical(self) -> bool:
        if self.config.select_on == "auto":
            return self.physical is not None and self.config.method in ("pat", "dat")
        if self.config.select_on == "physical" and self.physical is None:
            raise ValueError("select_on='physical' needs a physical system")
        return self.config.select_on == "physical"

    def split(self, n: int):
        """Deterministic train/validation indices for ``n`` samples."""
        g = torch.Generator().manual_seed(self.config.seed)
        perm = torch.randperm(n, generator=g)
        n_val = int(round(self.config.val_fraction * n))
        return perm[n_val:], perm[:n_val]

    def fit(self, images: torch.Tensor, labels: torch.Tensor, *, checkpoint: str | Path | None = None,
            resume: bool = False, progress: bool = True) -> dict:
        """Train for ``config.epochs`` epochs; returns the history and the selected state."""
        cfg = self.config
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if checkpoint is not None and resume and Path(checkpoint).exists():
            self._load(torch.load(checkpoint, map_location="cpu", weights_only=False))
        train_idx, val_idx = self.split(len(labels))
        if len(val_idx) == 0:
            raise ValueError("validation split is empty: raise val_fraction or give more samples")
        use_physical = self._select_physical()
        while self.epoch < cfg.epochs:
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.epoch)
            err_gen = torch.Generator().manual_seed(cfg.seed * 1_000_033 + self.epoch + 17)
            batches = list(_batches(len(train_idx), cfg.batch_size, gen))
            bar = tqdm(batches, desc=f"{cfg.method} epoch {self.epoch + 1}/{cfg.epochs}", disable=not progress,
                       leave=False)
            sums = {}
            for b in bar:
                idx = train_idx[b]
                st = self.step(images[idx], labels[idx], generator=err_gen)
                for k, v in st.items():
                    sums[k] = sums.get(k, 0.0) + v * len(idx)
                bar.set_postfix(loss=f"{st['loss']:.3f}")
            record = {k: v / len(train_idx) for k, v in sums.items()}
            record["epoch"] = self.epoch + 1
            record["lr"] = self.pnn_opt.param_groups[0]["lr"]
            before = 0
            if use_physical:
                self._program()
                before = self.physical.queries
            val = evaluate(self.task, images[val_idx], labels[val_idx],
                           physical=self.physical if use_physical else None, batch_size=cfg.eval_batch_size)
            if use_physical:
                self.queries["validation"] += self.physical.queries - before
            record["val_accuracy"] = val["accuracy"]
            record["val_loss"] = val["loss"]
            self.history.append(record)
            if val["accuracy"] > self.best["accuracy"]:
                self.best = {"accuracy": val["accuracy"], "epoch": self.epoch + 1,
                             "state": copy.deepcopy(self.task.state_dict())}
            self.pnn_sched.step()
            if self.sepns is not None:
                self.sepn_sched.step()
            self.epoch += 1
            if checkpoint is not None:
                tmp = Path(str(checkpoint) + ".tmp")
                torch.save(self._state(), tmp)
                os.replace(tmp, checkpoint)
            if progress:
                tqdm.write(f"[{cfg.method}] epoch {self.epoch}: loss {record['loss']:.4f}, "
                           f"val acc {'(physical) ' if use_physical else ''}{record['val_accuracy']:.4f}")
        return {"history": self.history, "best_epoch": self.best["epoch"], "best_val_accuracy": self.best["accuracy"],
                "queries": dict(self.queries)}

    def load_best(self) -> None:
        """Load the validation-selected parameters into the task."""
        if self.best["state"] is None:
            raise RuntimeError("no epoch finished yet: call fit() first")
        self.task.load_state_dict(self.best["state"])
