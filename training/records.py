"""Run records and run directories: the library side of "nothing lost, nothing mixed".

Every experiment uses this module, and a script that drives :class:`training.Trainer` itself
can use it the same way. A run writes ``runs/<experiment>/<run-id>/`` with ``config.json``,
``results.h5`` (units as attributes), ``model.pt``, ``figures/*.png`` and ``report.md``. Every
file is written atomically (:mod:`training.checkpoint`: temporary name, fsync, rename), so an interrupted run
never leaves a torn file.

A run directory is never overwritten or mixed by accident (:func:`claim_run_dir`):

* new run ids are unique (time stamp plus a random suffix) and created with an exclusive
  ``mkdir``;
* a lock (``.lock``, ``fcntl.flock``; released by the kernel when the process dies, even by
  ``kill -9``) keeps a second process out of a run that is being written;
* a directory that already holds a run is refused unless ``resume`` (continue it) or
  ``overwrite`` (replace it) is asked for; ``resume`` of a directory without a run is an error;
* on resume the stored configuration must equal the new one, key for key (runtime settings
  such as the device aside).

Records carry the onnsim version, the git commit (with a dirty flag), library versions,
seed, units and the configuration.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import platform
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from training.checkpoint import CheckpointError, atomic_json, atomic_torch_save, atomic_write, read_json

__all__ = ["new_run_dir", "claim_run_dir", "abandon_run_dir", "RunLock", "write_config", "atomic_torch_save", "atomic_json", "atomic_write",
           "atomic_text", "read_json", "write_results", "versions", "provenance", "config_differences", "with_legacy",
           "RunDirError", "markdown_table"]

ROOT = Path(__file__).resolve().parents[1]


class RunDirError(ValueError):
    """A run directory cannot be used as asked (exists, missing, locked, other config)."""


def provenance() -> dict:
    """onnsim version and git commit of the source tree (``dirty`` when it has uncommitted changes)."""
    from importlib import metadata

    try:
        version = metadata.version("onnsim")
    except metadata.PackageNotFoundError:
        version = "unknown"
    out = {"onnsim": version, "commit": None, "dirty": None}
    try:
        run = dict(cwd=ROOT, capture_output=True, text=True, timeout=10)
        head = subprocess.run(["git", "rev-parse", "HEAD"], **run)
        if head.returncode == 0:
            out["commit"] = head.stdout.strip()
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run)
            out["dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def versions() -> dict:
    import matplotlib
    import scipy

    return {**provenance(), "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "h5py": h5py.__version__,
            "matplotlib": matplotlib.__version__}


# -- run directories -------------------------------------------------------------------
class RunLock:
    """An exclusive lock on a run directory, held until :meth:`release` or process exit."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self._fd, 64).decode(errors="replace").strip() or "?"
            os.close(self._fd)
            raise RunDirError(f"{run_dir} is being written by another process (pid {holder}); "
                              "wait for it to finish or choose another --out") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, str(os.getpid()).encode())

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def new_run_dir(root: Path, experiment: str, run_id: str | None = None) -> Path:
    """Create ``root/experiment/<run-id>`` exclusively (a unique id unless ``run_id`` is given)."""
    base = Path(root) / experiment
    base.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        rid = run_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        path = base / rid
        try:
            path.mkdir()
        except FileExistsError:
            if run_id is not None:
                raise RunDirError(f"run directory {path} already exists") from None
            continue
        (path / "figures").mkdir()
        return path
    raise RunDirError(f"could not create a unique run directory under {base}")


def _holds_run(path: Path) -> bool:
    """Anything but the lock and an empty figures/ folder counts as a run."""
    if not path.is_dir():
        return False
    for p in path.iterdir():
        if p.name == ".lock" or (p.name == "figures" and p.is_dir() and not any(p.iterdir())):
            continue
        return True
    return False


def with_legacy(stored: dict, legacy: dict | None) -> dict:
    """``stored`` completed by ``legacy``: for every key added after the configuration was written,
    the value its run used implicitly (a config class's ``LEGACY_DEFAULTS``); a callable value is
    that value as a function of the stored configuration (a key that took over from another one
    for some runs). Keys the configuration holds keep their stored values."""
    implicit = {k: (v(stored) if callable(v) else v) for k, v in (legacy or {}).items()}
    return {**implicit, **stored}


def config_differences(stored: dict, now: dict, ignore=("device",), legacy: dict | None = None) -> list[str]:
    """``["key: old -> new", ...]`` for every key whose value differs; ``stored`` is completed by
    ``legacy`` first (:func:`with_legacy`)."""
    stored = with_legacy(stored, legacy)
    keys = sorted((set(stored) | set(now)) - set(ignore))
    return [f"{k}: {stored.get(k, '<absent>')!r} -> {now.get(k, '<absent>')!r}"
            for k in keys if stored.get(k, "<absent>") != now.get(k, "<absent>")]


def claim_run_dir(out: Path, *, experiment: str, config, resume: bool, overwrite: bool) -> RunLock:
    """Lock ``out`` for this run after checking that it may be used (module docstring).

    Returns the held :class:`RunLock`; raises :class:`RunDirError` with one line otherwise.
    """
    out = Path(out)
    if resume and overwrite:
        raise RunDirError("--resume and --overwrite contradict each other: choose one")
    if resume:
        if not out.is_dir():
            raise RunDirError(f"--resume: {out} does not exist (check the path; without --resume a new run starts)")
        if not (out / "config.json").exists():
            raise RunDirError(f"--resume: {out} holds no run (no config.json)")
    else:
        if out.exists() and not out.is_dir():
            raise RunDirError(f"--out {out} exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise RunDirError(f"{out} is not writable")
    lock = RunLock(out)
    try:
        if resume:
            stored = read_json(out / "config.json", what="run configuration")
            now = dataclasses.asdict(config)
            if stored.get("experiment") != experiment:
                raise RunDirError(f"--resume: {out} holds a {stored.get('experiment')!r} run, not {experiment!r}")
            diff = config_differences(stored.get("config", {}), now,
                                      legacy=getattr(type(config), "LEGACY_DEFAULTS", None))
            if diff:
                raise RunDirError(f"--resume: {out} was started with other settings ({'; '.join(diff)}); "
                                  "resume with the same settings, or start a new run")
        elif _holds_run(out):
            if not overwrite:
                raise RunDirError(f"{out} already holds a run: add --resume to continue it or --overwrite to replace it")
            for p in out.iterdir():
                if p.name == ".lock":
                    continue
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        (out / "figures").mkdir(exist_ok=True)
    except BaseException:
        lock.release()
        raise
    return lock


def abandon_run_dir(out: Path, *, created: bool) -> bool:
    """Undo a run directory whose run failed before it wrote anything but its ``config.json``
    (bad geometry found when the model is built, say): remove that file and the empty folders,
    and ``out`` itself when this invocation ``created`` it, so that the corrected command can
    use the same ``--out`` without ``--overwrite``. A directory holding any other file (a
    checkpoint, a record, a figure) is left as it is, and so is a run being resumed (the caller
    does not call this then). Returns whether it was undone."""
    out = Path(out)
    try:
        if any(p.is_file() or p.is_symlink() for p in out.rglob("*") if p.name not in (".lock", "config.json")
               or p.parent != out):
            return False
        (out / "config.json").unlink(missing_ok=True)
        for d in sorted((p for p in out.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            d.rmdir()
        (out / ".lock").unlink(missing_ok=True)  # ours: the caller holds it until it releases
        if created:
            out.rmdir()
    except OSError:
        return False
    return True


# -- records -----------------------------------------------------------------------------
def atomic_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary name, fsync, rename)."""
    return atomic_write(path, lambda p: p.write_text(text))


def markdown_table(header, rows) -> str:
    """A GitHub-flavoured markdown table of a run's ``report.md`` or a study page: the ``header``
    cells, the ``|---|`` rule under them and one line per row of ``rows`` (each a sequence of
    cells, written with ``str``; an empty cell stays one space), joined by newlines, without a
    trailing one. A row whose cell count is not the header's is a ``ValueError``: a shifted
    column would otherwise render without a sign that it is wrong."""
    header = [str(h) for h in header]

    def line(cells) -> str:
        return "|" + "|".join(f" {c} " if c != "" else " " for c in cells) + "|"

    lines = [line(header), "|" + "---|" * len(header)]
    for i, row in enumerate(rows):
        cells = [str(c) for c in row]
        if len(cells) != len(header):
            raise ValueError(f"markdown table row {i} has {len(cells)} cells, the header {len(header)}: {cells!r}")
        lines.append(line(cells))
    return "\n".join(lines)


def write_config(path: Path, experiment: str, config, seed: int, *, runtime: dict | None = None) -> None:
    """``config.json``: experiment, seed, configuration, units, versions and commit.

    An existing file with the same configuration is kept (a resumed run keeps its record)."""
    path = Path(path)
    payload = {"experiment": experiment, "seed": seed, "config": dataclasses.asdict(config),
               "units": "SI unless the key names a unit", "versions": versions(), "runtime": runtime or {}}
    if path.exists():
        try:
            if read_json(path).get("config") == payload["config"]:
                return
        except CheckpointError:
            pass
    atomic_json(path, payload, indent=2)


def write_results(path: Path, *, attrs: dict, datasets: dict) -> None:
    """Write ``results.h5``: ``datasets`` maps name -> (array, units); attrs go on the root."""
    import json

    def write(p):
        with h5py.File(p, "w") as f:
            for k, v in attrs.items():
                f.attrs[k] = json.dumps(v) if isinstance(v, (dict, list)) else v
            for name, (value, units) in datasets.items():
                arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
                d = f.create_dataset(name, data=arr)
                d.attrs["units"] = units
    atomic_write(path, write)
