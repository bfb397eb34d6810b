"""``OpticalSystem``: a sequence of optical elements acting on a Field."""

from __future__ import annotations

from torch import nn

from ..field import Field

__all__ = ["OpticalSystem"]


class OpticalSystem(nn.Module):
    """Apply optical elements in order, optionally returning every intermediate result.

    Each element maps a Field to a Field, except possibly the last (a detector returning a
    tensor). ``forward(x, return_intermediates=True)`` returns ``(output, [after layer 0,
    after layer 1, ...])`` — the list includes the output — for inspection, internal-state
    measurements (DAT) or plots.
    """

    def __init__(self, *layers: nn.Module):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, nn.Module):
                raise TypeError(f"OpticalSystem layer {i} must be an nn.Module, got {type(layer).__name__}")
        self.layers = nn.ModuleList(layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def forward(self, x: Field, *, return_intermediates: bool = False):
        if not isinstance(x, Field):
            raise TypeError(f"OpticalSystem expects an optics.Field input, got {type(x).__name__}")
        states = []
        for i, layer in enumerate(self.layers):
            if not isinstance(x, Field):
                raise TypeError(
                    f"OpticalSystem layer {i} ({type(layer).__name__}) receives a "
                    f"{type(x).__name__}, not a Field: only the last layer may return a non-Field"
                )
            x = layer(x)
            if return_intermediates:
                states.append(x)
        return (x, states) if return_intermediates else x
