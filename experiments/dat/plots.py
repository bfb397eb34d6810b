"""Figures of the DAT reproduction page: accuracy vs error level (the sweep runs) and the
validation curves of the full-scale runs."""

from __future__ import annotations

from pathlib import Path

from training import figures  # the Agg backend, before pyplot
from .runs import METHODS, _acc

import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["sweep_figure", "curves_figure"]


def sweep_figure(runs, path: Path) -> Path | None:
    pts = {"bs": {}, "ps": {}}
    for r in runs:
        c = r["config"]
        if r["experiment"] != "dat-mpnn" or not r["name"].startswith("sweep-"):
            continue
        kind = "bs" if c["ps_sigma"] == 0 else "ps" if c["bs_sigma"] == 0 else None
        if kind:
            pts[kind][c[f"{kind}_sigma"]] = r
    if not pts["bs"] and not pts["ps"]:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, kind, title in ((axes[0], "bs", "beam-splitter error only"), (axes[1], "ps", "phase-shifter error only")):
        sig = sorted(pts[kind])
        for i, (label, name, _) in enumerate(METHODS):
            ys = [_acc(pts[kind][s], label) for s in sig]
            xs = [s for s, y in zip(sig, ys) if y is not None]
            ax.plot(xs, [100 * y for y in ys if y is not None], "o-", color=f"C{i}", label=name)
        ref = [_acc(pts[kind][s], "mesh-ideal", "numeric_accuracy") for s in sig]
        ax.plot([s for s, y in zip(sig, ref) if y is not None], [100 * y for y in ref if y is not None], "k--",
                label="error-free model")
        ax.set_xlabel("σ" + (" (splitting error)" if kind == "bs" else " (rad)"))
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("physical test accuracy (%)")
    axes[1].legend(fontsize=8)
    fig.suptitle("MNIST, 3 × 64-mode meshes: accuracy on the physical system vs error level")
    path.parent.mkdir(parents=True, exist_ok=True)
    return figures.save(fig, path)


def curves_figure(full: dict, path: Path) -> Path | None:
    if not full:
        return None
    keys = sorted(full)
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        r = full[key]
        for i, (label, name, _) in enumerate(METHODS):  # one colour per method in every panel
            hist = r["arms"].get(label, {}).get("history")
            if hist:
                ax.plot([h["epoch"] for h in hist], [100 * h["val_accuracy"] for h in hist], color=f"C{i}",
                        label=name)
        ax.set_title(f"{key[0]}, bs = {key[1]}, ps = {key[2]}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)  # each panel lists the methods it ran
    axes[0][0].set_ylabel("validation accuracy (%)\n(direct: numerical; others: physical)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return figures.save(fig, path)
