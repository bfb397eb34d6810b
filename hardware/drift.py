"""Drift models: slow, seeded, time-dependent errors of a physical system.

Each model states its rate in physical units and, when :meth:`start`-ed on a set of
elements, becomes a *process* whose value at time t (s) is a perturbation:

* :class:`RandomWalkPhaseDrift` — thermal phase drift of every phase shifter (MZI) or pixel,
  a Wiener process δ(t) = σ·W(t): independent Gaussian increments N(0, σ²Δt), so
  Var δ(t) = σ²·t (Gardiner, *Stochastic Methods*, 4th ed., §3.8.1). σ in rad/√s.
* :class:`SinusoidalPhaseDrift` — periodic drift (e.g. a thermostat cycle),
  δᵢ(t) = A·[sin(2πt/T + ψᵢ) − sin ψᵢ] with ψᵢ ~ U(0, 2π) per element; zero at t = 0 and,
  averaged over ψ, E δ² = A²·(1 − cos 2πt/T). A in rad, T in s.
* :class:`LinearPhaseDrift` — a uniform phase ramp δ(t) = r·t (r in rad/s), e.g. a slow
  temperature ramp of the whole chip.
* :class:`LateralDrift` — slow lateral misalignment of the input plane of a diffractive set-up,
  d(t) = v·t + σ·W(t) per axis (v in m/s, σ in m/√s).
* :class:`PowerFluctuation` — relative source power P(t)/P₀ = 1 + ε(t), ε an
  Ornstein–Uhlenbeck process with stationary std s and correlation time τ (s), started at
  ε(0) = 0 and advanced with the exact update ε ← ε·e^{−Δ/τ} + s·√(1 − e^{−2Δ/τ})·N(0, 1)
  (Gillespie, Phys. Rev. E 54, 2084 (1996)); Var ε(t) = s²·(1 − e^{−2t/τ}).

Processes advance in time only (``advance_to(t)``); :class:`hardware.drifting.DriftingSystem`
decides what t is (query count × seconds per query, or wall time).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .errors import nonnegative

__all__ = ["RandomWalkPhaseDrift", "SinusoidalPhaseDrift", "LinearPhaseDrift", "LateralDrift", "PowerFluctuation",
           "DriftProcess", "drift_to_dict", "drift_from_dict"]


def _seed(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"drift seed must be an int, got {value!r}")
    return int(value)


class DriftProcess:
    """A started drift model: ``value`` (a dict of float64 tensors keyed like the targets, or
    the tensors ``shift`` (2,) m / ``power`` () relative) at time ``t`` (s)."""

    def __init__(self, model, shapes: dict):
        self.model = model
        self.t = 0.0
        self.gen = torch.Generator().manual_seed(model.seed)
        self.value = {k: torch.zeros(s, dtype=torch.float64) for k, s in shapes.items()}
        self._init()

    @property
    def kind(self) -> str:
        """``"phase"`` (adds to phase parameters), ``"lateral"`` or ``"power"``."""
        return self.model.kind

    def _init(self):
        pass

    def advance_to(self, t: float) -> None:
        t = float(t)
        if t < self.t:
            raise ValueError(f"drift time runs forward only: asked for t = {t} s, already at {self.t} s")
        if t > self.t:
            self._step(self.t, t)
            self.t = t

    def _step(self, t0: float, t1: float) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {"t": self.t, "value": {k: v.clone() for k, v in self.value.items()}, "rng": self.gen.get_state(),
                **self._extra_state()}

    def _extra_state(self) -> dict:
        return {}

    def load_state_dict(self, s: dict) -> None:
        if set(s["value"]) != set(self.value):
            raise ValueError(f"drift state is for {sorted(s['value'])}, this process drives {sorted(self.value)}")
        self.t = float(s["t"])
        self.value = {k: v.to(torch.float64).clone() for k, v in s["value"].items()}
        self.gen.set_state(s["rng"])
        self._load_extra(s)

    def _load_extra(self, s: dict) -> None:
        pass


@dataclass(frozen=True)
class RandomWalkPhaseDrift:
    """Random-walk phase drift, σ = ``rate_rad_per_sqrt_s`` (Var δ(t) = σ²t), per element."""

    rate_rad_per_sqrt_s: float
    seed: int = 0
    kind = "phase"

    def __post_init__(self):
        nonnegative(self.rate_rad_per_sqrt_s, "rate_rad_per_sqrt_s", "rad/√s")
        _seed(self.seed)

    def start(self, shapes: dict) -> DriftProcess:
        return _RandomWalk(self, shapes, self.rate_rad_per_sqrt_s)


@dataclass(frozen=True)
class SinusoidalPhaseDrift:
    """Periodic phase drift of amplitude ``amplitude_rad`` and period ``period_s``, random
    phase ψ per element, zero at t = 0."""

    amplitude_rad: float
    period_s: float
    seed: int = 0
    kind = "phase"

    def __post_init__(self):
        nonnegative(self.amplitude_rad, "amplitude_rad", "rad")
        if not nonnegative(self.period_s, "period_s", "s") > 0:
            raise ValueError("period_s must be > 0 (in s)")
        _seed(self.seed)

    def start(self, shapes: dict) -> DriftProcess:
        return _Sinusoid(self, shapes)


@dataclass(frozen=True)
class LinearPhaseDrift:
    """Uniform phase ramp δ(t) = ``rate_rad_per_s``·t on every element."""

    rate_rad_per_s: float
    seed: int = 0
    kind = "phase"

    def __post_init__(self):
        if isinstance(self.rate_rad_per_s, bool) or not isinstance(self.rate_rad_per_s, (int, float)) \
                or not math.isfinite(self.rate_rad_per_s):
            raise ValueError(f"rate_rad_per_s must be a finite number (rad/s), got {self.rate_rad_per_s!r}")

    def start(self, shapes: dict) -> DriftProcess:
        return _Linear(self, shapes)


@dataclass(frozen=True)
class LateralDrift:
    """Input-plane lateral drift d(t) = v·t + σ·W(t): ``velocity_m_per_s`` (vy, vx) and
    random-walk ``rate_m_per_sqrt_s`` σ per axis. Diffractive systems only."""

    velocity_m_per_s: tuple = (0.0, 0.0)
    rate_m_per_sqrt_s: float = 0.0
    seed: int = 0
    kind = "lateral"

    def __post_init__(self):
        v = tuple(self.velocity_m_per_s)
        if len(v) != 2 or not all(isinstance(c, (int, float)) and math.isfinite(c) for c in v):
            raise ValueError(f"velocity_m_per_s must be two finite numbers (vy, vx) in m/s, got {v!r}")
        object.__setattr__(self, "velocity_m_per_s", tuple(float(c) for c in v))
        nonnegative(self.rate_m_per_sqrt_s, "rate_m_per_sqrt_s", "m/√s")
        _seed(self.seed)

    def start(self, shapes: dict) -> DriftProcess:
        return _Lateral(self, {"shift": (2,)})


@dataclass(frozen=True)
class PowerFluctuation:
    """Source power fluctuation: Ornstein–Uhlenbeck relative deviation of stationary std
    ``relative_std`` and correlation time ``correlation_time_s``."""

    relative_std: float
    correlation_time_s: float
    seed: int = 0
    kind = "power"

    def __post_init__(self):
        nonnegative(self.relative_std, "relative_std", "fraction of the nominal power")
        if not nonnegative(self.correlation_time_s, "correlation_time_s", "s") > 0:
            raise ValueError("correlation_time_s must be > 0 (in s)")
        _seed(self.seed)

    def start(self, shapes: dict) -> DriftProcess:
        return _OrnsteinUhlenbeck(self, {"power": ()})


class _RandomWalk(DriftProcess):
    def __init__(self, model, shapes, sigma: float):
        self.sigma = sigma
        super().__init__(model, shapes)

    def _step(self, t0, t1):
        scale = self.sigma * math.sqrt(t1 - t0)
        for k in sorted(self.value):
            v = self.value[k]
            v += scale * torch.randn(v.shape, generator=self.gen, dtype=torch.float64)


class _Sinusoid(DriftProcess):
    def _init(self):
        self.psi = {k: 2 * math.pi * torch.rand(self.value[k].shape, generator=self.gen, dtype=torch.float64)
                    for k in sorted(self.value)}

    def _step(self, t0, t1):
        m = self.model
        arg = 2 * math.pi * t1 / m.period_s
        self.value = {k: m.amplitude_rad * (torch.sin(arg + p) - torch.sin(p)) for k, p in self.psi.items()}

    def _extra_state(self):
        return {"psi": {k: v.clone() for k, v in self.psi.items()}}

    def _load_extra(self, s):
        self.psi = {k: v.to(torch.float64).clone() for k, v in s["psi"].items()}


class _Linear(DriftProcess):
    def _step(self, t0, t1):
        self.value = {k: torch.full_like(v, self.model.rate_rad_per_s * t1) for k, v in self.value.items()}


class _Lateral(DriftProcess):
    def _step(self, t0, t1):
        m = self.model
        v = torch.tensor(m.velocity_m_per_s, dtype=torch.float64) * (t1 - t0)
        w = m.rate_m_per_sqrt_s * math.sqrt(t1 - t0) * torch.randn(2, generator=self.gen, dtype=torch.float64)
        self.value = {"shift": self.value["shift"] + v + w}


class _OrnsteinUhlenbeck(DriftProcess):
    def _step(self, t0, t1):
        m = self.model
        a = math.exp(-(t1 - t0) / m.correlation_time_s)
        eps = self.value["power"] * a + m.relative_std * math.sqrt(1 - a * a) * torch.randn(
            (), generator=self.gen, dtype=torch.float64)
        self.value = {"power": eps}


_MODELS = {c.__name__: c for c in (RandomWalkPhaseDrift, SinusoidalPhaseDrift, LinearPhaseDrift, LateralDrift,
                                    PowerFluctuation)}


def drift_to_dict(model) -> dict:
    """``{"type": class name, **fields}`` (JSON-able)."""
    return {"type": type(model).__name__, **asdict(model)}


def drift_from_dict(d: dict):
    """Rebuild a drift model from :func:`drift_to_dict` output."""
    d = dict(d)
    name = d.pop("type", None)
    if name not in _MODELS:
        raise ValueError(f"unknown drift type {name!r}; known: {', '.join(_MODELS)}")
    return _MODELS[name](**d)
