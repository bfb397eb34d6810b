"""Benchmark: forward and forward+backward of an n×n Clements mesh on a batch of mode vectors.

Cases, all measured in the same run, interleaved round-robin so that machine noise hits
them alike (median of the repeats is reported):

* ``dense``: ``x @ U.T`` with ``U`` prebuilt (the inference limit); for fwd+bwd, ``U`` is a
  trainable dense matrix (the limit of an unconstrained linear layer);
* ``matrix``: ``ClementsMesh`` default path (build U in O(log n) large ops, one matmul);
* ``columns``: the reference path, column by column on the batch;
* ``naive``: one 2×2 update per MZI in a Python loop (what the mesh must beat).

Usage: ``python bench/mesh.py [--n 64] [--batch 512] [--repeats 30] [--threads T]``.
Prints one JSON line per case with ``median_ms`` and ratios against the dense baselines.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from photonics import ClementsMesh
from photonics.functional import mzi_coefficients


def naive_forward(mesh: ClementsMesh, x: torch.Tensor) -> torch.Tensor:
    """Per-MZI reference: a Python loop over every MZI, each updating its two port columns."""
    lay = mesh.layout
    x = x * torch.polar(torch.ones_like(mesh.input_phases), mesh.input_phases)
    modes = list(x.unbind(-1))
    for col in range(lay.n_cols):
        for slot in range(lay.n_slots):
            if not lay.active[col, slot]:
                continue
            a, b = lay.ports(col, slot)
            t = mzi_coefficients(mesh.theta[col, slot], mesh.phi[col, slot])  # unchecked core
            modes[a], modes[b] = t[0, 0] * modes[a] + t[0, 1] * modes[b], t[1, 0] * modes[a] + t[1, 1] * modes[b]
    return torch.stack(modes, dim=-1)


def loss_of(y: torch.Tensor) -> torch.Tensor:
    return (y.real.square() + y.imag.square())[:, :10].sum()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--naive-repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    mesh = ClementsMesh(args.n, generator=gen)
    x = torch.randn(args.batch, args.n, dtype=torch.complex64, generator=gen)
    u_fixed = mesh.matrix().detach()
    u_param = u_fixed.clone().requires_grad_()

    def dense_fwd():
        with torch.no_grad():
            return x @ u_fixed.T

    def dense_fb():
        loss_of(x @ u_param.T).backward()

    def mesh_fwd(method):
        def run():
            with torch.no_grad():
                return mesh(x, method=method)
        return run

    def mesh_fb(method):
        def run():
            mesh.zero_grad(set_to_none=True)
            loss_of(mesh(x, method=method)).backward()
        return run

    def naive_fwd():
        with torch.no_grad():
            return naive_forward(mesh, x)

    def naive_fb():
        mesh.zero_grad(set_to_none=True)
        loss_of(naive_forward(mesh, x)).backward()

    cases = {
        ("dense", "forward"): dense_fwd, ("dense", "fwd+bwd"): dense_fb,
        ("matrix", "forward"): mesh_fwd("matrix"), ("matrix", "fwd+bwd"): mesh_fb("matrix"),
        ("columns", "forward"): mesh_fwd("columns"), ("columns", "fwd+bwd"): mesh_fb("columns"),
        ("naive", "forward"): naive_fwd, ("naive", "fwd+bwd"): naive_fb,
    }
    # correctness guard: every path computes the same outputs
    ref = dense_fwd()
    for name in ("matrix", "columns"):
        assert (mesh_fwd(name)() - ref).abs().max() < 1e-4, name
    assert (naive_fwd() - ref).abs().max() < 1e-4

    times = {key: [] for key in cases}
    for key, fn in cases.items():  # warm-up
        for _ in range(2 if key[0] == "naive" else 5):
            fn()
    for rep in range(args.repeats):
        for key, fn in cases.items():
            if key[0] == "naive" and rep >= args.naive_repeats:
                continue
            start = time.perf_counter()
            fn()
            times[key].append((time.perf_counter() - start) * 1e3)

    med = {key: statistics.median(v) for key, v in times.items()}
    for (impl, mode), ms in med.items():
        record = {
            "bench": "mesh", "impl": impl, "mode": mode, "n": args.n, "batch": args.batch,
            "dtype": "complex64", "threads": torch.get_num_threads(), "repeats": len(times[(impl, mode)]),
            "median_ms": round(ms, 4),
            "ratio_vs_dense_forward": round(ms / med[("dense", "forward")], 2),
            "ratio_vs_dense_same_mode": round(ms / med[("dense", mode)], 2),
            "speedup_vs_naive": round(med[("naive", mode)] / ms, 2),
            "torch": torch.__version__, "machine": platform.machine(),
        }
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
