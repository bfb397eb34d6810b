"""Run records (DESIGN.md §7): run directories, atomic checkpoints, HDF5 results, figures.

A run writes ``runs/<experiment>/<run-id>/`` with ``config.json``, ``results.h5`` (with units
as attributes), ``model.pt``, ``figures/*.png`` and ``report.md``. Every file is written to a
temporary name and renamed into place, so an interrupted run never leaves a torn file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import h5py
import numpy as np
import torch

__all__ = ["new_run_dir", "write_config", "atomic_torch_save", "load_checkpoint", "write_results", "versions"]


def versions() -> dict:
    import matplotlib
    import scipy

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "h5py": h5py.__version__, "matplotlib": matplotlib.__version__}


def new_run_dir(root: Path, experiment: str, run_id: str | None = None) -> Path:
    run_id = run_id or time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / experiment / run_id
    (path / "figures").mkdir(parents=True, exist_ok=True)
    return path


def _atomic(path: Path, write) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def write_config(path: Path, experiment: str, config, seed: int) -> None:
    payload = {"experiment": experiment, "seed": seed, "config": dataclasses.asdict(config),
               "units": "SI unless the key names a unit", "versions": versions()}
    _atomic(path, lambda p: p.write_text(json.dumps(payload, indent=2)))


def atomic_torch_save(obj, path: Path) -> None:
    _atomic(path, lambda p: torch.save(obj, p))


def load_checkpoint(path: Path):
    return torch.load(path, map_location="cpu", weights_only=False) if Path(path).exists() else None


def write_results(path: Path, *, attrs: dict, datasets: dict) -> None:
    """Write ``results.h5``: ``datasets`` maps name -> (array, units); attrs go on the root."""
    def write(p):
        with h5py.File(p, "w") as f:
            for k, v in attrs.items():
                f.attrs[k] = json.dumps(v) if isinstance(v, (dict, list)) else v
            for name, (value, units) in datasets.items():
                arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
                d = f.create_dataset(name, data=arr)
                d.attrs["units"] = units
    _atomic(path, write)
