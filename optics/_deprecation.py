"""Deprecated names: kept for one release after a rename, each call warning once with the new
name (docs/design.md#deprecations). The lowest layer, so that every library package can use it."""

from __future__ import annotations

import functools
import warnings

__all__ = ["renamed", "warn_renamed"]


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Emit the one-line ``DeprecationWarning`` of a rename, pointing at the caller's line."""
    warnings.warn(f"{old} is deprecated and will be removed in the next release; use {new}",
                  DeprecationWarning, stacklevel=stacklevel)


def renamed(fn, old: str, new: str):
    """``fn`` under its old name ``old``: identical behaviour, plus the warning of the rename."""

    @functools.wraps(fn)
    def alias(*args, **kwargs):
        warn_renamed(old, new)
        return fn(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old.rsplit(".", 1)[-1]
    alias.__doc__ = f"Deprecated alias of ``{new}`` (removed in the next release)."
    return alias
