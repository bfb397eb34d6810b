"""Figures for run records: learning curves, confusion matrices, accuracy bars, phase masks,
output patterns. Every function writes one PNG and returns its path.

:func:`save` is the one way onnsim saves a figure (PNG at :data:`DPI`, closed after);
importing this module selects matplotlib's non-interactive Agg backend, which every figure of
a run record is drawn with. It needs matplotlib (``onnsim[experiments]``); nothing else in
``training`` imports it at import time."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

__all__ = ["DPI", "save", "learning_curves", "confusion_matrices", "accuracy_bars", "phase_masks", "class_patterns",
           "mesh_phases"]

DPI = 110  # resolution of every saved figure [dots per inch]


def save(fig, path: Path, *, tight: bool = True) -> Path:
    """Write ``fig`` to ``path`` (PNG, :data:`DPI`), close it and return the path. ``tight``:
    apply ``tight_layout`` first (off for figures whose colour bar spans several axes)."""
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return Path(path)


def learning_curves(histories: dict, path: Path, *, title: str, validated_on: dict | None = None) -> Path:
    """``histories[label] = [{"epoch", "loss", "val_accuracy"}, ...]``.

    ``validated_on[label]`` is ``"physical"`` when that arm's validation accuracy was measured
    on the physical system (PAT and DAT select their epoch there) and ``"numerical"`` when it is
    the numerical model's (the default): numerical curves are solid, physical ones dashed, and the
    legend says which. The loss axis is logarithmic when the positive losses span more than a
    factor of 20 (losses of different kinds, e.g. an MSE of 10⁻³ beside a cross-entropy of 0.3,
    would otherwise flatten the smaller ones to a line at zero).
    """
    validated_on = validated_on or {}
    losses = [h["loss"] for hist in histories.values() for h in hist]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, hist in histories.items():
        ep = [h["epoch"] for h in hist]
        line, = a1.plot(ep, [h["loss"] for h in hist], "o-", label=label)
        physical = validated_on.get(label, "numerical") == "physical"
        a2.plot(ep, [100 * h["val_accuracy"] for h in hist], "o--" if physical else "o-", color=line.get_color(),
                label=f"{label} ({'physical system' if physical else 'numerical model'})")
    if losses and min(losses) > 0 and max(losses) > 20 * min(losses):
        a1.set_yscale("log")
    a1.set_xlabel("epoch")
    a1.set_ylabel("training loss")
    a2.set_xlabel("epoch")
    a2.set_ylabel("validation accuracy (%)")
    a1.set_title("training loss", fontsize=10)
    a2.set_title("validation accuracy: numerical model (solid), physical system (dashed)", fontsize=9)
    for ax in (a1, a2):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    a2.legend(fontsize=8)
    fig.suptitle(title)
    return save(fig, path)


def confusion_matrices(confusions: dict, path: Path, *, title: str) -> Path:
    """``confusions[label]`` int tensors (true rows, predicted columns)."""
    n = len(confusions)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (label, cm) in zip(axes.flat, confusions.items()):
        cm = torch.as_tensor(cm).float()
        norm = cm / cm.sum(1, keepdim=True).clamp_min(1)
        ax.imshow(norm.numpy(), cmap="Blues", vmin=0, vmax=1)
        acc = float(cm.diag().sum() / cm.sum().clamp_min(1))
        ax.set_title(f"{label}\naccuracy {100 * acc:.1f}%", fontsize=9)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(cm.shape[0]))
        ax.set_yticks(range(cm.shape[0]))
        ax.tick_params(labelsize=6)
    fig.suptitle(title)
    return save(fig, path)


def accuracy_bars(results: dict, path: Path, *, title: str) -> Path:
    """``results[label] = {"numeric_accuracy", "physical_accuracy"}``."""
    labels = list(results)
    x = torch.arange(len(labels)).float()
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(labels)), 3.8))
    num = [100 * results[k]["numeric_accuracy"] for k in labels]
    phys = [100 * results[k]["physical_accuracy"] for k in labels]
    ax.bar((x - 0.2).numpy(), num, 0.4, label="numerical model (error-free)")
    bars = ax.bar((x + 0.2).numpy(), phys, 0.4, label="physical system")
    for b, v in zip(bars, phys):
        ax.text(b.get_x() + b.get_width() / 2, v + 1, f"{v:.1f}", ha="center", fontsize=8)
    ax.set_xticks(x.numpy())
    ax.set_xticklabels(labels, rotation=20, fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, path)


def phase_masks(masks: torch.Tensor, pitch: float, path: Path, *, title: str) -> Path:
    """``masks`` (L, ny, nx) in rad, wrapped to [0, 2π) for display."""
    n = masks.shape[0]
    ny, nx = masks.shape[-2:]
    ext = [-nx * pitch / 2e-3, nx * pitch / 2e-3, ny * pitch / 2e-3, -ny * pitch / 2e-3]
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.3), squeeze=False)
    for i, ax in enumerate(axes[0]):
        im = ax.imshow(torch.remainder(masks[i], 2 * math.pi).numpy(), cmap="twilight", vmin=0, vmax=2 * math.pi,
                       extent=ext)
        ax.set_title(f"layer {i + 1}", fontsize=9)
        ax.set_xlabel("x (mm)")
    axes[0][0].set_ylabel("y (mm)")
    fig.colorbar(im, ax=axes[0].tolist(), label="phase (rad)", shrink=0.8)
    fig.suptitle(title)
    return save(fig, path, tight=False)


def class_patterns(intensities: torch.Tensor, regions: torch.Tensor, path: Path, *, title: str) -> Path:
    """Mean output intensity per class ``(C, ny, nx)`` with the detector regions outlined."""
    c = intensities.shape[0]
    cols = min(c, 5)
    rows = math.ceil(c / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.5 * rows), squeeze=False)
    outline = regions.any(0).float().numpy()
    for ax in axes.flat[c:]:
        ax.axis("off")
    for k, ax in enumerate(axes.flat[:c]):
        ax.imshow(intensities[k].numpy(), cmap="inferno")
        ax.contour(outline, levels=[0.5], colors="cyan", linewidths=0.5)
        ax.set_title(f"class {k}", fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def mesh_phases(thetas: list, path: Path, *, title: str) -> Path:
    """θ of each mesh as a (column × slot) image."""
    n = len(thetas)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.2), squeeze=False)
    for i, (ax, th) in enumerate(zip(axes[0], thetas)):
        im = ax.imshow(torch.remainder(th, 2 * math.pi).T.numpy(), cmap="twilight", vmin=0, vmax=2 * math.pi,
                       aspect="auto")
        ax.set_title(f"mesh {i + 1}: θ", fontsize=9)
        ax.set_xlabel("column")
        ax.set_ylabel("slot")
    fig.colorbar(im, ax=axes[0].tolist(), label="rad", shrink=0.8)
    fig.suptitle(title)
    return save(fig, path, tight=False)
