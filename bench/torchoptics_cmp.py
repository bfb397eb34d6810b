"""Benchmark: onnsim against TorchOptics on the workloads of propagation.py and d2nn_step.py.

Same physics as those benchmarks (λ = 0.75 mm, pitch 0.4 mm, z = 30 mm; complex64):

- ASM propagation, N ∈ {200, 512}, batch ∈ {1, 32}, forward (no grad) and forward+backward
  (loss Σ|u|², gradient to the input). ``onnsim`` = ``FreeSpace`` (default FFT backend),
  ``onnsim_torch`` = ``FreeSpace(fft_backend="torch")`` (same FFT library as TorchOptics),
  ``torchoptics`` = ``Field.propagate_to_z(z, propagation_method="ASM", asm_pad=N/2)``, i.e.
  the same 2× padded grid, and (forward only, where not too large) ``torchoptics_default`` =
  ``Field.propagate_to_z(z)`` with TorchOptics' defaults (method "AUTO", ``asm_pad=None``
  = 2N zeros on every side, a 5N × 5N grid) but complex64 like the rest.
- The 5-layer 200×200 D2NN training step (batch 32, Adam, intensity MSE): onnsim
  ``OpticalSystem`` of 5 × (PhaseMask → FreeSpace) against a TorchOptics ``System`` of 5
  ``PhaseModulator`` at z = 0, d, …, 4d measured at 5d (ASM, 2× padding).

Each case is timed in one run, interleaved, medians (ms) of wall time and of process CPU
time (``*_cpu_ms``; steadier on a loaded machine), with ``torchoptics_vs_onnsim`` ratios. Forward rows also report the relative L2 difference of the two propagated fields
for batch 1 (white-noise input as timed, and a smooth Gaussian beam), against onnsim's
default (band-limited) transfer function and against onnsim without the band limit.
TorchOptics' default dtype is float64; it is set to float32 here (complex64 fields).

    python bench/torchoptics_cmp.py [--repeats 3] [--sizes 200 512] [--batches 1 32]
        [--skip-large-fb] [--default-max-elems 67108864] [--d2nn-default]

Prints one JSON line ``{"bench": "torchoptics", "skipped": reason}`` when TorchOptics is
not importable (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import math

import torch

from optics import Field, FreeSpace, Grid, OpticalSystem, PhaseMask

from _timing import emit
from _timing import interleaved_wall_cpu as interleaved  # medians of wall and CPU time
from propagation import LAM, PITCH, Z  # the geometry of propagation.py (and d2nn_step.py)


def _times(rec: dict, wall: dict, cpu: dict, default: bool) -> None:
    rec.update({f"{k}_ms": round(v, 3) for k, v in wall.items()})
    rec.update({f"{k}_cpu_ms": round(v, 3) for k, v in cpu.items()})
    rec["torchoptics_vs_onnsim"] = round(wall["torchoptics"] / wall["onnsim"], 3)
    rec["torchoptics_vs_onnsim_cpu"] = round(cpu["torchoptics"] / cpu["onnsim"], 3)
    if default and "torchoptics_default" in wall:
        rec["torchoptics_default_vs_onnsim"] = round(wall["torchoptics_default"] / wall["onnsim"], 3)
        rec["torchoptics_default_vs_onnsim_cpu"] = round(cpu["torchoptics_default"] / cpu["onnsim"], 3)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.to(torch.complex128), b.to(torch.complex128)
    return float((a - b).norm() / b.norm())


def _gaussian(n: int) -> torch.Tensor:
    """Smooth test beam: Gaussian of 1/e² radius n/8 pixels, centred."""
    c = (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) / (n / 8)
    return torch.exp(-(c[:, None] ** 2 + c[None, :] ** 2)).to(torch.complex64)[None]


def _to_pad(n: int) -> tuple[int, int]:
    """TorchOptics' asm_pad (zeros per side) for a 2× padded grid, as onnsim's pad_factor=2."""
    p = math.ceil(n / 2)
    return (p, p)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 512])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--skip-large-fb", action="store_true",
                    help="skip forward+backward for N ≥ 512 with batch ≥ 32 (slow on a loaded machine)")
    ap.add_argument("--default-max-elems", type=int, default=2**26,
                    help="time TorchOptics' default 5× padding only when batch·(5N)² ≤ this")
    ap.add_argument("--no-prop", action="store_true", help="skip the propagation cases")
    ap.add_argument("--no-d2nn", action="store_true", help="skip the D2NN step")
    ap.add_argument("--d2nn-default", action="store_true",
                    help="also time the D2NN step with TorchOptics' default padding (5×; slow)")
    ap.add_argument("--d2nn-n", type=int, default=200)
    ap.add_argument("--d2nn-batch", type=int, default=32)
    ap.add_argument("--layers", type=int, default=5)
    args = ap.parse_args(argv)
    try:
        import torchoptics as to
        from torchoptics.elements import PhaseModulator
    except Exception as exc:  # noqa: BLE001 -- any import failure means "not comparable here"
        emit({"bench": "torchoptics", "skipped": f"torchoptics not importable: {type(exc).__name__}: {exc}"})
        return
    to.set_default_dtype(torch.float32)  # complex64 fields, as onnsim's default
    ver = getattr(to, "__version__", "unknown")
    common = {"dtype": "complex64", "lambda_m": LAM, "pitch_m": PITCH, "z_m": Z, "torchoptics_version": ver}
    gen = torch.Generator().manual_seed(0)

    if not args.no_prop:
        for n in args.sizes:
            grid = Grid(n, PITCH)
            layer = FreeSpace(grid, LAM, Z)
            layer_torch = FreeSpace(grid, LAM, Z, fft_backend="torch")
            pad = _to_pad(n)

            def to_prop(data, default=False):
                f = to.Field(data, wavelength=LAM, spacing=PITCH)
                if default:
                    return f.propagate_to_z(Z)
                return f.propagate_to_z(Z, propagation_method="ASM", asm_pad=pad)

            # apples to apples, once per N (batch 1)
            check = {}
            no_bl = FreeSpace(grid, LAM, Z, band_limit=False, check_sampling=False)
            for name, u in (("noise", torch.randn(1, n, n, dtype=torch.complex64, generator=gen)),
                            ("gaussian", _gaussian(n))):
                with torch.no_grad():
                    ref = layer(Field(u, grid, LAM)).data
                    ref_nbl = no_bl(Field(u, grid, LAM)).data
                    t2, td = to_prop(u).data, to_prop(u, default=True).data
                check[f"rel_l2_{name}_2x"] = float(f"{_rel(t2, ref):.3g}")
                check[f"rel_l2_{name}_2x_no_band_limit"] = float(f"{_rel(t2, ref_nbl):.3g}")
                check[f"rel_l2_{name}_default"] = float(f"{_rel(td, ref):.3g}")
            try:  # which family TorchOptics' "AUTO" picks for this geometry
                from torchoptics.propagation.propagator import (
                    get_propagation_plane,
                    is_angular_spectrum_method,
                )

                f0 = to.Field(torch.zeros(n, n, dtype=torch.complex64), wavelength=LAM, spacing=PITCH)
                plane = get_propagation_plane(f0, to.PlanarGrid(f0.shape, Z, f0.spacing))
                check["default_method"] = "ASM" if is_angular_spectrum_method(f0, plane, "AUTO") else "DIM"
            except Exception:  # noqa: BLE001 -- internal API; informational only
                check["default_method"] = "unknown"

            for b in args.batches:
                data = torch.randn(b, n, n, dtype=torch.complex64, generator=gen)
                field = Field(data, grid, LAM)
                to_field = to.Field(data, wavelength=LAM, spacing=PITCH)
                fns = {"onnsim": lambda: layer(field), "onnsim_torch": lambda: layer_torch(field),
                       "torchoptics": lambda: to_field.propagate_to_z(Z, propagation_method="ASM", asm_pad=pad)}
                with_default = b * (5 * n) ** 2 <= args.default_max_elems
                if with_default:
                    fns["torchoptics_default"] = lambda: to_field.propagate_to_z(Z)
                with torch.no_grad():
                    fwd = interleaved(fns, repeats=args.repeats)
                cases = [("forward", fwd)]
                if not (args.skip_large_fb and n >= 512 and b >= 32):
                    x = data.clone().requires_grad_(True)
                    fbs = {
                        "onnsim": lambda: layer(Field(x, grid, LAM)).intensity().sum().backward(),
                        "onnsim_torch": lambda: layer_torch(Field(x, grid, LAM)).intensity().sum().backward(),
                        "torchoptics": lambda: to_prop(x).intensity().sum().backward(),
                    }
                    cases.append(("forward+backward", interleaved(fbs, repeats=args.repeats)))
                for mode, (t, c) in cases:
                    rec = {"bench": "torchoptics_asm", "n": n, "batch": b, "mode": mode, "pad_factor": 2, **common}
                    _times(rec, t, c, default=True)
                    rec["torchoptics_vs_onnsim_torch"] = round(t["torchoptics"] / t["onnsim_torch"], 3)
                    if mode == "forward":
                        rec.update(check)
                    emit(rec)

    if not args.no_d2nn:
        n, b, L = args.d2nn_n, args.d2nn_batch, args.layers
        grid = Grid(n, PITCH)
        x = torch.randn(b, n, n, dtype=torch.complex64, generator=gen)
        target = torch.rand(b, n, n, generator=gen)
        phases = [torch.rand(n, n, generator=gen) * (2 * math.pi) for _ in range(L)]
        layers = []
        for p in phases:
            layers += [PhaseMask(grid, init=p), FreeSpace(grid, LAM, Z)]
        model = OpticalSystem(*layers)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        system = to.System(*(PhaseModulator(torch.nn.Parameter(p.clone()), z=i * Z, spacing=PITCH)
                             for i, p in enumerate(phases)))
        opt_to = torch.optim.Adam(system.parameters(), lr=1e-2)
        pad = _to_pad(n)

        def to_out(u, default=False):
            kw = {} if default else {"propagation_method": "ASM", "asm_pad": pad}
            return system.measure_at_z(to.Field(u, wavelength=LAM, spacing=PITCH), L * Z, **kw)

        with torch.no_grad():  # same network, same phases: compare the output intensity once
            i_on = model(Field(x[:1], grid, LAM)).intensity()
            i_to = to_out(x[:1]).intensity()
        rel_int = _rel(i_to, i_on)
        n_params = (sum(p.numel() for p in model.parameters()), sum(p.numel() for p in system.parameters()))

        def step_onnsim():
            opt.zero_grad(set_to_none=True)
            loss = (model(Field(x, grid, LAM)).intensity() - target).square().mean()
            loss.backward()
            opt.step()

        def step_to(default=False):
            opt_to.zero_grad(set_to_none=True)
            loss = (to_out(x, default).intensity() - target).square().mean()
            loss.backward()
            opt_to.step()

        fns = {"onnsim": step_onnsim, "torchoptics": step_to}
        if args.d2nn_default:
            fns["torchoptics_default"] = lambda: step_to(default=True)
        t, c = interleaved(fns, repeats=args.repeats)
        rec = {"bench": "torchoptics_d2nn", "n": n, "batch": b, "layers": L, "pad_factor": 2, **common}
        _times(rec, t, c, default=True)
        rec.update({"rel_l2_output_intensity": float(f"{rel_int:.3g}"), "params": list(n_params)})
        emit(rec)


if __name__ == "__main__":
    main()
