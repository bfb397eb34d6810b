"""Pure functions of scalar wave optics."""

__all__: list[str] = []
