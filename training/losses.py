"""Task and similarity losses for photonic networks.

- :func:`region_cross_entropy`: classification from detector-region energies, normalised by
  their sum and divided by a temperature (fixed or learnable, :class:`Temperature`).
- :func:`scaled_cross_entropy`: cross-entropy of class scores times a fixed factor (the
  trainer's task loss, ``TrainConfig.score_scale``).
- :func:`mse_to_targets`: MSE to target intensities or one-hot labels (Lin et al.,
  Science 361, 1004 (2018)); :func:`lin_mse`, that paper's output-plane MSE to the true
  detector region (:func:`detector_targets`), normalised by the output-plane power.
- :func:`pcc` and :func:`imaging_loss`: Pearson correlation and the diffuser-imaging loss
  of Luo et al., eLight 2, 4 (2022) (docs/references.md#diffusers).
- :func:`normalized_intensity_mse`: the similarity loss of dual adaptive training between
  numerical and measured L2-normalised intensities (Zheng et al., Nat. Mach. Intell. 5
  (2023); docs/references.md#dat).

Every loss returns a scalar (mean over the batch) unless ``reduction="none"``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Temperature",
    "region_cross_entropy",
    "scaled_cross_entropy",
    "mse_to_targets",
    "detector_targets",
    "lin_mse",
    "LIN_MSE_SCALES",
    "pcc",
    "imaging_loss",
    "normalized_intensity_mse",
    "similarity_loss",
    "reference_similarity_loss",
]


def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _real(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"{name} must be a real floating tensor (an intensity), got dtype {x.dtype}; "
                        "for a complex field pass its intensity |u|²")
    return x


def _same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")


class Temperature(nn.Module):
    """A learnable positive scalar ``T = exp(log_T)`` (log-parametrised, so it stays > 0).

    Args:
        initial: starting temperature (> 0).
        learnable: register ``log_t`` as a parameter (else a buffer).
        dtype: real dtype of ``log_t``.

    Shape:
        ``forward() -> ()`` (a 0-dim tensor).
    """

    def __init__(self, initial: float = 0.1, *, learnable: bool = True, dtype: torch.dtype = torch.float32):
        super().__init__()
        t = float(initial)
        if not (math.isfinite(t) and t > 0):
            raise ValueError(f"initial temperature must be a finite positive float, got {initial!r}")
        log_t = torch.tensor(math.log(t), dtype=dtype)
        if learnable:
            self.log_t = nn.Parameter(log_t)
        else:
            self.register_buffer("log_t", log_t)

    def forward(self) -> torch.Tensor:
        return self.log_t.exp()

    def extra_repr(self) -> str:
        return f"T={float(self.log_t.exp()):.4g}, learnable={isinstance(self.log_t, nn.Parameter)}"


def _temperature(temperature) -> torch.Tensor | float:
    if isinstance(temperature, Temperature):
        return temperature()
    if isinstance(temperature, torch.Tensor):
        if temperature.numel() != 1:
            raise ValueError(f"temperature must be a scalar, got shape {tuple(temperature.shape)}")
        if not bool((temperature.detach() > 0).all()):
            raise ValueError(f"temperature must be > 0, got {float(temperature.detach())}")
        return temperature.reshape(())
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a finite positive number, got {temperature!r}")
        return float(temperature)
    raise TypeError(f"temperature must be a float, a scalar tensor or a Temperature, got {type(temperature).__name__}")


def scaled_cross_entropy(scores: torch.Tensor, labels: torch.Tensor, scale: float = 1.0, *,
                         reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy with logits ``scale · scores`` (``scale`` 1: the scores themselves, computed
    without the product, so bit for bit ``F.cross_entropy(scores, labels)``).

    Shape: ``(B, C), (B,) -> ()`` (``(B,)`` with ``reduction="none"``, the sum with ``"sum"``).
    """
    return F.cross_entropy(scores if scale == 1 else scale * scores, labels, reduction=reduction)


def region_cross_entropy(energies: torch.Tensor, labels: torch.Tensor, *, temperature,
                         reduction: str = "mean", eps: float = 1e-12) -> torch.Tensor:
    """Cross-entropy on detector-region energies normalised by their sum.

    .. math:: s_r = \\frac{E_r}{T \\sum_{r'} E_{r'}}, \\qquad
              \\mathcal{L} = -\\log \\mathrm{softmax}(s)_{y}

    Normalising by the total makes the loss independent of the input power; ``T`` sets how
    sharp the softmax is (the normalised energies lie in [0, 1]).

    Args:
        energies: non-negative region energies (e.g. ``optics.functional.region_energies``).
        labels: class indices (int64) in ``[0, R)``.
        temperature: ``T > 0``: a float, a scalar tensor, or a :class:`Temperature`.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        eps: floor of the energy sum (all-dark samples give uniform scores, not NaN).

    Shape:
        ``(*batch, R), (*batch,) -> ()`` (or ``(*batch,)`` with ``reduction="none"``).
    """
    _real(energies, "energies")
    if energies.dim() < 1:
        raise ValueError("energies must have a region axis (*batch, R)")
    if not isinstance(labels, torch.Tensor) or labels.dtype not in (torch.int64, torch.int32, torch.int16,
                                                                     torch.uint8, torch.int8):
        raise TypeError(f"labels must be an integer tensor of class indices, got "
                        f"{labels.dtype if isinstance(labels, torch.Tensor) else type(labels).__name__}")
    if labels.shape != energies.shape[:-1]:
        raise ValueError(f"labels shape {tuple(labels.shape)} must equal energies' batch shape "
                         f"{tuple(energies.shape[:-1])} (energies {tuple(energies.shape)})")
    n = energies.shape[-1]
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n):
        raise ValueError(f"labels must lie in [0, {n}) for {n} regions, got range "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    t = _temperature(temperature)
    p = energies / energies.sum(dim=-1, keepdim=True).clamp_min(eps)
    logits = p / t
    ce = F.cross_entropy(logits.reshape(-1, n), labels.reshape(-1).long(), reduction="none")
    return _reduce(ce.reshape(labels.shape), reduction)


def mse_to_targets(intensity: torch.Tensor, targets: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error to target intensities, or to one-hot vectors of integer labels.

    Args:
        intensity: real outputs (detected intensities or region scores).
        targets: a real tensor of the same shape, or integer labels ``(*batch,)`` for
            ``intensity`` of shape ``(*batch, R)`` (target 1 at the label, 0 elsewhere).
        reduction: ``"mean"`` (over all elements), ``"sum"`` or ``"none"`` (elementwise).

    Shape:
        ``(*batch, *event), same -> ()``; labels: ``(*batch, R), (*batch,) -> ()``.
    """
    _real(intensity, "intensity")
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a torch.Tensor, got {type(targets).__name__}")
    if not targets.is_floating_point() and not targets.is_complex():
        if targets.shape != intensity.shape[:-1]:
            raise ValueError(f"integer labels {tuple(targets.shape)} must equal the batch shape "
                             f"{tuple(intensity.shape[:-1])} of intensity {tuple(intensity.shape)}")
        targets = F.one_hot(targets.long(), intensity.shape[-1]).to(intensity.dtype)
    _real(targets, "targets")
    _same_shape(intensity, targets, "mse_to_targets (intensity vs targets)")
    return _reduce((intensity - targets).square(), reduction)


def detector_targets(regions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Lin et al.'s target planes: 1 inside the detector region of each label, 0 elsewhere.

    Shape: regions ``(C, ny, nx)`` (bool or 0/1), labels ``(B,)`` int → ``(B, ny, nx)`` float."""
    return regions.float()[labels.long()]


LIN_MSE_SCALES = ("output", "detectors")


def lin_mse(out_intensity: torch.Tensor, regions: torch.Tensor, labels: torch.Tensor, *,
            scale: str = "output") -> torch.Tensor:
    """The MSE-type loss of Lin et al. (2018): ``E = (1/K) Σ_k (s_k − g_k)²`` over the K
    output-plane pixels, averaged over the batch, with ``g`` the target of :func:`detector_targets`.

    ``s`` is the output intensity in units of "the reference power spread evenly over one
    detector": ``s_k = I_k · A / P`` with ``A`` the pixels of the true region. The paper states
    the loss, not the normalisation of ``s``; ``scale`` picks the reference power ``P``:

    - ``"output"``: ``P = Σ_k I_k``, all the light reaching the output plane. ``s = g`` is
      reached exactly when that light lands, evenly, on the true detector.
    - ``"detectors"``: ``P = Σ_c E_c``, the light on the ten detector regions. ``s = g`` is
      reached when the detectors' light is all on the true one, evenly; light elsewhere on the
      plane still counts against the loss (g = 0 there) but does not dilute ``s`` on the
      detectors, so the loss weighs the detectors' *relative* energies, which decide the class.

    Dividing by the *input* power instead lets the loss fall by sending light out of the window:
    a dark plane already scores ``A / K``. Measured at the ``cpu`` scale (2,700 images, one
    epoch, test on 1,000): the input-power version reached 56–60 % at learning rates 0.05–1,
    ``"output"`` 73–78 % at 0.1–0.5 (cross-entropy 87 %): scripts/compare_d2nn_losses.py.
    ``"detectors"`` against ``"output"``, the ``cpu``-scale d2nn-classifier (100² grid, 9,000
    training images, 6 epochs, batch 50, test on 2,000; ``python -m experiments run
    d2nn-classifier --scale cpu --loss mse --epochs 6 --mse-learning-rate LR --seed S
    --mse-scale SCALE``), test accuracy %: lr 0.05, seeds 0, 1, 2: 86.50 / 84.55,
    87.00 / 85.35, 86.25 / 85.10; lr 0.2, seed 1: 86.15 / 85.60 — ``"detectors"`` better in
    all four, by 0.55–1.95 points. The full-scale runs are in docs/reproduction/d2nn.md.

    Shape: intensity ``(B, ny, nx)`` (W/pixel, any unit), regions ``(C, ny, nx)``,
    labels ``(B,)`` → scalar.
    """
    if scale not in LIN_MSE_SCALES:
        raise ValueError(f"lin_mse scale must be one of {', '.join(LIN_MSE_SCALES)}, got {scale!r}")
    target = detector_targets(regions, labels).to(out_intensity.dtype)
    area = target.flatten(1).sum(1)  # (B,) pixels of each sample's true region
    total = out_intensity.flatten(1).sum(1)
    if scale == "output":
        power = total
    else:  # floored at 1e-6 of the plane's light: a plane lit only off the detectors gets a large,
        # finite loss (s ≤ 1e6 · A · I / Σ I), not an infinite one
        power = (out_intensity.flatten(1) * regions.bool().any(0).flatten().to(out_intensity.dtype)).sum(1)
        power = torch.maximum(power, 1e-6 * total)
    power = power.clamp_min(torch.finfo(out_intensity.dtype).tiny)
    s = out_intensity * (area / power).reshape(-1, *([1] * (out_intensity.dim() - 1)))
    return mse_to_targets(s, target)


def pcc(a: torch.Tensor, b: torch.Tensor, *, eps: float = 1e-12) -> torch.Tensor:
    """Pearson correlation coefficient per sample over the last two axes (differentiable).

    .. math:: \\mathrm{PCC}(a, b) = \\frac{\\sum (a - \\bar a)(b - \\bar b)}
              {\\sqrt{\\sum (a - \\bar a)^2 \\sum (b - \\bar b)^2}}

    (Luo et al., eLight 2 (2022), Methods). A constant image has no defined correlation;
    ``eps`` floors the denominator so the result is 0 there instead of NaN.

    Shape:
        ``(*batch, H, W), (*batch, H, W) -> (*batch,)`` (broadcasting allowed).
    """
    _real(a, "pcc input a")
    _real(b, "pcc input b")
    if a.dim() < 2 or b.dim() < 2:
        raise ValueError(f"pcc needs images (*batch, H, W), got {tuple(a.shape)} and {tuple(b.shape)}")
    try:
        a, b = torch.broadcast_tensors(a, b)
    except RuntimeError:
        raise ValueError(f"pcc: shapes {tuple(a.shape)} and {tuple(b.shape)} do not broadcast") from None
    da = a - a.mean(dim=(-2, -1), keepdim=True)
    db = b - b.mean(dim=(-2, -1), keepdim=True)
    num = (da * db).sum(dim=(-2, -1))
    den = (da.square().sum(dim=(-2, -1)) * db.square().sum(dim=(-2, -1))).sqrt()
    return num / den.clamp_min(eps)


def imaging_loss(output_intensity: torch.Tensor, target: torch.Tensor, *, alpha: float = 1.0, beta: float = 0.5,
                 reduction: str = "mean") -> torch.Tensor:
    """Diffuser-imaging loss of Luo et al., eLight 2, 4 (2022) (docs/references.md#diffusers).

    .. math:: \\mathcal{L} = -\\mathrm{PCC}(o, h) + E, \\qquad
              E = \\frac{\\sum [α(1 - m)\\, o - β\\, m\\, o]}{\\sum m}, \\quad m = [h > 0]

    ``E`` penalises light outside the object support ``m`` and rewards light inside it.
    ``o`` enters ``E`` as given: scale the output intensity as the experiment intends
    before calling. A sample with an empty support uses ``Σm = 1`` (no division by zero).

    Args:
        output_intensity: ``o``, the output-plane intensity.
        target: ``h``, the object (its support is ``h > 0``).
        alpha: weight α in ``E`` of the light outside the support (1 in the paper).
        beta: weight β in ``E`` of the light inside the support (0.5 in the paper).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per sample).

    Shape:
        ``(*batch, H, W), (*batch, H, W) -> ()`` (``(*batch,)`` with ``reduction="none"``).
    """
    _real(output_intensity, "output_intensity")
    _real(target, "target")
    _same_shape(output_intensity, target, "imaging_loss (output_intensity vs target)")
    m = (target > 0).to(output_intensity.dtype)
    o = output_intensity
    energy = (alpha * (1 - m) * o - beta * m * o).sum(dim=(-2, -1)) / m.sum(dim=(-2, -1)).clamp_min(1.0)
    return _reduce(-pcc(o, target) + energy, reduction)


def normalized_intensity_mse(a: torch.Tensor, b: torch.Tensor, *, dim=-1, eps: float = 1e-12,
                             reduction: str = "mean") -> torch.Tensor:
    """MSE between L2-normalised intensity vectors (the DAT similarity loss, Zheng et al. 2023).

    .. math:: \\mathcal{L} = \\mathrm{mean}\\left[\\left(\\frac{a}{\\|a\\|_2}
              - \\frac{b}{\\|b\\|_2}\\right)^2\\right]

    Args:
        a: intensities (real), or complex fields whose ``|u|²`` is taken.
        b: the same for the second operand, shaped like ``a``.
        dim: axis or axes of one intensity vector (``-1`` for mode vectors, ``(-2, -1)``
            for images).
        eps: floor of the norms (zero vectors stay zero).
        reduction: ``"mean"`` over all elements (default), ``"sum"`` or ``"none"``.

    Shape:
        ``(*batch, n), (*batch, n) -> ()``.
    """
    def norm_int(x, name):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        p = x.real.square() + x.imag.square() if x.is_complex() else _real(x, name)
        return p / torch.linalg.vector_norm(p, dim=dim, keepdim=True).clamp_min(eps)

    _same_shape(a, b, "normalized_intensity_mse (a vs b)")
    return _reduce((norm_int(a, "a") - norm_int(b, "b")).square(), reduction)


def similarity_loss(numeric_states, measured_states) -> torch.Tensor:
    """Mean over layers of the MSE between L2-normalised numerical and measured intensities
    (each sample's state flattened to one vector)."""
    terms = [normalized_intensity_mse(n.flatten(1), m.to(n.dtype).flatten(1))
             for n, m in zip(numeric_states, measured_states)]
    return torch.stack(terms).mean()


def reference_similarity_loss(task, numeric_states, measured_states) -> torch.Tensor:
    """The similarity loss of the DAT reference code (THPCILab/DAT_MPNN; docs/references.md#dat):
    the MSE between numerical and measured class scores (intensities L2-normalised over all
    ports, then the first ``n_classes``) plus, for every internal state given, the MSE between
    L2-normalised intensities over all ports — summed over layers, not averaged."""
    out = F.mse_loss(task.scores(numeric_states[-1]), task.scores(measured_states[-1].to(numeric_states[-1].dtype)))
    internal = [normalized_intensity_mse(n.flatten(1), m.to(n.dtype).flatten(1))
                for n, m in zip(numeric_states[:-1], measured_states[:-1])]
    return out + sum(internal) if internal else out
