"""Small models shared by the hardware tests (imported as a plain module)."""

import torch

from optics import Field, FreeSpace, Grid, OpticalSystem, PhaseMask
from optics.functional import circular_aperture, rectangular_aperture

LAM = 0.75e-3
PITCH = 0.4e-3
GAP = 0.02


def diffractive_model(n=48, layers=2, *, seed=0, dtype=torch.complex64):
    grid = Grid(n, PITCH)
    gen = torch.Generator().manual_seed(seed)
    parts = []
    for _ in range(layers):
        parts += [PhaseMask(grid, init="uniform", generator=gen, dtype=torch.float32 if dtype == torch.complex64
                            else torch.float64),
                  FreeSpace(grid, LAM, GAP, dtype=dtype, check_sampling=False)]
    return OpticalSystem(*parts)


def input_field(grid, batch=(), dtype=torch.complex64):
    amp = circular_aperture(grid, 0.35 * grid.extent[0]).to(dtype)
    return Field(amp.expand(*batch, *grid.shape).clone(), grid, LAM)


def trained_focusing_model():
    """A 2-layer diffractive network trained (from random masks) to focus into a square."""
    model = diffractive_model()
    grid = model[0].grid
    field = input_field(grid)
    target = rectangular_aperture(grid, 4 * PITCH).bool()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(60):
        inten = model(field).intensity()
        loss = -inten[target].sum() / inten.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, field, target
