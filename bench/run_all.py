"""Run the benchmarks and write docs/performance.md.

    python bench/run_all.py [--repeats 5] [--threads 1] [--only sweep first_call d2nn mesh torchoptics]
        [--out docs/performance.md] [--jsonl bench/results.jsonl] [--render-only]

Each benchmark prints JSON lines (workload and its limit measured in the same run); this
script collects them, records the machine (CPU model, cores, torch version, threads, load
average before and after) and renders the tables. ``--only`` reruns some benchmarks and
keeps the other rows from ``--jsonl`` (marked as from an earlier run in the document).
Numbers on a shared machine are noisy: medians of interleaved repeats, wall and CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _cpu_model() -> str:
    from optics._wisdom import cpu_model

    return cpu_model() or "unknown"


def _run(script: str, *args: str, threads: int | None = None) -> list[dict]:
    cmd = [sys.executable, str(HERE / script), *args]
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, check=True, env=env).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _table(rows: list[dict], cols: list[str]) -> str:
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |\n" for r in rows)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _targets(sweep, first, d2nn, mesh) -> str:
    """The acceptance numbers, from this run, each against the limit measured with it."""
    out = ["## Targets, this run\n\n"]
    if sweep:
        bad = [r for r in sweep if r["module_vs_limit"] > (1.2 if r["batch"] == 1 else 1.1)]
        bad_cpu = [r for r in sweep if r["module_vs_limit_cpu"] > (1.2 if r["batch"] == 1 else 1.1)]
        def over(rows, key):
            return "" if not rows else " (over: " + "; ".join(
                f"N {r['n']} batch {r['batch']} {r['mode']} {r[key]}×" for r in rows) + ")"

        out.append(f"- Per field, FreeSpace / in-place FFTW limit at the same batch size, {len(sweep)} cases "
                   f"(N ∈ {{{', '.join(str(n) for n in sorted({r['n'] for r in sweep}))}}}, batch "
                   f"{', '.join(str(b) for b in sorted({r['batch'] for r in sweep}))}, forward and forward+backward; "
                   f"target ≤ 1.1×, batch 1 ≤ 1.2×): by wall time within target in {len(sweep) - len(bad)} of "
                   f"{len(sweep)}{over(bad, 'module_vs_limit')}; by CPU time within target in "
                   f"{len(sweep) - len(bad_cpu)} of {len(sweep)}{over(bad_cpu, 'module_vs_limit_cpu')}. "
                   f"Overall: {_met(not bad)} (wall), {_met(not bad_cpu)} (CPU time).\n")
        for r in sweep:
            if r["n"] == 512 and r["batch"] == 32 and "module_vs_limit_peak" in r:
                out.append(f"- Peak memory, N = 512, batch 32, {r['mode']}: {r['module_peak_mb']} MB against "
                           f"{r['limit_peak_mb']} MB for the in-place limit = {r['module_vs_limit_peak']}× "
                           f"(target ≤ 1.2×: {_met(r['module_vs_limit_peak'] <= 1.2)}); above the process's "
                           f"idle RSS: {r['module_above_base_mb']} MB against {r['limit_above_base_mb']} MB "
                           f"= {r['module_vs_limit_above_base']}×.\n")
    for r in first:
        if r["process"] == "second":
            rng = r.get("first_vs_steady_range")
            spread = f", {r['rounds']} rounds: median, range {rng[0]}–{rng[1]}×" if rng else ""
            out.append(f"- First call of a second process, N = {r['n']}, batch {r['batch']}: {r['first_ms']} ms "
                       f"= {r['first_vs_steady']}× its steady state{spread} (CPU time {r['first_vs_steady_cpu']}×; "
                       f"target ≤ 1.2×: {_met(r['first_vs_steady'] <= 1.2)}).\n")
    for r in d2nn:
        if "onnsim_vs_limit" in r:
            out.append(f"- D2NN step 5 × 200², batch 32: {r['onnsim_ms']} ms = {r['onnsim_vs_limit']}× the "
                       f"hand-written in-place FFTW step (target ≤ 0.95×: {_met(r['onnsim_vs_limit'] <= 0.95)}); "
                       f"CPU time {r['onnsim_vs_limit_cpu']}×; {r['onnsim_vs_torch']}× the hand-written torch.fft "
                       f"step.\n")
    by = {(m["impl"], m["mode"]): m["median_ms"] for m in mesh}
    if ("matrix", "fwd+bwd") in by and ("columns", "fwd+bwd") in by:
        t, c = by[("matrix", "fwd+bwd")], by[("columns", "fwd+bwd")]
        out.append(f"- 64-mode mesh forward+backward, 512 samples: {t} ms, {c / t:.1f}× faster than the column "
                   f"reference (target ≤ 15 ms and ≥ 3×: {_met(t <= 15 and c / t >= 3)}).\n")
    return "".join(out) + "\n"


def _torchoptics(rows: list[dict]) -> str:
    """The TorchOptics section: settings used, then the tables (bench/torchoptics_cmp.py)."""
    skipped = [r for r in rows if "skipped" in r]
    asm = [r for r in rows if r.get("bench") == "torchoptics_asm"]
    d2nn = [r for r in rows if r.get("bench") == "torchoptics_d2nn"]
    if not asm and not d2nn:
        why = skipped[0]["skipped"] if skipped else "no torchoptics rows in this run"
        return f"Not compared: {why} (`pip install -e .[bench]` installs it).\n"
    ver = (asm or d2nn)[0].get("torchoptics_version", "?")
    fwd = [r for r in asm if r["mode"] == "forward"]
    checks = {r["n"]: r for r in fwd if r["batch"] == min(x["batch"] for x in fwd if x["n"] == r["n"])}
    out = [
        f"`bench/torchoptics_cmp.py`, TorchOptics {ver} (the `bench` extra), same run, interleaved medians (ms\n"
        "of wall time).\n"
        "Same physics as above (λ = 0.75 mm, pitch 0.4 mm, z = 30 mm, complex64; TorchOptics' default\n"
        "dtype float64 is set to float32). `torchoptics` = `Field.propagate_to_z(z, propagation_method=\"ASM\",\n"
        "asm_pad=N/2)`: N/2 zeros per side, the same 2N × 2N grid as onnsim's `pad_factor=2`.\n"
        "`torchoptics_default` = `Field.propagate_to_z(z)` with its defaults: method \"AUTO\" (ASM when z is\n"
        "below its critical distance 2·x_max·Δ/λ, else direct integration) and `asm_pad=None`, i.e. 2N zeros\n"
        "per side, a 5N × 5N grid. TorchOptics rebuilds the transfer function (float, on the padded grid) on\n"
        "every call, fftshifts around the FFTs, and crops the padded result back with `grid_sample`\n"
        "(nearest); onnsim caches the transfer function per `FreeSpace` and pads/crops inside one filter.\n"
        "`onnsim_torch` = `FreeSpace(fft_backend=\"torch\")`, the same FFT library as TorchOptics.\n\n",
        _table(asm, ["n", "batch", "mode", "onnsim_ms", "onnsim_torch_ms", "torchoptics_ms",
                     "torchoptics_default_ms", "torchoptics_vs_onnsim", "torchoptics_vs_onnsim_cpu",
                     "torchoptics_vs_onnsim_torch", "torchoptics_default_vs_onnsim",
                     "torchoptics_default_vs_onnsim_cpu"]),
        "\n`_cpu` ratios: the same calls timed by process CPU time (steadier than wall time when other\n"
        "jobs share the machine).\n",
        "\nSame field? Relative L2 difference of one propagation (batch 1) against onnsim's `FreeSpace`\n"
        "(band-limited) and against onnsim with `band_limit=False`, for the timed white-noise input and a\n"
        "smooth Gaussian beam (1/e² radius N/8 pixels):\n\n",
        _table(list(checks.values()), ["n", "default_method", "rel_l2_noise_2x", "rel_l2_noise_2x_no_band_limit",
                                       "rel_l2_noise_default", "rel_l2_gaussian_2x",
                                       "rel_l2_gaussian_2x_no_band_limit", "rel_l2_gaussian_default"]),
        "\nWith the same 2× grid TorchOptics computes the plain angular spectrum exp(i k_z z) with evanescent\n"
        "waves decaying (onnsim removes them: the ~1e-3 differences without band limit); onnsim's Matsushima\n"
        "band limit also drops the frequencies whose sampled transfer function aliases (at N = 200 the\n"
        "Nyquist row and column, which white noise fills; a smooth beam has no power there). The default\n"
        "5× grid is a different discretisation of the same convolution (the kernel's tails wrap at 5N\n"
        "instead of 2N), so it differs for white noise but not for a smooth beam.\n",
    ]
    if d2nn:
        out += [
            "\nD2NN training step, 5 × (phase mask → 30 mm), 200×200, batch 32, Adam, intensity MSE: onnsim\n"
            "`OpticalSystem` (default FFT backend) vs a TorchOptics `System` of 5 `PhaseModulator` at z = 0,\n"
            "d, …, 4d measured at 5d (`measure_at_z`, ASM, 2× padding); `rel_l2_output_intensity` compares\n"
            "the two networks' output intensity for the same random phases (one white-noise input).\n\n",
            _table(d2nn, ["n", "batch", "layers", "onnsim_ms", "torchoptics_ms", "torchoptics_default_ms",
                          "torchoptics_vs_onnsim", "torchoptics_vs_onnsim_cpu", "rel_l2_output_intensity"]),
        ]
    return "".join(out)


def _dat_run(run_dir) -> str:
    """The 50-epoch DAT target from a finished run record (progress.json of a dat-mpnn run)."""
    if not run_dir or not (Path(run_dir) / "progress.json").exists():
        return ""
    cfg = json.loads((Path(run_dir) / "config.json").read_text())["config"]
    arms = json.loads((Path(run_dir) / "progress.json").read_text())
    out = [f"## 50-epoch interference-PNN run (target ≤ 20 min), `{run_dir}`\n\n",
           f"{cfg['meshes']} meshes × {cfg['modes']} modes, {cfg['dataset']}, batch {cfg['batch_size']}, "
           f"{cfg['epochs']} epochs ({cfg['dat_warmup_epochs']} with SEPN weight 0), one torch thread per run, on the "
           "2-core machine while other trainings shared it part of the time. CPU time = this process only; an arm "
           "resumed after an interruption counts only the time after the resume.\n\n",
           "| method | wall time (min) | CPU time (min) |\n|---|---|---|\n"]
    for label, a in arms.items():
        cpu = a.get("cpu_time_s")
        out.append(f"| {label} | {a['wall_time_s'] / 60:.1f} | {'–' if cpu is None else f'{cpu / 60:.1f}'} |\n")
    return "".join(out) + "\n"


BENCHES = ("sweep", "first_call", "huge_pages", "d2nn", "mesh", "torchoptics")
_KIND = {"sweep": lambda r: r.get("bench") == "batch_sweep",
         "first_call": lambda r: r.get("bench") == "first_call",
         "huge_pages": lambda r: r.get("bench") == "huge_pages",
         "d2nn": lambda r: r.get("bench") == "d2nn_step",
         "mesh": lambda r: r.get("bench") == "mesh",
         "torchoptics": lambda r: r.get("bench", "").startswith("torchoptics")}


def _measure(name: str, repeats: int, threads: int) -> list[dict]:
    r = str(repeats)
    if name == "sweep":
        return _run("batch_sweep.py", "--repeats", r, threads=threads)
    if name == "first_call":
        return _run("first_call.py", "--repeats", r, threads=threads)
    if name == "huge_pages":
        return _run("huge_pages.py", "--repeats", r, threads=threads)
    if name == "d2nn":
        return _run("d2nn_step.py", "--repeats", str(max(3, repeats)), threads=threads)
    if name == "mesh":
        return _run("mesh.py", "--repeats", str(3 * repeats), threads=threads)
    return _run("torchoptics_cmp.py", "--repeats", str(max(3, repeats // 3)), threads=threads)


def _sweep_section(sweep: list[dict]) -> str:
    cols = ["batch", "mode", "threads", "module_lanes", "limit_ms_per_field", "module_ms_per_field", "module_vs_limit",
            "limit_cpu_ms_per_field", "module_cpu_ms_per_field", "module_vs_limit_cpu",
            "module_torch_ms_per_field", "module_pyfftw_ms_per_field",
            "limit_peak_mb", "module_peak_mb", "module_vs_limit_peak", "limit_above_base_mb",
            "module_above_base_mb"]
    out = []
    for n in sorted({r["n"] for r in sweep}):
        out += [f"\n### N = {n} (padded to {2 * n}²)\n\n", _table([r for r in sweep if r["n"] == n], cols)]
    return "".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1,
                    help="OMP/MKL threads of the benchmark processes (torch threads, FFTW workers)")
    ap.add_argument("--only", nargs="+", choices=BENCHES, default=list(BENCHES))
    ap.add_argument("--out", default=str(HERE.parent / "docs" / "performance.md"))
    ap.add_argument("--jsonl", default=str(HERE / "results.jsonl"))
    ap.add_argument("--render-only", action="store_true", help="re-render from --jsonl, run nothing")
    ap.add_argument("--note", default="", help="a paragraph for the batch-sweep section (e.g. which rows were rerun)")
    ap.add_argument("--dat-run", default=None,
                    help="a 50-epoch dat-mpnn run directory: its per-method wall and CPU times are reported")
    args = ap.parse_args(argv)
    import torch

    old = []
    if Path(args.jsonl).exists():
        old = [json.loads(line) for line in Path(args.jsonl).read_text().splitlines() if line.strip()]
    rows = {}
    for name in BENCHES:
        kept = [r for r in old if _KIND[name](r)]
        if args.render_only or name not in args.only:
            rows[name] = kept
            continue
        load0 = os.getloadavg()[0]
        rows[name] = [dict(r, load_before=round(load0, 2), load_after=round(os.getloadavg()[0], 2))
                      for r in _measure(name, args.repeats, args.threads)]
    if not args.render_only:
        with open(args.jsonl, "w") as f:
            for name in BENCHES:
                for rec in rows[name]:
                    f.write(json.dumps(rec) + "\n")
    sweep, first, d2nn = rows["sweep"], rows["first_call"], rows["d2nn"]
    mesh, tocmp = rows["mesh"], rows["torchoptics"]
    loads = [(r["load_before"], r["load_after"]) for name in BENCHES for r in rows[name][:1] if "load_before" in r]
    threads = sorted({r.get("threads") for name in ("sweep", "first_call", "d2nn") for r in rows[name]} - {None})
    machine = (f"CPU: {_cpu_model()}; {os.cpu_count()} logical cores; torch {torch.__version__}; "
               f"Python {platform.python_version()}; benchmark processes with {', '.join(map(str, threads)) or '?'} "
               "torch/FFTW thread(s)")
    earlier = [n for n in BENCHES if rows[n] and not any("load_before" in r for r in rows[n])]
    text = (
        "# Performance\n\n"
        "Generated by `python bench/run_all.py` (raw JSON lines in `bench/results.jsonl`). Every ratio\n"
        "is against a limit measured in the same run of the same benchmark, interleaved with it:\n"
        "medians of wall time and of process CPU time.\n\n"
        f"Machine: {machine}. The machine is shared: other jobs (tests, trainings) ran during the\n"
        "benchmarks, load average (1 min) before/after each benchmark: "
        + (", ".join(f"{a}/{b}" for a, b in loads) or "not recorded") + " on 2 cores. Wall times are\n"
        "therefore noisy; CPU time (this process, all its threads) is the steadier measure of the work.\n"
        + (f"Rows of {', '.join(earlier)} are from an earlier run (not rerun with this one).\n" if earlier else "")
        + "\n" + _targets(sweep, first, d2nn, mesh) + _dat_run(args.dat_run) +
        "## The in-place FFTW limit\n\n"
        "`bench/_limit.py`: the padded filter of a whole batch on one aligned `(B, 2N, 2N)` buffer with\n"
        "FFTW_MEASURE plans made for exactly that batch (planning not timed): zero, copy in, FFT in place,\n"
        "multiply in place, inverse FFT in place, scaled crop into a fresh result. Forward+backward wraps it\n"
        "in an autograd Function (backward: the same filter with conj(H)) under the same loss Σ|u|² as the\n"
        "module, so both include the same autograd work. The D2NN limit is the 5-layer network hand-written\n"
        "on that Function.\n\n"
        "## FreeSpace per field across batch sizes (bench/batch_sweep.py)\n\n"
        "complex64, 2× padding, λ = 0.75 mm, pitch 0.4 mm, z = 30 mm; `module` = `FreeSpace` with the\n"
        "default backend and input checks on. `*_ms_per_field`: median time per call / batch;\n"
        "`module_torch` / `module_pyfftw` (batch ≤ 2): the module forced onto torch.fft / the planned\n"
        "FFTW filter, the two candidates `auto` chooses between. Peak memory: a fresh process per\n"
        "(implementation, N, batch), one warm-up call, then the measured call; `*_peak_mb` is the peak\n"
        "resident set of that process (VmHWM, includes the interpreter, torch, the input and the result);\n"
        "`*_above_base_mb` the part above its RSS before the input was made.\n\n"
        "Threads: `threads` is `torch.get_num_threads()` of the benchmark process; the limit plans its\n"
        "FFTW transforms with that many threads, and the module's filter uses as many: below 8 fields\n"
        "per thread one lane whose FFTW plans use all of them (`module_lanes` 1), from there\n"
        "`module_lanes` parallel lanes of single-threaded plans. FFTW's threads (OpenMP) meet at barriers\n"
        "inside every transform: on a quiet machine the fastest for a few fields, but when other jobs\n"
        "hold the cores a small transform can wait a scheduler time slice at each barrier (N = 64,\n"
        "batch 1, 2 threads, load ≈ 3 on 2 cores: 32 ms per field for the limit and the module alike,\n"
        "against ~0.1 ms quiet); the lanes of larger batches synchronise once per call.\n"
        + (f"\n{args.note}\n" if args.note else "")
        + _sweep_section(sweep) +
        "\n## First call in a new process (bench/first_call.py)\n\n"
        "Two processes in turn with a new, empty wisdom cache: the first plans (FFTW_MEASURE) and\n"
        "saves the wisdom, the second plans from it. `first_ms`: the first forward call after\n"
        "constructing `FreeSpace`; `steady_ms`: median of the following calls. The pair runs `rounds`\n"
        "times, each with a new cache; the table gives medians over rounds and the range of the ratio.\n\n"
        + _table(first, ["n", "batch", "process", "threads", "first_ms", "steady_ms", "first_vs_steady",
                         "first_vs_steady_range", "first_cpu_ms", "steady_cpu_ms", "first_vs_steady_cpu",
                         "first_page_faults", "steady_page_faults", "huge_pages"])
        + "\n`*_page_faults`: minor page faults of the first call and the median of the following ones.\n"
        "The first call's result lands on memory the process has not touched yet; later results\n"
        "either reuse what the allocator got back from the previous call or, above glibc's largest\n"
        "reuse threshold (32 MiB: N = 512, batch 32 is 64 MiB), land on fresh memory every call. On\n"
        "4 KiB pages that is one fault per page, 1.5–3.5 µs each on this VM: a 10 MB result (N = 200,\n"
        "batch 32) takes ~2,500 faults, 4–9 ms, about 15 % of a call, and was the largest part of a\n"
        "second process's first-call excess. `python -m experiments run` and the benchmarks therefore\n"
        "ask torch for transparent huge pages (next section); with them (`huge_pages` true) a first\n"
        "call takes about as many page faults as the calls after it, and what remains of its excess is\n"
        "the band-limit check of a new batch shape (~1 ms) and cold caches.\n"
        + "\n## Large tensors on transparent huge pages (bench/huge_pages.py, optics/_memory.py)\n\n"
        "torch's CPU allocator puts tensors of 2 MiB or more on transparent huge pages when\n"
        "`THP_MEM_ALLOC_ENABLE=1` at the process's first allocation. `python -m experiments run`\n"
        "re-executes itself with it and the benchmarks set it (bench/_timing.py) unless the environment\n"
        "already does (`THP_MEM_ALLOC_ENABLE=0` turns it off); a script calls `optics.use_huge_pages()`\n"
        "before it creates its first tensor (importing `optics` sets nothing). Values never change\n"
        "(tests/optics/test_huge_pages.py compares every output bit of a forward, backward and Adam\n"
        "step both ways). Each setting runs in its own fresh process, the two alternating; `on_vs_off`\n"
        "< 1 is faster with huge pages; `*_faults` are minor page faults per call. The in-place limit\n"
        "of the other sections keeps its buffers in numpy (glibc), which the setting does not touch.\n\n"
        + _table(rows["huge_pages"], ["case", "threads", "off_ms", "on_ms", "on_vs_off", "off_cpu_ms", "on_cpu_ms",
                                      "on_vs_off_cpu", "off_faults", "on_faults"])
        + "\n## D2NN training step (5 × (PhaseMask → FreeSpace), 200×200, batch 32, Adam)\n\n"
        + _table(d2nn, ["n", "batch", "layers", "limit_ms", "onnsim_ms", "onnsim_vs_limit", "limit_cpu_ms",
                        "onnsim_cpu_ms", "onnsim_vs_limit_cpu", "torch_ms", "onnsim_torch_ms", "onnsim_vs_torch"])
        + "\n`limit`: the network hand-written on the in-place FFTW filter; `torch`: hand-written on\n"
        "torch.fft; `onnsim_torch`: the onnsim network forced onto torch.fft.\n"
        + "\n## How the FFT seam chooses (optics/_fft.py, optics/_fftw.py)\n\n"
        "CPU filters of at least 128² padded elements (any batch) run on the chunked planned FFTW\n"
        "filter: the batch goes field by field through one pair of FFTW_MEASURE plans on a workspace\n"
        "of two fields per lane (with several threads and at least 8 fields per thread, one lane per\n"
        "thread, single-threaded plans, one synchronisation per call; smaller batches one lane whose\n"
        "plans use all threads), so the plans do not depend on the batch size and the memory beyond\n"
        "input and result is a few MB; a field stays in cache between the transforms. Workspaces sit in\n"
        "an LRU bounded in bytes (`ONNSIM_FFT_WORKSPACE_MB`, default 1/16 of the physical memory, at most\n"
        "1 GiB); FFTW wisdom is kept per machine in `$ONNSIM_CACHE_DIR`, else `$XDG_CACHE_HOME/onnsim`,\n"
        "else `~/.cache/onnsim` (`fftw/<machine>.json`), so a new process plans from it at once, when\n"
        "`FreeSpace` is constructed; `FreeSpace.warm_up()` plans (measures) a shape the wisdom lacks\n"
        "ahead of the first call. Smaller filters stay on torch.fft; bare transforms use\n"
        "scipy when batched and large. `FreeSpace` checks non-finite input by the first output sample\n"
        "of each field and the band-limit loss on the first call per batch shape (CPU by default;\n"
        "`validate=`), so a call scans no whole field and, on CUDA, does not synchronise.\n"
        "\n"
        "Without pyFFTW (the optional `fft` extra; `scripts/setup.sh` installs it with the `test` extra)\n"
        "the planned path is off and `auto` falls back: every filter runs on torch.fft, except batched\n"
        "large ones, which run on scipy. Results agree to rounding (`tests/optics/test_fft_without_pyfftw.py`\n"
        "runs the library with pyfftw made unimportable); only speed differs, as the torch and planned\n"
        "FFTW columns above show.\n"
        + "\n## Mesh (bench/mesh.py)\n\n"
        + "".join(f"- `{json.dumps(m)}`\n" for m in mesh)
        + "\n## TorchOptics\n\n"
        + _torchoptics(tocmp)
    )
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
