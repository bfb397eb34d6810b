"""Progress bars: the one place that makes them (tqdm), so that logs stay small.

On a terminal a bar refreshes every 0.1 s, as tqdm does by default. When the stream is not a
terminal (a log file, a pipe, a batch job) every refresh is another line of text, so a bar
refreshes at most every :data:`LOG_INTERVAL_S` seconds there (its first and last state are
always written): a 10-hour run logs a few hundred lines per bar instead of megabytes.
"""

from __future__ import annotations

import sys
from typing import Iterable, TextIO

from tqdm import tqdm

__all__ = ["LOG_INTERVAL_S", "progress_bar", "write"]

LOG_INTERVAL_S = 60.0  # seconds between two refreshes of a bar written to a non-terminal stream


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(iterable: Iterable | None = None, *, desc: str = "", enabled: bool = True,
                 file: TextIO | None = None, **kwargs) -> tqdm:
    """A tqdm bar over ``iterable`` on ``file`` (default: standard error), throttled to one
    refresh per :data:`LOG_INTERVAL_S` s when ``file`` is not a terminal; ``enabled=False``
    makes a silent bar. Other keyword arguments go to tqdm (explicit intervals win)."""
    stream = sys.stderr if file is None else file
    if not _isatty(stream):
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
        # tqdm's monitor thread forces a refresh after maxinterval (10 s by default)
        kwargs.setdefault("maxinterval", max(LOG_INTERVAL_S, kwargs["mininterval"]))
    return tqdm(iterable, desc=desc, disable=not enabled, file=stream, **kwargs)


def write(message: str, *, file: TextIO | None = None) -> None:
    """Print a line (to standard output unless ``file``) without breaking an open bar."""
    tqdm.write(message, file=file)
