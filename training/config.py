"""Settings of one training run (:class:`TrainConfig`), checked when made, and the keys a
checkpoint written before a setting existed is compared with (:data:`LEGACY_CONFIG`). The methods
and the loop that uses them: :mod:`training.trainer`."""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Literal

from .distributed import resolve_device

__all__ = ["METHODS", "TrainConfig", "LEGACY_CONFIG", "RUNTIME_KEYS", "is_positive_number"]

Method = Literal["ideal", "noise", "pat", "dat"]
PatFusion = Literal["scores", "field"]
DatFusion = Literal["carry", "reference"]
SelectOn = Literal["auto", "physical", "numeric"]
Select = Literal["best", "last"]
SepnLayers = Literal["all", "last"]
METHODS = typing.get_args(Method)
# settings that change where a run computes, not what it computes: a resumed run may differ in them
RUNTIME_KEYS = ("device",)


def is_positive_number(v) -> bool:
    """``v`` is a finite int or float > 0 (a bool is not a number here)."""
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and v > 0


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run: each field's docstring gives its meaning and unit (in
    brackets; SI unless stated; counts are plain numbers)."""

    method: Method = "ideal"
    """Training method: ``ideal``, ``noise``, ``pat`` or ``dat`` (see the module docstring)."""
    epochs: int = 5
    """Passes over the training images [count]."""
    batch_size: int = 100
    """Training images per optimisation step (the global batch under torchrun) [count]."""
    lr: float = 1e-3
    """Adam learning rate of the photonic parameters: about the largest step per update, in the
    parameters' own unit (rad for phases) [parameter unit per step]."""
    lr_step_epochs: int = 10
    """Epochs between two learning-rate decays (``StepLR``) [epochs]."""
    lr_gamma: float = 0.5
    """Factor applied to both learning rates every ``lr_step_epochs`` [dimensionless]."""
    adam_eps: float = 1e-8
    """ε of the photonic parameters' Adam, added to √v̂ in the step lr·m̂/(√v̂ + ε) (torch's
    default, 1e-8) [loss unit per parameter unit]. Where a parameter's gradients are ~ε or
    smaller its steps shrink below lr, so the loss's unit matters; a small ε makes the step
    independent of it (Lin et al.'s output-plane MSE at the published D2NN geometry starts
    with half its phase gradients below 1e-8)."""
    score_scale: float = 1.0
    """Factor on the class scores inside the cross-entropy task loss of every method: logits =
    ``score_scale`` · scores. The mesh tasks' scores are L2-normalised port intensities, at most
    1, so at 1 (the reference code's loss) the softmax stays nearly flat and the loss keeps
    pulling on images already classified right; a larger factor sharpens it. Predictions
    (argmax), validation accuracy and the DAT similarity losses do not depend on it
    (docs/dat-settings.md) [dimensionless]."""
    sepn_lr: float = 1e-3
    """Adam learning rate of the SEPN weights (``dat`` only) [weight unit per step]."""
    sepn_features: tuple = (4, 8, 16)
    """Channels of the SEPN's convolution layers, one entry per layer (``dat`` only) [count]."""
    sepn_kernel: int = 3
    """Odd side of the SEPN's convolution kernels (``dat`` only) [px]."""
    dat_warmup_epochs: int = 0
    """Epochs at the start of ``dat`` in which the SEPN correction weight w is 0 [epochs]."""
    sepn_ramp_epochs: int = 0
    """``dat``: after the warm-up, w rises linearly to 1 over this many epochs (k/R in the k-th
    epoch after the warm-up); 0 or 1: w jumps from 0 to 1, as in the reference code [epochs]."""
    sepn_layers: SepnLayers = "all"
    """``dat``: the layers whose output a SEPN corrects: ``all`` (the reference code) or only the
    ``last`` (the output). Without internal states nothing measures the inner layers, and their
    SEPNs learn only through the output similarity."""
    sepn_lr_gamma: float | None = None
    """Factor applied to the SEPN learning rate every ``lr_step_epochs`` (``dat`` only); None:
    ``lr_gamma``, as for the photonic parameters; 1: the SEPNs keep ``sepn_lr`` throughout
    [dimensionless]."""
    dat_lr_factor: float = 1.0
    """``dat``: factor on the photonic parameters' learning rate from the epoch the SEPNs switch
    on (the first after ``dat_warmup_epochs``); the step decay goes on from the lowered rate.
    Below 1 it damps the coupled runaway of the phases and the SEPNs that follows a fast phase
    step (docs/dat-settings.md); 1: the schedule of ``lr`` alone, as in the reference code
    [dimensionless]."""
    internal_states: bool = False
    """``pat``/``dat`` also measure and fuse the intensity after every layer, not only the output."""
    pat_fusion: PatFusion = "scores"
    """What ``pat`` replaces by the measurement: the class ``scores`` or the output ``field``
    amplitude (fused before detection)."""
    joint: bool = False
    """``dat``: let the similarity-loss gradients reach the photonic parameters too (as the
    reference code does)."""
    dat_fusion: DatFusion = "carry"
    """How ``dat`` fuses measured states (mesh tasks for ``reference``). ``carry``: the fused
    field goes on forward, so later layers and detection are evaluated and differentiated at
    it; similarity over all ports, averaged over layers. ``reference``: the reference code's
    rule — forward values stay numerical and only the operation right after a fused field
    (the activation, the detector's |u|²) is differentiated at it; similarity summed over
    layers, its output term on the class ports only; ``joint`` implied (unless
    ``reference_joint`` is False)."""
    reference_joint: bool = True
    """``dat_fusion="reference"``: the similarity-loss gradients also reach the photonic
    parameters, as in the reference code (False: they train the SEPNs only, the rule's other two
    parts stay)."""
    val_fraction: float = 0.1
    """Share of the training images held out for validation and model selection, in [0, 1)
    [dimensionless]."""
    select_on: SelectOn = "auto"
    """Where validation is measured for model selection: ``physical`` system, ``numeric`` model,
    or ``auto`` (physical for ``pat``/``dat``, numeric otherwise)."""
    select: Select = "best"
    """Which epoch's parameters are kept: the ``best`` validation epoch or the ``last`` one."""
    eval_batch_size: int = 1000
    """Images per forward pass in validation and evaluation (memory only, not results) [count]."""
    seed: int = 0
    """Seed of the trainer's random streams (SEPN initialisation, validation split, batch order,
    errors sampled by ``noise``)."""
    device: str = "auto"
    """Where the run computes: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown training method {self.method!r}; choose one of {', '.join(METHODS)}")
        for name in ("epochs", "batch_size", "lr_step_epochs", "eval_batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        for name in ("lr", "sepn_lr", "lr_gamma", "adam_eps", "dat_lr_factor", "score_scale"):
            v = getattr(self, name)
            if not is_positive_number(v):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if self.lr > 10 or self.sepn_lr > 10:
            raise ValueError(f"learning rates above 10 diverge for every model here, got lr={self.lr!r}, "
                             f"sepn_lr={self.sepn_lr!r} (typical: 1e-4 … 0.1)")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        for name, kind in (("dat_fusion", DatFusion), ("pat_fusion", PatFusion), ("select_on", SelectOn),
                           ("select", Select), ("sepn_layers", SepnLayers)):
            allowed = [repr(a) for a in typing.get_args(kind)]  # the values come from the Literal types
            if getattr(self, name) not in typing.get_args(kind):
                raise ValueError(f"{name} must be {', '.join(allowed[:-1])} or {allowed[-1]}, "
                                 f"got {getattr(self, name)!r}")
        for name in ("dat_warmup_epochs", "sepn_ramp_epochs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be an int ≥ 0, got {v!r}")
        g = self.sepn_lr_gamma
        if g is not None and not is_positive_number(g):
            raise ValueError(f"sepn_lr_gamma must be None or a finite number > 0, got {g!r}")
        resolve_device(self.device) if self.device != "auto" else None
        object.__setattr__(self, "sepn_features", tuple(self.sepn_features))


LEGACY_CONFIG = {"dat_fusion": "carry", "adam_eps": 1e-8, "sepn_ramp_epochs": 0, "sepn_lr_gamma": None,
                 "sepn_layers": "all", "reference_joint": True, "dat_lr_factor": 1.0,
                 "score_scale": 1.0}
"""``TrainConfig`` keys added after checkpoints were first written, with the value such a
checkpoint's run used: a resume compares a checkpoint without the key as if it held this."""
