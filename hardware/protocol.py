"""The device protocol: what training code may do with a physical system.

:class:`PhysicalDevice` states, as a :class:`typing.Protocol`, the surface that
:class:`training.Trainer` uses and nothing more — an instrument adapter implements these
members and trains with PAT or DAT unchanged:

* ``family`` — ``"mesh"`` (interference chip, inputs are complex mode vectors ``(B, n)``) or
  ``"diffractive"`` (free-space set-up, inputs are :class:`optics.Field` ``(B, ny, nx)``);
* ``load_parameters(state_dict)`` — program phases (rad) into the device;
* ``measure(x, internal_states=False)`` — detector readings (intensities, arbitrary units
  proportional to W); with ``internal_states=True`` also a list of tap readings, one per
  photonic layer, the last being the output;
* ``queries`` (measurement calls so far) and ``samples`` (inputs measured so far);
* ``state_dict()`` / ``load_state_dict(d)`` — counters and whatever the device needs to
  resume exactly (noise streams, drift state).

``to(device)`` is optional (the trainer calls it when present). :class:`DescribedDevice`
adds ``describe()``, a JSON-able dict with the family, parameter shapes and units, which the
server (:mod:`hardware.remote`) sends to clients so that they can check that their model
matches the instrument.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

__all__ = ["PhysicalDevice", "DescribedDevice", "describe_device", "check_device"]


@runtime_checkable
class PhysicalDevice(Protocol):
    """The surface of a physical system that training uses (see the module docstring)."""

    @property
    def family(self) -> str: ...

    queries: int
    samples: int

    def load_parameters(self, state: dict) -> None: ...

    def measure(self, x: Any, *, internal_states: bool = False) -> Any: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@runtime_checkable
class DescribedDevice(PhysicalDevice, Protocol):
    """A :class:`PhysicalDevice` that can describe itself (family, shapes, units)."""

    def describe(self) -> dict: ...


def check_device(device) -> None:
    """Raise a one-line ``TypeError`` naming the missing members if ``device`` does not
    implement :class:`PhysicalDevice`."""
    need = ("family", "queries", "samples", "load_parameters", "measure", "state_dict", "load_state_dict")
    missing = [n for n in need if not hasattr(device, n)]
    if missing:
        raise TypeError(f"{type(device).__name__} is not a physical device: it lacks {', '.join(missing)} "
                        f"(see hardware.PhysicalDevice)")
    if device.family not in ("mesh", "diffractive"):
        raise TypeError(f"device family must be 'mesh' or 'diffractive', got {device.family!r}")


def describe_device(device, model=None) -> dict:
    """A JSON-able description: ``describe()`` when the device has one, else built from
    ``model`` (the nn.Module whose state dict the device takes) when given.

    Keys: ``family``; ``parameters`` — ``{name: {"shape": [...], "dtype": str, "unit": str}}``
    (phases in rad, other parameters dimensionless ``"1"``); ``inputs`` — what
    ``measure`` takes; ``readings`` — unit of the readings.
    """
    if hasattr(device, "describe"):
        return device.describe()
    out = {"family": device.family, "readings": "intensity, arbitrary units proportional to W",
           "inputs": ("complex mode amplitudes (B, n), sqrt(W)" if device.family == "mesh"
                      else "optics.Field (B, ny, nx): complex amplitude sqrt(W/m^2), pitch m, wavelength m")}
    if model is not None:
        out["parameters"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch."),
                                 "unit": "rad" if _is_phase(k) else "1", "numel": math.prod(v.shape)}
                             for k, v in model.state_dict().items()}
    return out


def _is_phase(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return leaf in ("theta", "phi", "phase", "input_phases", "output_phases")
