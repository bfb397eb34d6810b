"""Tiny synthetic classification data and models for the training tests (plain module)."""

import torch

from photonics import MeshNetwork
from training.tasks import MeshTask


def synthetic_images(n: int, *, classes: int = 4, seed: int = 0, noise: float = 0.3):
    """``n`` 28×28 images in [0, 1]: a class prototype plus uniform noise; labels (n,)."""
    protos = torch.rand(classes, 28, 28, generator=torch.Generator().manual_seed(1234))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = (protos[y] + noise * torch.rand(n, 28, 28, generator=g)).clamp(0, 1)
    return x, y


def mesh_task(*, modes: int = 16, meshes: int = 2, classes: int = 4, seed: int = 1, dtype=torch.float32):
    net = MeshNetwork(modes, meshes, n_classes=classes, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    return MeshTask(net, crop=int(round(modes ** 0.5)))


def diffractive_task(*, n: int = 32, classes: int = 4, seed: int = 3):
    """Two phase layers on an n×n grid (λ 0.75 mm, 0.4 mm pixels, 2 cm gaps), detector squares."""
    from optics import FreeSpace, Grid, OpticalSystem, PhaseMask
    from optics.functional import square_regions
    from training.tasks import DiffractiveTask

    grid = Grid(n, 0.4e-3)
    gen = torch.Generator().manual_seed(seed)
    system = OpticalSystem(PhaseMask(grid, init="uniform", generator=gen), FreeSpace(grid, 0.75e-3, 0.02),
                           PhaseMask(grid, init="uniform", generator=gen), FreeSpace(grid, 0.75e-3, 0.02))
    s = 4 * 0.4e-3
    centers = [(-s, -s), (-s, s), (s, -s), (s, s)][:classes]
    regions = square_regions(grid, centers, s)
    return DiffractiveTask(system, regions, 0.75e-3, image_px=16, temperature=10.0)


def frozen_dat_trainer(**config):
    """A float64 ``dat`` trainer (16 modes, 2 meshes, (4, 6, 8) SEPNs, bs = ps = 0.1) whose
    optimizers do nothing: every step sees the same model, so two steps' PNN gradients differ
    only by what the test changed in between. ``config``: further TrainConfig fields."""
    from hardware import PhysicalSystem
    from training import TrainConfig, Trainer

    task = mesh_task(modes=16, meshes=2, seed=2, dtype=torch.float64)
    t = Trainer(task, TrainConfig(method="dat", sepn_features=(4, 6, 8), **config),
                physical=PhysicalSystem(task.model, preset="bs=0.1,ps=0.1", seed=4))
    t.pnn_opt.step = t.sepn_opt.step = lambda *a, **k: None
    return t


def pnn_gradient(trainer, images, labels):
    """The PNN parameters' gradients after one step of ``trainer`` on (images, labels)."""
    trainer.step(images, labels)
    return [p.grad.clone() for p in trainer.task.pnn_parameters()]
