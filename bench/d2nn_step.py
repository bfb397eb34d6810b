"""Benchmark: one training step of a 5-layer diffractive network (200×200, batch 32).

``onnsim``: ``OpticalSystem`` of 5 × (``PhaseMask`` → ``FreeSpace``) with the default FFT
backend, intensity MSE loss, Adam step. ``limit``: the same network hand-written with the
in-place FFTW filter of ``_limit.InPlace`` (planned for the batch, backward = the filter
with conj(H)) and precomputed transfer functions: the in-place FFTW limit. ``torch``: the
hand-written network on ``torch.fft``; ``onnsim_torch``: the onnsim network forced onto
``fft_backend="torch"``. Same run, interleaved, medians of wall and process-CPU time. One
JSON line.

    python bench/d2nn_step.py [--repeats 7] [--n 200] [--batch 32] [--layers 5]
"""

from __future__ import annotations

import argparse

import torch

from optics import Field, FreeSpace, Grid, OpticalSystem, PhaseMask
from optics.functional import asm_transfer_function

from _limit import InPlace, InPlaceFilter
from _timing import emit, interleaved_wall_cpu

LAM, PITCH, Z = 0.75e-3, 0.4e-3, 0.03


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--layers", type=int, default=5)
    args = ap.parse_args(argv)
    n, b, L = args.n, args.batch, args.layers
    grid = Grid(n, PITCH)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, n, n, dtype=torch.complex64, generator=gen)
    target = torch.rand(b, n, n, generator=gen)

    def onnsim_model(backend):
        layers = []
        for _ in range(L):
            layers += [PhaseMask(grid), FreeSpace(grid, LAM, Z, fft_backend=backend)]
        model = OpticalSystem(*layers)
        return model, torch.optim.Adam(model.parameters(), lr=1e-2)

    models = {k: onnsim_model(k) for k in ("auto", "torch")}
    for m in models["auto"][0].modules():
        if isinstance(m, FreeSpace):
            m.warm_up()

    def step_onnsim(which):
        model, opt = models[which]
        opt.zero_grad(set_to_none=True)
        loss = (model(Field(x, grid, LAM)).intensity() - target).square().mean()
        loss.backward()
        opt.step()

    h = asm_transfer_function(grid, LAM, Z)
    hn, hc = h.numpy(), h.conj().resolve_conj().numpy()
    plan = InPlace(b, (n, n), tuple(h.shape))

    def hand_written(propagate):
        """The network written out: phase masks, ``propagate``, intensity MSE, Adam."""
        phases = [torch.zeros(n, n, requires_grad=True) for _ in range(L)]
        opt = torch.optim.Adam(phases, lr=1e-2)

        def step():
            opt.zero_grad(set_to_none=True)
            u = x
            for p in phases:
                u = propagate(u * torch.polar(torch.ones_like(p), p))
            loss = (u.real.square() + u.imag.square() - target).square().mean()
            loss.backward()
            opt.step()

        return step

    step_torch = hand_written(lambda u: torch.fft.ifft2(torch.fft.fft2(u, s=tuple(h.shape)) * h)[..., :n, :n])
    step_limit = hand_written(lambda u: InPlaceFilter.apply(u, plan, hn, hc))

    fns = {"limit": step_limit, "torch": step_torch, "onnsim": lambda: step_onnsim("auto"),
           "onnsim_torch": lambda: step_onnsim("torch")}
    t, c = interleaved_wall_cpu(fns, repeats=args.repeats)
    emit({"bench": "d2nn_step", "n": n, "batch": b, "layers": L, "dtype": "complex64", "pad_factor": 2,
          **{f"{k}_ms": round(v, 3) for k, v in t.items()},
          **{f"{k}_cpu_ms": round(v, 3) for k, v in c.items()},
          "onnsim_vs_limit": round(t["onnsim"] / t["limit"], 3),
          "onnsim_vs_limit_cpu": round(c["onnsim"] / c["limit"], 3),
          "onnsim_vs_torch": round(t["onnsim"] / t["torch"], 3),
          "onnsim_vs_torch_cpu": round(c["onnsim"] / c["torch"], 3)})


if __name__ == "__main__":
    main()
