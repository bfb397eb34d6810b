"""float64 gradcheck through every optics layer (small grids, complex128)."""

import pytest
import torch
from torch.autograd import gradcheck

from optics import AmplitudeMask, Aperture, Field, FreeSpace, Grid, Lens, OpticalSystem, PhaseMask
from optics.functional import asm_propagate, fraunhofer_propagate, fresnel_propagate, rs_propagate

LAM = 1e-6
GRID = Grid((6, 5), 0.4e-6)  # pitch < λ/2: every propagator is sampled at these distances
C128 = torch.complex128


def _input(generator):
    return torch.randn(*GRID.shape, generator=generator, dtype=C128).requires_grad_(True)


@pytest.mark.parametrize("fn,kw", [
    (asm_propagate, {"check_sampling": False}),
    (asm_propagate, {"check_sampling": False, "taper": 0.3}),
    (fresnel_propagate, {"check_sampling": False}),
    (rs_propagate, {}),
    (fraunhofer_propagate, {}),
])
def test_propagators(fn, kw, generator):
    z = 3e-6 if fn is not fraunhofer_propagate else 1e-3
    assert gradcheck(lambda u: fn(Field(u, GRID, LAM), z, **kw).data, (_input(generator),))


def test_asm_distance(generator):
    u = torch.randn(*GRID.shape, generator=generator, dtype=C128)
    # distance in µm so that finite differences take O(1e-6) steps of an O(1) variable
    assert gradcheck(lambda s: asm_propagate(Field(u, GRID, LAM), s * 1e-6, check_sampling=False).data,
                     (torch.tensor(3.0, dtype=torch.float64, requires_grad=True),))


def _system(generator):
    return OpticalSystem(
        PhaseMask(GRID, init="uniform", generator=generator, dtype=torch.float64),
        FreeSpace(GRID, LAM, 3e-6, dtype=C128, check_sampling=False),
        AmplitudeMask(GRID),
        Lens(GRID, LAM, 5e-6, dtype=C128, aperture_radius=1e-6),
        Aperture(GRID, radius=1e-6),
        FreeSpace(GRID, LAM, 2e-6, method="rs", dtype=C128),
    ).double()


def test_system_wrt_input(generator):
    system = _system(generator)
    assert gradcheck(lambda u: system(Field(u, GRID, LAM)).data, (_input(generator),))


def test_system_wrt_parameters(generator):
    system = _system(generator)
    u = torch.randn(*GRID.shape, generator=generator, dtype=C128)
    mask, amp = system[0], system[2]

    def f(phase, logit):
        return torch.func.functional_call(system, {"layers.0.phase": phase, "layers.2.logit": logit},
                                          (Field(u, GRID, LAM),)).data

    phase = mask.phase.detach().clone().requires_grad_(True)
    logit = amp.logit.detach().clone().requires_grad_(True)
    assert gradcheck(f, (phase, logit))


def test_gradients_reach_every_parameter(generator):
    system = _system(generator)
    out = system(Field(_input(generator).detach(), GRID, LAM))
    out.intensity().sum().backward()
    for name, p in system.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
