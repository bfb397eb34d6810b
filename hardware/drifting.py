"""``DriftingSystem``: a physical system whose errors drift while it is used.

It wraps any :class:`hardware.PhysicalDevice` (typically a :class:`PhysicalSystem` with its
static errors) and adds the drift processes of :mod:`hardware.drift` on top:

* phase drifts add δ(t) (rad) to the *programmed* phases of the parameters they target
  (``theta``/``phi`` of every MZI for meshes, ``phase`` of every pixel for diffractive layers):
  a thermal offset of a phase shifter is indistinguishable from programming θ + δ;
* lateral drift translates the input field by d(t) (m, Fourier shift, diffractive only);
* power fluctuation scales the input amplitude by √(1 + ε(t)) (the readings by 1 + ε).

Clock — a documented choice: by default the drift advances with the **query count**,
t = (queries before this measurement) × ``seconds_per_query``, so a run is reproducible
bit for bit and resumes exactly from a checkpoint whatever the machine's speed;
``clock="wall"`` uses the monotonic wall time since the first measurement instead (what a
real bench does; not reproducible). Drift is evaluated just before each measurement and
is zero at the first one (the device was calibrated when the run started).
"""

from __future__ import annotations

import time

import torch

from optics import Field
from optics.functional import shift as shift_field

from .drift import DriftProcess, drift_to_dict
from .protocol import check_device, describe_device

__all__ = ["DriftingSystem", "PHASE_TARGETS"]

#: parameter leaf names a phase drift perturbs, per family
PHASE_TARGETS = {"mesh": ("theta", "phi"), "diffractive": ("phase",)}


class DriftingSystem:
    """A physical device plus drift processes (see the module docstring).

    Args:
        system: the device to wrap (``family``, ``load_parameters``, ``measure``, ...).
        model: the model whose state dict the device takes (its current values are the
            device's initial programming; its shapes choose the drift targets).
        drifts: drift models (:mod:`hardware.drift`), each with its own seed.
        seconds_per_query: nominal duration of one measurement, s (query clock).
        clock: ``"queries"`` (default, reproducible) or ``"wall"``.
    """

    def __init__(self, system, model, drifts=(), *, seconds_per_query: float = 1.0, clock: str = "queries"):
        check_device(system)
        if clock not in ("queries", "wall"):
            raise ValueError(f"clock must be 'queries' or 'wall', got {clock!r}")
        if not (isinstance(seconds_per_query, (int, float)) and seconds_per_query > 0):
            raise ValueError(f"seconds_per_query must be a number > 0 (s), got {seconds_per_query!r}")
        self._system = system
        self._model_info = describe_device(system, model)
        self._nominal = {k: v.detach().clone() for k, v in model.state_dict().items()}
        leaves = PHASE_TARGETS[system.family]
        targets = {k: tuple(v.shape) for k, v in self._nominal.items() if k.rsplit(".", 1)[-1] in leaves}
        self._drifts = list(drifts)
        self._procs: list[DriftProcess] = []
        for d in self._drifts:
            if d.kind == "lateral" and system.family != "diffractive":
                raise ValueError("LateralDrift moves the input plane of a diffractive set-up; this device is a mesh")
            self._procs.append(d.start(targets))
        self.seconds_per_query = float(seconds_per_query)
        self.clock = clock
        self._wall0: float | None = None
        self._wall_offset = 0.0
        self._dirty = True

    # -- the PhysicalDevice surface ----------------------------------------------------
    @property
    def family(self) -> str:
        return self._system.family

    @property
    def queries(self) -> int:
        return self._system.queries

    @property
    def samples(self) -> int:
        return self._system.samples

    def load_parameters(self, state: dict) -> None:
        """Program nominal parameters; drift is added to them at every measurement."""
        self._system.load_parameters(state)  # checks keys and shapes
        self._nominal = {k: v.detach().clone() for k, v in state.items()}
        self._dirty = True

    def elapsed(self) -> float:
        """Drift time t (s) of the next measurement."""
        if self.clock == "queries":
            return self._system.queries * self.seconds_per_query
        if self._wall0 is None:
            return self._wall_offset
        return self._wall_offset + time.monotonic() - self._wall0

    def measure(self, x, *, internal_states: bool = False):
        t = self.elapsed()
        if self.clock == "wall" and self._wall0 is None:
            self._wall0 = time.monotonic()
        for p in self._procs:
            p.advance_to(t)
        phase = [p for p in self._procs if p.kind == "phase"]
        if phase and (t > 0 or self._dirty):
            drifted = {k: v.clone() for k, v in self._nominal.items()}
            for p in phase:
                for k, d in p.value.items():
                    drifted[k] = (drifted[k].to(torch.float64) + d).to(drifted[k].dtype)
            self._system.load_parameters(drifted)
            self._dirty = False
        x = self._perturb_input(x)
        return self._system.measure(x, internal_states=internal_states)

    def _perturb_input(self, x):
        scale = 1.0
        for p in self._procs:
            if p.kind == "power":
                scale *= max(0.0, float(1 + p.value["power"])) ** 0.5
            elif p.kind == "lateral":
                dy, dx = (float(c) for c in p.value["shift"])
                if dy or dx:
                    x = shift_field(x, dy, dx)
        if scale != 1.0:
            x = x.replace(data=x.data * scale) if isinstance(x, Field) else x * scale
        return x

    def state_dict(self) -> dict:
        """The wrapped device's state, the drift processes' states and the clock."""
        wall = self.elapsed() if self.clock == "wall" else 0.0
        return {"system": self._system.state_dict(), "drifts": [p.state_dict() for p in self._procs],
                "wall_s": wall}

    def load_state_dict(self, state: dict) -> None:
        if len(state.get("drifts", ())) != len(self._procs):
            raise ValueError(f"state has {len(state.get('drifts', ()))} drift processes, this system "
                             f"{len(self._procs)}")
        self._system.load_state_dict(state["system"])
        for p, s in zip(self._procs, state["drifts"]):
            p.load_state_dict(s)
        self._wall_offset, self._wall0 = float(state.get("wall_s", 0.0)), None
        self._dirty = True

    def to(self, device):
        if hasattr(self._system, "to"):
            self._system.to(device)
        return self

    def describe(self) -> dict:
        """Family, parameter shapes/units, drift models with their rates, clock."""
        return {**self._model_info, "drifts": [drift_to_dict(d) for d in self._drifts], "clock": self.clock,
                "seconds_per_query": self.seconds_per_query}

    def drift_values(self) -> dict:
        """The current drift perturbations (for the run record; training must not read them)."""
        return {f"{i}:{type(d).__name__}": {k: v.clone() for k, v in p.value.items()}
                for i, (d, p) in enumerate(zip(self._drifts, self._procs))}

    def __repr__(self) -> str:
        return (f"DriftingSystem({type(self._system).__name__}, drifts={[type(d).__name__ for d in self._drifts]}, "
                f"queries={self.queries}, t={self.elapsed():.3g} s)")
