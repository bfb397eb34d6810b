"""``torch.compile`` of the simulator on CPU: the FFT seam's ``"auto"`` takes torch.fft while
dynamo traces, and a D2NN training step (PhaseMask/FreeSpace layers, loss, backward),
ideal and under the diffractive error model, compiles into one graph: no graph breaks
(``torch._dynamo.explain``), values and gradients equal to eager. The GPU variant (CuPy
custom operators inside the compiled step) is marked ``gpu``."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo as dynamo

from optics import _fft


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    dynamo.reset()
    yield
    dynamo.reset()


def test_auto_fft_backend_is_torch_while_compiling(monkeypatch, generator):
    """Without the check the forced CPU backend (a numpy/FFTW call) breaks the graph and
    ``fullgraph=True`` raises."""
    monkeypatch.setenv(_fft.ENV_VAR, "scipy")
    x = torch.randn(4, 6, 5, dtype=torch.complex128, generator=generator)
    h = torch.randn(12, 10, dtype=torch.complex128, generator=generator)
    assert _fft.resolve_backend("auto", x, (12, 10), op="filter") == "scipy"  # eager: the CPU backend

    def f(x, h):
        return _fft.filter2(x, h), _fft.fft2(x, (12, 10)), _fft.ifft2(h)

    out = torch.compile(f, backend="eager", fullgraph=True)(x, h)
    expect = (torch.fft.ifft2(torch.fft.fft2(x, s=(12, 10)) * h)[..., :6, :5], torch.fft.fft2(x, s=(12, 10)),
              torch.fft.ifft2(h))
    for o, e in zip(out, expect):
        torch.testing.assert_close(o, e, atol=1e-12, rtol=0)
