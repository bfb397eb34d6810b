"""FFTW wisdom kept per machine in a user cache directory, so a new process plans instantly.

FFTW_MEASURE planning costs 0.4–1.5 s per transform shape on the 2-core machine; FFTW's
*wisdom* (what it measured) makes a later plan of the same problem immediate. The planned
filter (:mod:`optics._fftw`) loads the wisdom file before its first plan in a process and
writes it back after planning something new.

Location (read at call time, never at import): ``$ONNSIM_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/onnsim``, else ``~/.cache/onnsim``; the file is
``fftw/<machine>.json`` with ``<machine>`` a hash of host name, CPU model, architecture and
the pyfftw version (wisdom measured on one machine is no advice for another). Failing to
read or write it is a warning, never an error: planning then simply measures again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import warnings
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_dir", "wisdom_path", "load", "save", "cpu_model"]

CACHE_ENV = "ONNSIM_CACHE_DIR"
_FORMAT = 1
_LOADED: set = set()  # wisdom files already imported by this process


def cache_dir() -> Path:
    """onnsim's user cache directory (see the module docstring)."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "onnsim"


def cpu_model() -> str:
    """The CPU model name (Linux: /proc/cpuinfo), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _machine_key() -> str:
    import pyfftw

    ident = "|".join((platform.node(), cpu_model(), platform.machine(), pyfftw.__version__))
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def wisdom_path() -> Path:
    """This machine's wisdom file."""
    return cache_dir() / "fftw" / f"{_machine_key()}.json"


def load() -> bool:
    """Import this machine's wisdom once per process and file; True when something was read."""
    path = wisdom_path()
    if path in _LOADED:
        return False
    _LOADED.add(path)
    if not path.exists():
        return False
    try:
        import pyfftw

        rec = json.loads(path.read_text())
        if rec.get("format") != _FORMAT:
            raise ValueError(f"unknown format {rec.get('format')!r}")
        ok = pyfftw.import_wisdom(tuple(s.encode("ascii") for s in rec["fftw"]))
        if not all(ok):
            raise ValueError("FFTW rejected part of it")
        return True
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"FFTW wisdom {path} not loaded ({exc}); planning will measure again", RuntimeWarning,
                      stacklevel=2)
        return False


def save() -> bool:
    """Write the process's wisdom (what it loaded plus what it planned since); True on success."""
    path = wisdom_path()
    try:
        import pyfftw

        rec = {"format": _FORMAT, "fftw": [w.decode("ascii") for w in pyfftw.export_wisdom()]}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(rec))
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old or the new file
        _LOADED.add(path)
        return True
    except (OSError, ValueError) as exc:
        warnings.warn(f"FFTW wisdom not saved to {path} ({exc}); the next process will plan again",
                      RuntimeWarning, stacklevel=2)
        return False
