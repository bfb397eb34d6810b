"""Benchmark: band-limited angular-spectrum propagation against the FFT limits.

For N ∈ {200, 512}, batch ∈ {1, 32}, complex64, 2× padding, it times
- ``FreeSpace`` (module, cached transfer function, input checks on, default backend) and
- ``asm_propagate`` (functional; transfer function from the LRU cache)
against two bare pipelines measured in the same run with a precomputed transfer function:
- ``bare``: ``torch.fft.fft2(x, s=padded)`` → multiply → ``ifft2`` → crop;
- ``threaded``: the same in numpy with ``scipy.fft`` (``workers`` = torch threads), in place
  where possible (the threaded-FFT limit; ``pyfftw`` also when installed).
Forward and forward+backward (loss Σ|u|²; the threaded limit's backward is the adjoint
filter with conj(H) on the gradient 2u). One JSON line per case with medians (ms) and ratios.

    python bench/propagation.py [--repeats 15] [--sizes 200 512] [--batches 1 32]
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.fft as sf
import torch

from optics import Field, FreeSpace, Grid, _fft
from optics.functional import asm_propagate, asm_transfer_function

from _timing import emit, interleaved

LAM, PITCH, Z = 0.75e-3, 0.4e-3, 0.03  # the THz D2NN geometry (Lin et al. 2018)


def bare(x, h):
    n = x.shape[-2:]
    return torch.fft.ifft2(torch.fft.fft2(x, s=tuple(h.shape)) * h)[..., : n[0], : n[1]]


def threaded(x: np.ndarray, h: np.ndarray, lib=sf, workers=None):
    """The threaded-FFT limit: pad+FFT, in-place multiply, in-place inverse, crop view."""
    w = workers or torch.get_num_threads()
    ny, nx = x.shape[-2:]
    spec = lib.fft2(x, s=h.shape, axes=(-2, -1), workers=w)
    spec *= h
    return lib.ifft2(spec, axes=(-2, -1), workers=w, overwrite_x=True)[..., :ny, :nx]


def threaded_fb(x, h, hc, lib=sf):
    y = threaded(x, h, lib)
    return threaded(2 * y, hc, lib)  # the adjoint filter on dL/du* = 2u


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 512])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    args = ap.parse_args(argv)
    gen = torch.Generator().manual_seed(0)
    libs = {"threaded": sf}
    if _fft.is_available("pyfftw")[0]:
        import pyfftw.interfaces.scipy_fft as pf
        import pyfftw.interfaces.cache

        pyfftw.interfaces.cache.enable()
        libs["pyfftw"] = pf
    for n in args.sizes:
        grid = Grid(n, PITCH)
        layer = FreeSpace(grid, LAM, Z)
        layer_torch = FreeSpace(grid, LAM, Z, fft_backend="torch")
        h = asm_transfer_function(grid, LAM, Z)
        hn, hc = h.numpy(), h.conj().resolve_conj().numpy()
        for b in args.batches:
            data = torch.randn(b, n, n, dtype=torch.complex64, generator=gen)
            dn = data.numpy()
            field = Field(data, grid, LAM)
            fns = {"bare": lambda: bare(data, h)}
            fns.update({k: (lambda lib=lib: threaded(dn, hn, lib)) for k, lib in libs.items()})
            fns.update({"module": lambda: layer(field), "module_torch": lambda: layer_torch(field),
                        "functional": lambda: asm_propagate(field, Z)})
            with torch.no_grad():
                fwd = interleaved(fns, repeats=args.repeats)
            x = data.clone().requires_grad_(True)

            def fb_bare():
                bare(x, h).abs().square().sum().backward()

            def fb_module():
                layer(Field(x, grid, LAM)).intensity().sum().backward()

            fbs = {"bare": fb_bare}
            fbs.update({k: (lambda lib=lib: threaded_fb(dn, hn, hc, lib)) for k, lib in libs.items()})
            fbs["module"] = fb_module
            fb = interleaved(fbs, repeats=args.repeats)
            for mode, t in (("forward", fwd), ("forward+backward", fb)):
                rec = {"bench": "asm_propagation", "n": n, "batch": b, "pad_factor": 2, "dtype": "complex64",
                       "mode": mode}
                rec.update({f"{k}_ms": round(v, 3) for k, v in t.items()})
                rec["module_vs_threaded"] = round(t["module"] / t["threaded"], 3)
                rec["module_vs_torch_bare"] = round(t["module"] / t["bare"], 3)
                if "functional" in t:
                    rec["functional_vs_threaded"] = round(t["functional"] / t["threaded"], 3)
                emit(rec)


if __name__ == "__main__":
    main()
