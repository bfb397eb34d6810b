"""Short comparison of d2nn-classifier training losses at the ``cpu`` scale (the evidence for
the scaling of s in :func:`training.losses.lin_mse` and its learning rate).

Each case trains the ``cpu``-scale D2NN (100² grid, 5 layers) for one epoch on 2,700 MNIST
images (300 held out) and prints the test accuracy on 1,000 test images, one JSON line per
case. Losses: ``ce`` (softmax cross-entropy of the detector scores), ``mse_out`` (Lin et al.'s
pixel MSE with s scaled by the output-plane power: ``lin_mse(scale="output")``), ``mse_det`` (s
scaled by the power on the ten detectors: ``lin_mse(scale="detectors")``), ``mse_in`` (the same
with s scaled by the input power), ``mse_peak`` (s = I / max I). Measured once (one thread, one
seed), test accuracy %: ce 86.5 (lr 0.05), 76.5 (0.2); mse_in 55.9 (0.05), 60.4 (0.2), 58.6 (1);
mse_out 60.2 (0.05), 73.3 (0.1), 78.4 (0.2), 73.3 (0.3, 0.5), 70.5 (1); mse_peak 8.7 (0.05).

    python scripts/compare_d2nn_losses.py [LOSS:LR ...]   (default: all four at 0.05 and 0.2)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.d2nn import runner as d2nn  # noqa: E402
from experiments.registry import EXPERIMENTS, build_config  # noqa: E402
from training.study import load_data  # noqa: E402
from training import DiffractiveTask, TrainConfig, Trainer, evaluate  # noqa: E402
from training.losses import detector_targets, lin_mse, mse_to_targets  # noqa: E402


def _mse_in(out_i, in_i, regions, y):
    target = detector_targets(regions, y).to(out_i.dtype)
    s = out_i * (target.flatten(1).sum(1) / in_i.flatten(1).sum(1)).reshape(-1, 1, 1)
    return mse_to_targets(s, target)


def _mse_peak(out_i, in_i, regions, y):
    return mse_to_targets(out_i / out_i.flatten(1).amax(1).reshape(-1, 1, 1), detector_targets(regions, y))


LOSSES = {"ce": None, "mse_out": lambda o, i, r, y: lin_mse(o, r, y, scale="output"),
          "mse_det": lambda o, i, r, y: lin_mse(o, r, y, scale="detectors"), "mse_in": _mse_in, "mse_peak": _mse_peak}


def run_case(loss: str, lr: float, data) -> float:
    cfg = build_config(EXPERIMENTS["d2nn-classifier"], "cpu", [])
    base = d2nn.build_task(cfg)
    fn = LOSSES[loss]

    class Task(DiffractiveTask):
        def objective(self, out, x, y):
            if fn is None:
                return F.cross_entropy(self.scores(self.intensity(out)), y)
            return fn(self.intensity(out), self.intensity(x), self.regions, y)

    task = Task(base.system, base.regions, cfg.wavelength_m, image_px=cfg.image_px)
    x, y, xt, yt = data
    Trainer(task, TrainConfig(method="ideal", epochs=1, batch_size=50, lr=lr, val_fraction=0.1,
                              device="cpu")).fit(x, y, progress=False)
    with torch.no_grad():
        return evaluate(task, xt, yt)["accuracy"]


def main(argv: list[str]) -> int:
    cases = argv or [f"{name}:{lr}" for name in LOSSES for lr in (0.05, 0.2)]
    data = load_data("mnist", 3000, 1000, 0)
    for case in cases:
        name, _, lr = case.partition(":")
        if name not in LOSSES:
            print(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}", file=sys.stderr)
            return 2
        acc = run_case(name, float(lr or 0.05), data)
        print(json.dumps({"loss": name, "lr": float(lr or 0.05), "test_accuracy": acc, "n_train": 2700,
                          "n_test": 1000, "scale": "cpu", "epochs": 1}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
