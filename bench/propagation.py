"""Benchmark: band-limited angular-spectrum propagation against the bare FFT limit.

For N ∈ {200, 512}, batch ∈ {1, 32}, complex64, 2× padding, it times
- ``FreeSpace`` (module, cached transfer function, input checks on) and
- ``asm_propagate`` (functional; transfer function from the LRU cache)
against the bare limit measured in the same run: a precomputed transfer function,
``torch.fft.fft2(x, s=padded)`` → multiply → ``ifft2`` → crop. Forward and forward+backward.
Prints one JSON line per case with medians (ms) and the ratio ours / bare.

    python bench/propagation.py [--repeats 15] [--sizes 200 512] [--batches 1 32]
"""

from __future__ import annotations

import argparse

import torch

from optics import Field, FreeSpace, Grid
from optics.functional import asm_propagate, asm_transfer_function

from _timing import emit, interleaved

LAM, PITCH, Z = 0.75e-3, 0.4e-3, 0.03  # the THz D2NN geometry (Lin et al. 2018)


def bare(x, h):
    n = x.shape[-2:]
    return torch.fft.ifft2(torch.fft.fft2(x, s=tuple(h.shape)) * h)[..., : n[0], : n[1]]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 512])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    args = ap.parse_args(argv)
    gen = torch.Generator().manual_seed(0)
    for n in args.sizes:
        grid = Grid(n, PITCH)
        layer = FreeSpace(grid, LAM, Z)
        h = asm_transfer_function(grid, LAM, Z)
        for b in args.batches:
            data = torch.randn(b, n, n, dtype=torch.complex64, generator=gen)
            field = Field(data, grid, LAM)
            with torch.no_grad():
                fwd = interleaved({
                    "bare": lambda: bare(data, h),
                    "module": lambda: layer(field),
                    "functional": lambda: asm_propagate(field, Z),
                }, repeats=args.repeats)
            x = data.clone().requires_grad_(True)

            def fb_bare():
                bare(x, h).abs().square().sum().backward()

            def fb_module():
                layer(Field(x, grid, LAM)).intensity().sum().backward()

            fb = interleaved({"bare": fb_bare, "module": fb_module}, repeats=args.repeats)
            for mode, t in (("forward", fwd), ("forward+backward", fb)):
                rec = {"bench": "asm_propagation", "n": n, "batch": b, "pad_factor": 2, "dtype": "complex64",
                       "mode": mode, "bare_ms": round(t["bare"], 3), "module_ms": round(t["module"], 3),
                       "module_ratio": round(t["module"] / t["bare"], 3)}
                if "functional" in t:
                    rec["functional_ms"] = round(t["functional"], 3)
                    rec["functional_ratio"] = round(t["functional"] / t["bare"], 3)
                emit(rec)


if __name__ == "__main__":
    main()
