"""Thin nn.Module wrappers around optics.functional."""

__all__: list[str] = []
