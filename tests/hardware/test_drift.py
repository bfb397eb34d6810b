"""Drift models against their closed forms, and DriftingSystem against independent twins."""

import math

import pytest
import torch

from hardware import (DriftingSystem, LateralDrift, LinearPhaseDrift, PhysicalSystem, PowerFluctuation,
                      RandomWalkPhaseDrift, SinusoidalPhaseDrift)
from hardware.serve import simulated_device

N = 40_000  # elements: the relative standard error of a variance estimate is sqrt(2/N) ≈ 0.7 %


def _walk(proc, times):
    out = []
    for t in times:
        proc.advance_to(t)
        out.append(proc.value["e"].clone())
    return out


def test_random_walk_variance_grows_linearly_in_time():
    sigma = 0.03  # rad/√s
    proc = RandomWalkPhaseDrift(sigma, seed=4).start({"e": (N,)})
    times = [0.5 * k for k in range(1, 41)]  # steps of 0.5 s up to 20 s
    values = _walk(proc, times)
    for t, v in zip(times, values):
        if t in (2.0, 8.0, 20.0):
            expect = sigma**2 * t
            assert abs(v.var().item() / expect - 1) < 5 * math.sqrt(2 / N)
            assert abs(v.mean().item()) < 5 * math.sqrt(expect / N)
    inc = values[-1] - values[15]  # independent increments: Var = σ²·(t2 − t1)
    assert abs(inc.var().item() / (sigma**2 * (20.0 - 8.0)) - 1) < 5 * math.sqrt(2 / N)
    corr = torch.corrcoef(torch.stack([values[15], inc]))[0, 1].item()
    assert abs(corr) < 5 / math.sqrt(N)


def test_sinusoidal_drift_matches_its_closed_form():
    amp, period = 0.2, 60.0
    proc = SinusoidalPhaseDrift(amp, period, seed=1).start({"e": (N,)})
    assert not proc.value["e"].any()  # zero at t = 0
    for t in (5.0, 15.0, 30.0, 45.0):
        proc.advance_to(t)
        expect = amp**2 * (1 - math.cos(2 * math.pi * t / period))
        assert abs(proc.value["e"].square().mean().item() / expect - 1) < 5 * math.sqrt(2 / N)
    v = proc.value["e"].clone()
    proc.advance_to(45.0 + period)
    assert torch.allclose(proc.value["e"], v, atol=1e-9)
    assert proc.value["e"].abs().max().item() <= 2 * amp


def test_power_fluctuation_is_an_ornstein_uhlenbeck_process():
    s, tau, n = 0.05, 10.0, 3000
    at_5, at_40, lag = [], [], []
    for seed in range(n):
        p = PowerFluctuation(s, tau, seed=seed).start({})
        p.advance_to(2.0)
        p.advance_to(5.0)
        at_5.append(float(p.value["power"]))
        p.advance_to(40.0)
        at_40.append(float(p.value["power"]))
        p.advance_to(45.0)
        lag.append(float(p.value["power"]))
    at_5, at_40, lag = map(torch.tensor, (at_5, at_40, lag))
    tol = 5 * math.sqrt(2 / n)
    assert abs(at_5.var().item() / (s**2 * (1 - math.exp(-2 * 5.0 / tau))) - 1) < tol
    assert abs(at_40.var().item() / (s**2 * (1 - math.exp(-2 * 40.0 / tau))) - 1) < tol
    assert abs(torch.corrcoef(torch.stack([at_40, lag]))[0, 1].item() - math.exp(-5.0 / tau)) < 5 / math.sqrt(n)


def test_lateral_drift_moves_at_its_velocity():
    p = LateralDrift((2e-6, -1e-6), 0.0).start({})
    p.advance_to(3.0)
    p.advance_to(10.0)
    assert torch.allclose(p.value["shift"], torch.tensor([2e-5, -1e-5], dtype=torch.float64), rtol=1e-12)


@pytest.mark.parametrize("bad,match", [
    (lambda: RandomWalkPhaseDrift(-1.0), "rate_rad_per_sqrt_s must be a finite number ≥ 0"),
    (lambda: SinusoidalPhaseDrift(0.1, 0.0), "period_s must be > 0"),
    (lambda: PowerFluctuation(0.1, 1.0, seed=1.5), "drift seed must be an int"),
    (lambda: LateralDrift((1.0,)), "velocity_m_per_s must be two finite numbers"),
])
def test_bad_drift_parameters_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_a_drifting_system_is_its_twin_with_shifted_phases():
    """A uniform ramp r·t: the k-th measurement (t = k·Δt) must equal an undrifted twin
    programmed with θ + r·t and φ + r·t."""
    rate, dt = 0.01, 2.0
    base, model = simulated_device(modes=16, meshes=2, preset="bs=0.06,ps=0.06", error_seed=5)
    drifting = DriftingSystem(base, model, [LinearPhaseDrift(rate)], seconds_per_query=dt)
    twin, _ = simulated_device(modes=16, meshes=2, preset="bs=0.06,ps=0.06", error_seed=5)
    params = {k: v + 0.3 for k, v in model.state_dict().items()}
    drifting.load_parameters(params)
    x = torch.randn(6, 16, dtype=torch.complex64, generator=torch.Generator().manual_seed(2))
    for k in range(4):
        t = k * dt
        shifted = {n: (v.double() + rate * t).float() if n.endswith((".theta", ".phi")) else v
                   for n, v in params.items()}
        twin.load_parameters(shifted)
        assert torch.allclose(drifting.measure(x), twin.measure(x), rtol=1e-5, atol=1e-7)
    assert drifting.queries == 4 and drifting.elapsed() == 4 * dt


def test_drift_state_resumes_exactly_and_zero_drift_is_the_bare_system():
    base, model = simulated_device(modes=16, meshes=2, preset="medium", error_seed=2)
    drifts = [RandomWalkPhaseDrift(0.05, seed=1), PowerFluctuation(0.02, 5.0, seed=2)]
    dev = DriftingSystem(base, model, drifts, seconds_per_query=3.0)
    x = torch.randn(4, 16, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    dev.measure(x)
    saved = dev.state_dict()
    first = [dev.measure(x) for _ in range(3)]
    dev.load_state_dict(saved)
    assert all(torch.equal(a, dev.measure(x)) for a in first)
    bare, model2 = simulated_device(modes=16, meshes=2, preset="medium", error_seed=2)
    still = DriftingSystem(simulated_device(modes=16, meshes=2, preset="medium", error_seed=2)[0], model2,
                           [RandomWalkPhaseDrift(0.0), PowerFluctuation(0.0, 1.0)])
    for _ in range(2):
        assert torch.equal(still.measure(x), bare.measure(x))
    with pytest.raises(ValueError, match="LateralDrift moves the input plane of a diffractive set-up"):
        DriftingSystem(bare, model2, [LateralDrift((1e-6, 0.0))])
    assert isinstance(base, PhysicalSystem)


@pytest.mark.filterwarnings("ignore::optics.SamplingWarning")
def test_lateral_drift_translates_the_input_plane():
    """v = one pixel per second in y at 1 s per query: the k-th measurement is the twin's
    measurement of the input rolled by k pixels (a whole-pixel shift is a roll)."""
    from optics import Field, Grid

    pitch = 0.4e-3
    base, model = simulated_device(family="diffractive", grid_px=16, layers=2, preset="none")
    twin, _ = simulated_device(family="diffractive", grid_px=16, layers=2, preset="none")
    dev = DriftingSystem(base, model, [LateralDrift((pitch, 0.0))], seconds_per_query=1.0)
    data = torch.zeros(2, 16, 16, dtype=torch.complex64)
    data[:, 6:9, 5:11] = 1.0
    field = Field(data, Grid(16, pitch), 0.75e-3)
    for k in range(3):
        rolled = field.replace(data=torch.roll(field.data, k, dims=-2))
        assert torch.allclose(dev.measure(field), twin.measure(rolled), rtol=1e-4, atol=1e-6)
