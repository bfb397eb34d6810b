"""CPU checks of the optional GPU kernels: import safety, the availability report, the
``backend=`` argument on every hooked call site (validation, clear errors, CPU fallback)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

import cupy_kernels
from optics import Field, FreeSpace, Grid, PhaseMask
from optics.functional import apply_transfer_function, asm_propagate
from photonics import ClementsMesh

LAM = 0.75e-3
GRID = Grid(16, 0.4e-3)


def _run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_import_is_safe_without_cupy_and_reports_why():
    """With ``cupy`` made unimportable, the package and the library import and fall back."""
    out = _run("""
        import sys
        sys.modules["cupy"] = None  # import cupy now raises ImportError
        import cupy_kernels, optics, photonics, torch
        from cupy_kernels import ops, reference, _runtime, _sources, _nvrtc
        assert cupy_kernels.is_available() is False
        why = cupy_kernels.why_unavailable()
        assert isinstance(why, str) and "cupy" in why, why
        assert cupy_kernels.use_cupy("auto", torch.zeros(2)) is False
        assert cupy_kernels.pool_bytes() == 0
        try:
            cupy_kernels.use_cupy("cupy", torch.zeros(2), what="x")
        except RuntimeError as exc:
            assert why in str(exc), exc
        else:
            raise AssertionError("backend='cupy' without cupy did not raise")
        print("ok", why)
    """)
    assert out.startswith("ok")


def test_availability_report_is_consistent():
    ok = cupy_kernels.is_available()
    assert isinstance(ok, bool)
    why = cupy_kernels.why_unavailable()
    assert (why is None) if ok else (isinstance(why, str) and len(why) > 10)


def test_importing_the_library_does_not_import_cupy():
    out = _run("""
        import sys
        import optics, photonics, hardware, training, cupy_kernels
        from optics import Field, Grid, FreeSpace, PhaseMask
        import torch
        g = Grid(8, 1e-4)
        PhaseMask(g)(FreeSpace(g, 5e-7, 1e-3)(Field(torch.ones(8, 8, dtype=torch.complex64), g, 5e-7)))
        print("cupy" in sys.modules)
    """)
    assert out.strip() == "False"


@pytest.mark.parametrize("bad", ["cuda", "CuPy", "", None, 1])
def test_backend_values_are_validated_everywhere(bad):
    msg = "backend must be 'auto', 'torch' or 'cupy'"
    field = Field(torch.ones(16, 16, dtype=torch.complex64), GRID, LAM)
    with pytest.raises(ValueError, match=msg):
        cupy_kernels.check_backend(bad)
    with pytest.raises(ValueError, match=msg):
        asm_propagate(field, 0.01, backend=bad)
    with pytest.raises(ValueError, match=msg):
        apply_transfer_function(field.data, torch.ones(32, 32, dtype=torch.complex64), backend=bad)
    with pytest.raises(ValueError, match=msg):
        FreeSpace(GRID, LAM, 0.01, backend=bad)
    with pytest.raises(ValueError, match=msg):
        PhaseMask(GRID, backend=bad)
    mesh = ClementsMesh(4)
    for method in ("matrix", "columns"):
        with pytest.raises(ValueError, match=msg):
            mesh(torch.ones(2, 4, dtype=torch.complex64), method=method, backend=bad)


def _expect_cupy_refusal():
    """backend='cupy' on CPU tensors: RuntimeError naming why_unavailable() without CuPy/GPU,
    else ValueError asking for CUDA tensors."""
    if cupy_kernels.is_available():
        return pytest.raises(ValueError, match="needs CUDA tensors")
    import re

    return pytest.raises(RuntimeError, match=re.escape(cupy_kernels.why_unavailable()))


def test_backend_cupy_on_cpu_raises_a_clear_error():
    field = Field(torch.ones(16, 16, dtype=torch.complex64), GRID, LAM)
    with _expect_cupy_refusal():
        asm_propagate(field, 0.01, backend="cupy")
    with _expect_cupy_refusal():
        FreeSpace(GRID, LAM, 0.01, backend="cupy")(field)
    with _expect_cupy_refusal():
        PhaseMask(GRID, backend="cupy")(field)
    with _expect_cupy_refusal():
        ClementsMesh(4)(torch.ones(2, 4, dtype=torch.complex64), method="columns", backend="cupy")
    with pytest.raises(ValueError, match="method='columns'"):
        ClementsMesh(4)(torch.ones(2, 4, dtype=torch.complex64), backend="cupy")


def test_auto_on_cpu_is_bit_identical_to_torch(generator):
    x = torch.randn(3, 16, 16, generator=generator, dtype=torch.complex64)
    field = Field(x, GRID, LAM)
    for z in (0.01, -0.02):
        a = asm_propagate(field, z, backend="auto", check_sampling=False).data
        b = asm_propagate(field, z, backend="torch", check_sampling=False).data
        assert torch.equal(a, b)
    fa = FreeSpace(GRID, LAM, 0.01, check_sampling=False)
    ft = FreeSpace(GRID, LAM, 0.01, check_sampling=False, backend="torch")
    assert torch.equal(fa(field).data, ft(field).data)
    for outside in ("transmit", "block"):
        pa = PhaseMask(GRID, active_shape=(10, 12), init="uniform", outside=outside,
                       generator=torch.Generator().manual_seed(3))
        pt = PhaseMask(GRID, active_shape=(10, 12), init="uniform", outside=outside,
                       generator=torch.Generator().manual_seed(3), backend="torch")
        assert torch.equal(pa(field).data, pt(field).data)
    mesh = ClementsMesh(6, generator=generator)
    v = torch.randn(5, 6, generator=generator, dtype=torch.complex64)
    assert torch.equal(mesh(v, method="columns"), mesh(v, method="columns", backend="torch"))
    assert torch.equal(mesh(v), mesh(v, backend="torch"))


def test_kernel_ops_refuse_cpu_tensors_with_a_reason():
    from cupy_kernels import ops

    x = torch.ones(2, 4, 4, dtype=torch.complex64)
    h = torch.ones(8, 8, dtype=torch.complex64)
    assert "CUDA" in ops.filter_unsupported(x, h)
    with pytest.raises(ValueError, match="CUDA"):
        ops.filter2(x, h)
    with pytest.raises(ValueError, match="CUDA"):
        ops.phase_modulate(x, torch.zeros(4, 4))
    with pytest.raises(ValueError, match="CUDA"):
        ops.mesh_columns(torch.ones(2, 4, dtype=torch.complex64), torch.ones(3, 2, 2, 2, dtype=torch.complex64))
    assert ops.mesh_shape_unsupported(torch.complex128, 8, 4096) is not None  # beyond shared memory
    assert ops.mesh_shape_unsupported(torch.complex64, 8, 64) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour of bench/gpu.py")
def test_gpu_benchmark_skips_cleanly_without_cuda():
    import json
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "bench" / "gpu.py"
    res = subprocess.run([sys.executable, str(bench)], capture_output=True, text=True, timeout=120, cwd=bench.parent)
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(records) == 1 and "CUDA" in records[0]["skipped"]
