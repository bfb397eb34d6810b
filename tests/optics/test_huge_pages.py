"""Transparent huge pages for large CPU tensors (optics/_memory.py): ``THP_MEM_ALLOC_ENABLE``
turns torch's huge-page allocation on, ``use_huge_pages`` sets it unless the environment
decides, and where a tensor lives never changes a value. Each case runs in fresh processes,
because torch reads the switch once, at a process's first allocation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from optics import _memory

ROOT = Path(__file__).resolve().parents[2]

# A diffractive step on tensors well above the 2 MiB threshold (16 fields of 256² complex64,
# 8 MiB; padded spectra 32 MiB): forward, backward and one Adam step; prints a digest of
# every output bit and whether huge pages were on.
PROBE = r"""
import hashlib, sys
import torch
import optics
from optics import FreeSpace, Grid, PhaseMask, Field
torch.set_num_threads(1)
g = Grid(256, 0.4e-3)
gen = torch.Generator().manual_seed(0)
layers = torch.nn.ModuleList([PhaseMask(g, init="uniform", generator=gen), FreeSpace(g, 0.75e-3, 0.03)])
x = torch.randn(16, 256, 256, dtype=torch.complex64, generator=gen)
opt = torch.optim.Adam(layers.parameters(), lr=0.1)
field = Field(x, g, 0.75e-3)
for layer in layers:
    field = layer(field)
loss = field.data.abs().square().sum()
loss.backward()
opt.step()
h = hashlib.sha256()
for t in [field.data.detach(), *[p.detach() for p in layers.parameters()], *[p.grad for p in layers.parameters()]]:
    h.update(t.contiguous().numpy().tobytes())
print(optics.huge_pages(), h.hexdigest())
"""


def _run(thp: str, backend: str, cache: Path) -> tuple[bool, str]:
    env = {**os.environ, _memory.ENV: thp, "ONNSIM_FFT_BACKEND": backend, "ONNSIM_CACHE_DIR": str(cache),
           "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    on, digest = out.stdout.split()
    return on == "True", digest


@pytest.mark.parametrize("backend", ["pyfftw", "torch"])
def test_huge_pages_change_no_value(tmp_path, backend):
    if backend == "pyfftw":  # plan (FFTW_MEASURE, timing-dependent) once and share the wisdom
        pytest.importorskip("pyfftw")
        _run("0", backend, tmp_path)
    on_off, off = _run("0", backend, tmp_path)
    on_on, on = _run("1", backend, tmp_path)
    assert not on_off
    if _memory.kernel_mode() in ("always", "madvise") and sys.platform.startswith("linux"):
        assert on_on, "THP_MEM_ALLOC_ENABLE=1 did not give page-aligned large tensors"
    assert on == off


def test_use_huge_pages_respects_the_environment(monkeypatch):
    monkeypatch.setenv(_memory.ENV, "0")
    _memory.use_huge_pages()
    assert os.environ[_memory.ENV] == "0"
    monkeypatch.delenv(_memory.ENV)
    monkeypatch.setattr(_memory.sys, "platform", "linux")
    _memory.use_huge_pages()  # too late for this process's allocator; only the variable is checked
    assert os.environ[_memory.ENV] == "1"


def test_kernel_mode_reads_the_bracketed_choice(tmp_path, monkeypatch):
    f = tmp_path / "enabled"
    f.write_text("always [madvise] never\n")
    monkeypatch.setattr(_memory, "_SYSFS", f)
    assert _memory.kernel_mode() == "madvise"
    monkeypatch.setattr(_memory, "_SYSFS", tmp_path / "missing")
    assert _memory.kernel_mode() is None
