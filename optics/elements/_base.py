"""Shared checks for optics modules: incoming fields must match the element's set-up."""

from __future__ import annotations

import math

from ..field import Field
from ..grid import Grid


def check_field_matches(module_name: str, field, grid: Grid, wavelength: float | None = None) -> None:
    """Raise a clear error when ``field`` is not a Field on ``grid`` (at ``wavelength``)."""
    if not isinstance(field, Field):
        raise TypeError(f"{module_name} expects an optics.Field, got {type(field).__name__}")
    if field.grid != grid:
        raise ValueError(f"{module_name} was built for {grid!r} but received a field on {field.grid!r}")
    if wavelength is not None and not math.isclose(field.wavelength, wavelength, rel_tol=1e-12):
        raise ValueError(
            f"{module_name} was built for wavelength {wavelength:.9g} m but received a field at "
            f"{field.wavelength:.9g} m"
        )
