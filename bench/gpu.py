"""Benchmark: GPU fast paths (CuPy kernels) vs torch eager vs ``torch.compile``.

Workloads, each measured in the same run, interleaved, medians of CUDA-synchronised
wall times, plus the peak of ``torch.cuda.max_memory_allocated`` over one call (all kernel
buffers are torch allocations; ``cupy_pool_mb`` adds CuPy's pool, i.e. cuFFT work areas):

* ``propagation``: ASM filter of a batch of fields, forward only (``apply_transfer_function``
  with ``backend="torch"`` vs ``"cupy"``; ``compile``: the same torch ops under torch.compile);
* ``d2nn_step``: one Adam training step of 5 × (PhaseMask → FreeSpace) on 400² with 2×
  padding, batch 64, intensity MSE (``eager``: the onnsim model with ``backend="torch"``;
  ``cupy``: the same model with ``backend="cupy"``; ``compile``: the hand-written torch
  step under torch.compile; ``compile_cupy``: the ``cupy`` model's forward + loss under
  ``torch.compile(fullgraph=True)``, the kernels as custom operators in the graph);
* ``mesh``: forward+backward of a 64-mode Clements mesh, batch 1024 (``eager``: matrix path;
  ``eager_columns``: torch column path; ``compile``: torch.compile of the column path;
  ``cupy``: the column kernel; ``compile_cupy``: the column kernel under torch.compile).

One JSON line per workload and implementation; without CUDA (or CuPy) one line
``{"bench": "gpu", "skipped": reason}`` and exit status 0.

    python bench/gpu.py [--repeats 10] [--n 400] [--batch 64] [--layers 5] [--mesh-n 64]
                        [--mesh-batch 1024] [--no-compile]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

import cupy_kernels
from _timing import emit

LAM, PITCH, Z = 0.75e-3, 0.4e-3, 0.03


def _timed(fns: dict, repeats: int, warmup: int = 2) -> dict:
    """Median ms and peak MB of each callable (CUDA-synchronised, interleaved)."""
    stats = {}
    for name, fn in list(fns.items()):
        try:
            for _ in range(warmup):
                fn()
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            fn()
            torch.cuda.synchronize()
            stats[name] = {"peak_mb": round((torch.cuda.max_memory_allocated() - base) / 2**20, 1), "times": []}
        except Exception as exc:  # e.g. torch.compile not supporting an op: report, go on
            stats[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
            fns.pop(name)
    for _ in range(repeats):
        for name, fn in fns.items():
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            stats[name]["times"].append((time.perf_counter() - t0) * 1e3)
    for s in stats.values():
        if "times" in s:
            t = sorted(s.pop("times"))
            s["median_ms"] = round(t[len(t) // 2], 3)
    return stats


def _emit_all(bench: str, stats: dict, base: str, extra: dict) -> None:
    ref = stats.get(base, {})
    for impl, s in stats.items():
        rec = {"bench": bench, "impl": impl, **extra, **s, "cupy_pool_mb": round(cupy_kernels.pool_bytes() / 2**20, 1)}
        if "median_ms" in s and "median_ms" in ref:
            rec[f"speedup_vs_{base}"] = round(ref["median_ms"] / s["median_ms"], 3)
            rec[f"peak_vs_{base}"] = round(s["peak_mb"] / ref["peak_mb"], 3) if ref["peak_mb"] else None
        emit(rec)


def bench_propagation(args, dev, use_cupy, use_compile):
    from optics import Grid
    from optics.functional import apply_transfer_function, asm_transfer_function

    n, b = args.n, args.batch
    grid = Grid(n, PITCH)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, n, n, dtype=torch.complex64, generator=gen).to(dev)
    h = asm_transfer_function(grid, LAM, Z, device=dev)

    def torch_filter(x, h):
        return torch.fft.ifft2(torch.fft.fft2(x, s=tuple(h.shape)) * h)[..., :n, :n]

    fns = {"eager": lambda: apply_transfer_function(x, h, backend="torch")}
    if use_compile:
        compiled = torch.compile(torch_filter)
        fns["compile"] = lambda: compiled(x, h)
    if use_cupy:
        fns["cupy"] = lambda: apply_transfer_function(x, h, backend="cupy")
    with torch.no_grad():
        stats = _timed(fns, args.repeats)
    _emit_all("propagation", stats, "eager", {"n": n, "batch": b, "pad_factor": 2, "dtype": "complex64",
                                              "mode": "forward"})


def bench_d2nn(args, dev, use_cupy, use_compile):
    from optics import Field, FreeSpace, Grid, OpticalSystem, PhaseMask
    from optics.functional import asm_transfer_function

    n, b, L = args.n, args.batch, args.layers
    grid = Grid(n, PITCH)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, n, n, dtype=torch.complex64, generator=gen).to(dev)
    target = torch.rand(b, n, n, generator=gen).to(dev)

    def model_step(backend, compiled=False):
        layers = []
        for _ in range(L):
            layers += [PhaseMask(grid, backend=backend), FreeSpace(grid, LAM, Z, backend=backend, check_sampling=False)]
        model = OpticalSystem(*layers).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)

        def loss_fn():
            return (model(Field(x, grid, LAM)).intensity() - target).square().mean()

        if compiled:  # forward + loss in one graph (fullgraph: a break is an error line); AOTAutograd backward
            loss_fn = torch.compile(loss_fn, fullgraph=True)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.backward()
            opt.step()

        return step

    fns = {"eager": model_step("torch")}
    if use_compile:
        h = asm_transfer_function(grid, LAM, Z, device=dev)
        phases = [torch.zeros(n, n, device=dev, requires_grad=True) for _ in range(L)]
        opt_c = torch.optim.Adam(phases, lr=1e-2)

        def loss_fn(phases):
            u = x
            for p in phases:
                u = u * torch.polar(torch.ones_like(p), p)
                u = torch.fft.ifft2(torch.fft.fft2(u, s=tuple(h.shape)) * h)[..., :n, :n]
            return (u.real.square() + u.imag.square() - target).square().mean()

        compiled = torch.compile(loss_fn)

        def step_compiled():
            opt_c.zero_grad(set_to_none=True)
            compiled(phases).backward()
            opt_c.step()

        fns["compile"] = step_compiled
    if use_cupy:
        fns["cupy"] = model_step("cupy")
        if use_compile:
            fns["compile_cupy"] = model_step("cupy", compiled=True)  # the custom operators inside a compiled graph
    stats = _timed(fns, args.repeats)
    _emit_all("d2nn_step", stats, "eager", {"n": n, "batch": b, "layers": L, "pad_factor": 2, "dtype": "complex64"})


def bench_mesh(args, dev, use_cupy, use_compile):
    from photonics import ClementsMesh

    n, b = args.mesh_n, args.mesh_batch
    mesh = ClementsMesh(n, generator=torch.Generator().manual_seed(0)).to(dev)
    x = torch.randn(b, n, dtype=torch.complex64, generator=torch.Generator().manual_seed(1)).to(dev)

    def step(**kw):
        def run():
            mesh.zero_grad(set_to_none=True)
            mesh(x, **kw).abs().square().sum().backward()

        return run

    fns = {"eager": step(), "eager_columns": step(method="columns", backend="torch")}
    if use_compile:
        compiled = torch.compile(lambda v: mesh(v, method="columns", backend="torch"))

        def run_compiled():
            mesh.zero_grad(set_to_none=True)
            compiled(x).abs().square().sum().backward()

        fns["compile"] = run_compiled
    if use_cupy:
        fns["cupy"] = step(method="columns", backend="cupy")
        if use_compile:
            compiled_cupy = torch.compile(lambda v: mesh(v, method="columns", backend="cupy"), fullgraph=True)

            def run_compiled_cupy():
                mesh.zero_grad(set_to_none=True)
                compiled_cupy(x).abs().square().sum().backward()

            fns["compile_cupy"] = run_compiled_cupy
    stats = _timed(fns, args.repeats)
    _emit_all("mesh", stats, "eager", {"n": n, "batch": b, "dtype": "complex64", "mode": "fwd+bwd"})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--mesh-n", type=int, default=64)
    ap.add_argument("--mesh-batch", type=int, default=1024)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    ap.add_argument("--only", choices=("propagation", "d2nn", "mesh"), default=None)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        emit({"bench": "gpu", "skipped": "no CUDA device (torch.cuda.is_available() is False)"})
        return 0
    use_cupy = cupy_kernels.is_available()
    if not use_cupy:
        emit({"bench": "gpu", "skipped": f"CuPy kernels unavailable: {cupy_kernels.why_unavailable()}; "
                                         "timing the torch variants only"})
    dev = torch.device("cuda")
    emit({"bench": "gpu", "device": torch.cuda.get_device_name(dev), "cuda": torch.version.cuda})
    for name, fn in (("propagation", bench_propagation), ("d2nn", bench_d2nn), ("mesh", bench_mesh)):
        if args.only in (None, name):
            fn(args, dev, use_cupy, not args.no_compile)
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
