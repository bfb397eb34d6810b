"""Every CUDA kernel source compiles to PTX with NVRTC — no GPU and no CuPy needed.

NVRTC comes from the ``test`` extra (PyPI ``nvidia-cuda-nvrtc``) or a CUDA toolkit; the test
skips, saying why, only when the library cannot be loaded at all."""

from __future__ import annotations

import pytest

from cupy_kernels import _nvrtc, _sources

pytestmark = pytest.mark.skipif(_nvrtc.why_unavailable() is not None,
                                reason=f"NVRTC unavailable: {_nvrtc.why_unavailable()}")


@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])  # A100, H100
@pytest.mark.parametrize("precision", sorted(_sources.PRECISIONS))
@pytest.mark.parametrize("group", sorted(_sources.SOURCES))
def test_kernel_source_compiles_to_ptx(group, precision, arch):
    ptx = _nvrtc.compile_ptx(_sources.source(group, precision), f"{group}_{precision}.cu", arch=arch)
    assert f".target sm_{arch[-2:]}" in ptx
    for name in _sources.KERNELS[group]:
        # extern "C": unmangled entry points, the names the runtime looks up
        assert f".entry {_sources.kernel_name(name, precision)}(" in ptx, (group, name, precision)
    if precision == "f64":
        assert ".f64" in ptx


@pytest.mark.parametrize("std", ["--std=c++11", "--std=c++17"])
def test_kernel_sources_compile_under_other_language_standards(std):
    for group in _sources.SOURCES:
        for precision in _sources.PRECISIONS:
            _nvrtc.compile_ptx(_sources.source(group, precision), f"{group}.cu", options=(std,))


def test_double_precision_atomics_compile_for_the_oldest_supported_arch():
    """The mesh backward uses atomicAdd(double*) (sm_60+); compute_75 is the oldest
    architecture CUDA 13's NVRTC accepts (CUDA 12 also accepts it)."""
    ptx = _nvrtc.compile_ptx(_sources.source("mesh", "f64"), "mesh.cu", arch="compute_75")
    assert "atom.global.add.f64" in ptx


def test_compile_errors_are_reported_with_the_log():
    with pytest.raises(_nvrtc.NVRTCError, match="error"):
        _nvrtc.compile_ptx('extern "C" __global__ void k(float* a) { a[0] = undefined_name; }', "bad.cu")
