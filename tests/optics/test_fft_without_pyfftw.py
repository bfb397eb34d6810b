"""pyFFTW is optional (the ``fft`` extra): without it the library falls back to torch.fft /
scipy with the same results, and asking for it explicitly is a one-line error naming the extra.
The absence is simulated in a fresh interpreter (``sys.modules["pyfftw"] = None`` makes every
``import pyfftw`` fail) so that this process's pyfftw, if any, stays untouched."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.modules["pyfftw"] = None          # as if pyfftw were not installed
    import torch
    from optics import Field, FreeSpace, Grid, _fft

    out = {"available": _fft.is_available("pyfftw")[0], "backends": list(_fft.available())}
    grid = Grid(64, 0.4e-3)              # padded 128²: the size at which "auto" would plan FFTW
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 64, 64, dtype=torch.complex64, generator=g)
    out["filter"] = _fft.resolve_backend("auto", x, (128, 128), op="filter")
    big = torch.randn(8, 64, 64, dtype=torch.complex64, generator=g)
    out["filter_big"] = _fft.resolve_backend("auto", big, (512, 512), op="filter")

    layer = FreeSpace(grid, 0.75e-3, 0.03)
    out["warm_up"] = layer.warm_up()
    phase = torch.zeros(64, 64, requires_grad=True)
    field = Field(x * torch.polar(torch.ones(64, 64), phase), grid, 0.75e-3)
    y = layer(field).data
    y.abs().square().sum().backward()
    ref = FreeSpace(grid, 0.75e-3, 0.03, fft_backend="torch")(Field(x, grid, 0.75e-3)).data
    out["max_diff"] = float((y.detach() - ref).abs().max() / ref.abs().max())
    out["grad_finite"] = bool(torch.isfinite(phase.grad).all()) and float(phase.grad.abs().max()) > 0
    try:
        FreeSpace(grid, 0.75e-3, 0.03, fft_backend="pyfftw")
    except RuntimeError as exc:
        out["error"] = str(exc)
    print(json.dumps(out))
""")


def test_library_runs_without_pyfftw():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["available"] is False and "pyfftw" not in out["backends"] and "scipy" in out["backends"]
    assert out["filter"] == "torch" and out["filter_big"] == "scipy"  # the fallback of "auto"
    assert out["warm_up"] == 0.0
    assert out["max_diff"] < 1e-5 and out["grad_finite"]
    assert "\n" not in out["error"] and "pyfftw" in out["error"] and "onnsim[fft]" in out["error"]
