"""Files that survive crashes: atomic writes, checksums, verified checkpoints.

Every file a run writes goes to a temporary name in the same directory, is flushed to disk
(``fsync``) and renamed into place (``os.replace`` is atomic on POSIX): a reader sees the old
file or the new one, never a torn one. Checkpoints additionally carry a SHA-256 checksum in a
sidecar ``NAME.sha256`` and keep the previous good checkpoint as ``NAME.prev`` until the new
one has been written and verified, so a corrupt latest checkpoint falls back to the one
before it (a resumed run then repeats one epoch, and being deterministic, ends the same).

Errors about files are :class:`CheckpointError` (a ``ValueError``) with one line naming the
file and what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch

__all__ = ["CheckpointError", "load_module_state", "atomic_write", "atomic_json", "atomic_torch_save", "atomic_directory", "sha256",
           "save_checkpoint", "load_checkpoint", "verify", "read_json", "read_torch"]


class CheckpointError(ValueError):
    """A run file is missing, corrupt or does not match its checksum."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)``, fsync the result and rename it to ``path``; returns ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@contextmanager
def atomic_directory(path) -> Iterator[Path]:
    """Replace the directory ``path`` as a whole: yields a fresh hidden sibling directory to
    fill; when the block ends without an error, the files in it are fsynced and it takes the
    place of ``path`` (the old directory and everything in it removed), else it is removed and
    ``path`` stays as it was. So ``path`` never mixes files of two fillings, and an interrupted
    filling leaves the previous one whole. (Two renames: in the instant between them the old
    and the new directory both exist under hidden names beside ``path``.)"""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    old = path.with_name(f".{path.name}.{os.getpid()}.old")
    if path.parent.is_dir():  # what killed fillings left (their process is gone), and this process's own
        for leftover in path.parent.glob(f".{path.name}.*.*"):
            pid = leftover.name[len(path.name) + 2:].rsplit(".", 1)[0]
            killed = leftover.suffix in (".tmp", ".old") and pid.isdigit() and not _alive(int(pid))
            if killed or leftover in (tmp, old):
                shutil.rmtree(leftover, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        for f in sorted(tmp.rglob("*")):
            if f.is_file():
                with open(f, "rb+") as fh:
                    os.fsync(fh.fileno())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(path.parent)


def atomic_json(path, payload, *, indent: int = 1) -> Path:
    """Write ``payload`` as JSON atomically."""
    text = json.dumps(payload, indent=indent)
    return atomic_write(path, lambda p: p.write_text(text))


def _torch_save(obj, path: Path) -> None:
    """``torch.save`` through an open file: the archive's inner folder is then always ``archive``
    (given a path, torch names it after the file, here a temporary name holding the process id,
    so the same tensors gave different bytes and checksums run to run)."""
    with open(path, "wb") as f:
        torch.save(obj, f)


def atomic_torch_save(obj, path) -> Path:
    """``torch.save`` atomically; the same object gives the same bytes in every process."""
    return atomic_write(path, lambda p: _torch_save(obj, p))


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


REQUIRED = object()  # read_json(default=REQUIRED): a missing file is an error
_RESTART = "restore it or start the run again with --overwrite"


def _read(path, parse, unreadable, *, what, default, missing, hint, error):
    path = Path(path)
    name = f"{what} {path}" if what else str(path)
    try:
        return parse(path)
    except FileNotFoundError:
        if default is not REQUIRED:
            return default
        raise error(f"{name} does not exist{': ' + missing if missing else ''}") from None
    except unreadable as exc:
        detail = " ".join(str(exc).split())[:160]  # one line, bounded
        raise error(f"{name} cannot be read ({type(exc).__name__}: {detail}){'; ' + hint if hint else ''}") from None


def read_json(path, *, what: str = "", default=REQUIRED, missing: str = "", hint: str | None = _RESTART,
              error: type[ValueError] = CheckpointError):
    """Parse the JSON file ``path``: the one reader of run records for runs, resumes and reports.

    A missing file returns ``default`` when one is given. Otherwise a missing, unreadable or
    corrupt file raises ``error`` (a ``ValueError``: exit code 2 in the CLI) on one line that
    names the file, what it is (``what``, e.g. ``"progress record"``) and what to do
    (``missing`` after a missing file's name, ``hint`` after a corrupt one's; ``None``: nothing).
    """
    return _read(path, lambda p: json.loads(p.read_text()), (OSError, UnicodeDecodeError, json.JSONDecodeError),
                 what=what, default=default, missing=missing, hint=hint, error=error)


def read_torch(path, *, what: str = "", default=REQUIRED, missing: str = "", hint: str | None = _RESTART,
               error: type[ValueError] = CheckpointError):
    """``torch.load`` of a saved state (``weights_only``, onto the CPU) with the errors of
    :func:`read_json`: any unpickling failure is a corrupt file, named on one line."""
    return _read(path, lambda p: torch.load(p, map_location="cpu", weights_only=True), Exception,
                 what=what, default=default, missing=missing, hint=hint, error=error)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _prev(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def verify(path, expected: str | None = None) -> str:
    """Check ``path`` against ``expected`` (or its ``.sha256`` sidecar); returns the digest."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    if expected is None:
        side = _sidecar(path)
        if not side.exists():
            raise CheckpointError(f"{path} has no checksum file {side.name}: it was not completely written")
        expected = side.read_text().strip()
    digest = sha256(path)
    if digest != expected:
        raise CheckpointError(f"{path} is corrupt (checksum {digest[:12]}… does not match the recorded "
                              f"{expected[:12]}…)")
    return digest


def _torch_load(path: Path, map_location):
    # weights_only=False on purpose: a training checkpoint also holds the physical device's
    # state_dict, which for devices behind the PhysicalDevice protocol (remote, drifting, user
    # written) may be any picklable Python state, and a task may carry extra state. The file
    # is one this run wrote itself (not a downloaded file), and its sha256 sidecar is verified before it is
    # unpickled (load_checkpoint). Run outputs (model.pt, *.best.pt) are loaded weights_only.
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a corrupt file
        raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}: {str(exc)[:120]})") from None


def save_checkpoint(obj, path) -> str:
    """Write a checkpoint atomically with its checksum, keeping the previous one as ``.prev``
    until the new one is on disk and verified. Returns the SHA-256 digest."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        _torch_save(obj, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        digest = sha256(tmp)
        _torch_load(tmp, "cpu")  # readable before it replaces anything
        if path.exists() and _sidecar(path).exists():
            os.replace(path, _prev(path))
            os.replace(_sidecar(path), _sidecar(_prev(path)))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    atomic_write(_sidecar(path), lambda p: p.write_text(digest + "\n"))
    _fsync_dir(path.parent)
    return digest


def load_checkpoint(path, *, map_location="cpu", expected: str | None = None, fallback: bool = True):
    """Load a verified checkpoint; ``None`` when neither it nor its ``.prev`` exists.

    A corrupt latest checkpoint falls back to ``.prev`` with a warning (``fallback``); when
    nothing good is left, :class:`CheckpointError` names the files.
    """
    path = Path(path)
    candidates = [path] + ([_prev(path)] if fallback and expected is None else [])
    errors = []
    for p in candidates:
        if not p.exists():
            continue
        try:
            verify(p, expected)
            obj = _torch_load(p, map_location)
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        if errors:
            warnings.warn(f"{errors[0]}; resuming from the previous checkpoint {p.name}", stacklevel=2)
        return obj
    if errors:
        raise CheckpointError("; ".join(errors) + " — no good checkpoint left: start again with --overwrite")
    return None


def load_module_state(module: torch.nn.Module, state: dict, path, what: str) -> None:
    """``module.load_state_dict(state)``, or one line naming the checkpoint when its tensors do not
    fit the module (a checkpoint of another model, or of an older onnsim's layout)."""
    mine, theirs = module.state_dict(), state
    missing, unexpected = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
    shapes = sorted(k for k in set(mine) & set(theirs)
                    if isinstance(theirs[k], torch.Tensor) and tuple(theirs[k].shape) != tuple(mine[k].shape))
    if missing or unexpected or shapes:
        few = lambda keys: ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")  # noqa: E731
        parts = [f"{label} {few(keys)}" for label, keys in
                 (("missing", missing), ("unexpected", unexpected), ("other shapes for", shapes)) if keys]
        raise CheckpointError(f"{path} holds a {what} that does not fit this run's ({'; '.join(parts)}): it was "
                              "written for another model or by an older onnsim; start again in a new directory "
                              "or with --overwrite")
    module.load_state_dict(state)
