"""Property-based fuzzing of the public API (hypothesis): every input either runs, giving finite
results for finite input, or raises a clear error — a ValueError or TypeError whose message
names the argument — never a traceback from deep inside torch and never a silent NaN.

Small sizes and a modest number of examples keep the whole module well under a minute; the FFTs are
torch's (an FFTW plan per fuzzed shape would cost more than the test). The examples are
derandomized (the same on every run and machine: the default suite must not find a new case by
chance and turn red); ``ONNSIM_FUZZ_RANDOM=1`` draws new ones, to search for bugs.
"""

from __future__ import annotations

import math
import os
import warnings

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hardware import PhysicalSystem  # noqa: E402
from hardware.export import export_heights  # noqa: E402
from optics import Field, FreeSpace, Grid, OpticalSystem, PhaseMask, SamplingWarning  # noqa: E402
from optics.functional import asm_propagate, fresnel_propagate, thin_lens_phase  # noqa: E402
from photonics import ClementsMesh, MeshNetwork, haar_unitary  # noqa: E402

settings.register_profile("onnsim", deadline=None, max_examples=30,
                          derandomize=not os.environ.get("ONNSIM_FUZZ_RANDOM"),
                          suppress_health_check=[HealthCheck.too_slow], database=None)
settings.load_profile("onnsim")

# numbers a user might pass: ordinary, extreme, non-finite, wrong type
ANY_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                      st.sampled_from([1e-300, -0.0, 1e300, "1", None, True]))
LENGTH = st.one_of(st.floats(1e-7, 1e-2), ANY_FLOAT)
SIZE = st.one_of(st.integers(-2, 12), st.sampled_from([0, 2.5, "8", None, True]))
# bad or extreme pad factors (a pad factor of thousands is a legal, huge and slow request: not fuzzed)
PAD = st.one_of(st.floats(0.5, 4.0), st.sampled_from([math.nan, math.inf, -1.0, 0.0, 1e300, "2", None, True]))
CDTYPE = st.sampled_from([torch.complex64, torch.complex128, torch.complex32, torch.float32, torch.float64,
                          torch.int64])


def _clear(exc: BaseException, *names: str) -> None:
    """The error is a ValueError/TypeError naming one of ``names`` (SamplingError is a ValueError),
    or a MemoryError refusing a huge request with the estimate and the memory available."""
    if isinstance(exc, MemoryError):  # a huge request refused up front, stating both sizes
        assert "needs about" in str(exc) and "available" in str(exc), exc
        return
    assert isinstance(exc, (ValueError, TypeError)), f"{type(exc).__name__}: {exc}"
    msg = str(exc).lower()
    assert any(n.lower() in msg for n in names), f"message names none of {names}: {exc}"


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(torch.view_as_real(t) if t.is_complex() else t).all())


def _run(fn, *names):
    """``fn()`` or None after checking that its error is clear."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        warnings.simplefilter("ignore", UserWarning)  # e.g. ComplexHalf is experimental
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - the property is about every exception
            _clear(exc, *names)
            return None


@given(ny=SIZE, nx=SIZE, pitch=LENGTH)
def test_grid(ny, nx, pitch):
    grid = _run(lambda: Grid((ny, nx), pitch), "grid")
    if grid is not None:
        assert grid.shape == (ny, nx) and all(math.isfinite(p) and p > 0 for p in grid.pitch)


@given(n=st.integers(1, 8), dtype=CDTYPE, wavelength=LENGTH, fill=st.sampled_from([0.0, 1.0, math.nan, math.inf]))
def test_field(n, dtype, wavelength, fill):
    def build():
        data = torch.full((2, n, n), fill).to(dtype) if dtype != torch.int64 else torch.ones(2, n, n, dtype=dtype)
        return Field(data, Grid(n, 1e-6), wavelength)

    field = _run(build, "field data", "wavelength")
    if field is not None:
        assert field.dtype in (torch.complex64, torch.complex128) and field.wavelength > 0
        if math.isfinite(fill):
            assert _finite(field.intensity())


@given(n=st.integers(1, 12), wavelength=LENGTH, ay=ANY_FLOAT, ax=ANY_FLOAT, amplitude=ANY_FLOAT, dtype=CDTYPE)
@example(n=1, wavelength=0.0078125, ay=0.0, ax=0.0, amplitude=3.4028235677973366e+38, dtype=torch.complex64)  # was inf
def test_plane_wave(n, wavelength, ay, ax, amplitude, dtype):
    field = _run(lambda: Field.plane_wave(Grid(n, 1e-6), wavelength, angle=(ay, ax), amplitude=amplitude,
                                          dtype=dtype), "angle", "wavelength", "amplitude", "dtype")
    if field is not None:
        assert _finite(field.data)


@given(n=st.integers(1, 12), wavelength=st.floats(1e-7, 1e-5), waist=LENGTH, cy=ANY_FLOAT)
def test_gaussian(n, wavelength, waist, cy):
    field = _run(lambda: Field.gaussian(Grid(n, 1e-6), wavelength, waist, center=(cy, 0.0)),
                 "waist", "center", "wavelength")
    if field is not None:
        assert _finite(field.data) and float(field.power()) == pytest.approx(1.0, rel=1e-4)


@given(n=st.integers(1, 12), pitch=st.floats(2e-7, 5e-6), wavelength=st.floats(3e-7, 2e-6), z=ANY_FLOAT,
       pad=PAD, tol=st.one_of(st.floats(0, 1), ANY_FLOAT),
       band_limit=st.booleans(), taper=st.one_of(st.floats(0, 1), ANY_FLOAT))
def test_asm_propagate(n, pitch, wavelength, z, pad, tol, band_limit, taper):
    gen = torch.Generator().manual_seed(n)
    field = Field(torch.randn(n, n, generator=gen, dtype=torch.complex128), Grid(n, pitch), wavelength)
    out = _run(lambda: asm_propagate(field, z, pad_factor=pad, sampling_tol=tol, band_limit=band_limit,
                                     taper=taper, fft_backend="torch"), "distance", "pad_factor", "sampling_tol", "taper", "sampled",
               "aliased", "band")
    if out is not None:
        assert out.data.shape == field.data.shape and _finite(out.data)


@given(n=st.integers(1, 10), z=ANY_FLOAT, pad=PAD)
def test_fresnel_propagate(n, z, pad):
    field = Field.plane_wave(Grid(n, 1e-6), 1e-6, dtype=torch.complex128)
    out = _run(lambda: fresnel_propagate(field, z, pad_factor=pad, fft_backend="torch"), "distance", "pad_factor", "fresnel")
    if out is not None:
        assert _finite(out.data)


@given(n=st.integers(1, 10), wavelength=LENGTH, z=ANY_FLOAT, method=st.sampled_from(["asm", "fresnel", "rs", "x"]),
       tol=st.one_of(st.floats(0, 1), ANY_FLOAT), dtype=CDTYPE)
def test_free_space(n, wavelength, z, method, tol, dtype):
    grid = Grid(n, 0.5e-6)
    layer = _run(lambda: FreeSpace(grid, wavelength, z, method=method, sampling_tol=tol, dtype=dtype,
                                       fft_backend="torch"),
                 "wavelength", "distance", "method", "sampling_tol", "dtype", "complex64", "sampled", "aliased",
                 "> 0")
    if layer is not None:
        field = Field.plane_wave(grid, layer.wavelength, dtype=torch.complex128)
        out = _run(lambda: layer(field), "field", "dtype", "complex")
        assert out is None or _finite(out.data)


@given(n=st.integers(1, 10), init=st.sampled_from(["zeros", "uniform", "tensor", "nan", "wrong-shape", "x"]))
def test_phase_mask(n, init):
    grid = Grid(n, 1e-6)
    value = {"tensor": torch.rand(n, n), "nan": torch.full((n, n), math.nan), "wrong-shape": torch.zeros(n + 1, n)
             }.get(init, init)
    mask = _run(lambda: PhaseMask(grid, init=value, generator=torch.Generator().manual_seed(0)), "init", "phase")
    if mask is not None:
        out = mask(Field.plane_wave(grid, 1e-6))
        assert _finite(out.data)


@given(n=st.integers(1, 10), wavelength=LENGTH, f=ANY_FLOAT)
def test_thin_lens_phase(n, wavelength, f):
    phase = _run(lambda: thin_lens_phase(Grid(n, 1e-6), wavelength, f), "focal_length", "wavelength", "aliased")
    if phase is not None:
        assert _finite(phase)


@given(n=SIZE, dtype=CDTYPE)
def test_haar_unitary(n, dtype):
    u = _run(lambda: haar_unitary(n, generator=torch.Generator().manual_seed(0), dtype=dtype), "n", "dtype")
    if u is not None:
        eye = torch.eye(n, dtype=torch.complex128)
        assert torch.allclose(u.to(torch.complex128).conj().T @ u.to(torch.complex128), eye, atol=1e-5)


@given(n=st.integers(2, 6), batch=st.integers(0, 3), fill=st.sampled_from([None, math.nan, math.inf]),
       width=st.integers(-1, 1), method=st.sampled_from(["matrix", "columns", "x"]))
def test_clements_mesh(n, batch, fill, width, method):
    mesh = ClementsMesh(n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    x = torch.randn(batch, n + width, generator=torch.Generator().manual_seed(1), dtype=torch.complex128)
    if fill is not None and x.numel():
        x[0, 0] = fill
    y = _run(lambda: mesh(x, method=method), "mesh input", "method")
    if y is not None:
        assert y.shape == x.shape and _finite(y)
        # lossless: power is kept
        assert torch.allclose((y.abs() ** 2).sum(-1), (x.abs() ** 2).sum(-1), rtol=1e-10, atol=1e-12)


@given(n=st.integers(4, 12), shift=st.integers(-2, 2), fill=st.sampled_from([None, math.nan]),
       wavelength_factor=st.sampled_from([1.0, 2.0]))
def test_physical_system_measure(n, shift, fill, wavelength_factor):
    model = OpticalSystem(PhaseMask(Grid(8, 0.4e-3), init="uniform", generator=torch.Generator().manual_seed(0)),
                          FreeSpace(Grid(8, 0.4e-3), 0.75e-3, 0.02, check_sampling=False, fft_backend="torch"))
    device = PhysicalSystem(model, preset="low", seed=0)
    grid = Grid(n, model[0].grid.pitch)
    data = torch.ones(2, n, n, dtype=torch.complex64)
    if fill is not None:
        data[0, 1, 1] = fill
    field = Field(data, grid, 0.75e-3 * wavelength_factor)
    reading = _run(lambda: device.measure(field), "measure")
    if reading is not None:
        assert reading.shape == (2, 8, 8) and _finite(reading) and bool((reading >= 0).all())


@given(modes=st.integers(2, 6), width=st.integers(-1, 1), fill=st.sampled_from([None, math.nan]),
       dtype=st.sampled_from([torch.complex64, torch.float32]))
def test_physical_system_measure_mesh(modes, width, fill, dtype):
    device = PhysicalSystem(MeshNetwork(modes, 1, n_classes=2, generator=torch.Generator().manual_seed(0)))
    x = torch.ones(3, modes + width, dtype=dtype)
    if fill is not None:
        x[0, 0] = fill
    reading = _run(lambda: device.measure(x), "measure input")
    if reading is not None:
        assert _finite(reading)


@given(layers=st.integers(0, 2), ny=st.integers(0, 5), nx=st.integers(0, 5), wavelength=LENGTH, pitch=LENGTH,
       n=st.one_of(st.floats(1.01, 4.0), ANY_FLOAT), levels=st.one_of(st.none(), st.integers(-1, 20)),
       fill=st.sampled_from([None, math.nan]))
def test_export_heights(layers, ny, nx, wavelength, pitch, n, levels, fill):
    phases = torch.rand(layers, ny, nx, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 7
    if fill is not None and phases.numel():
        phases.view(-1)[0] = fill
    hmap = _run(lambda: export_heights(phases, wavelength=wavelength, pitch=pitch, n=n, levels=levels),
                "phases", "phase", "wavelength", "pitch", "refractive", "n ", "levels", "material")
    if hmap is not None:
        assert _finite(hmap.height) and bool((hmap.height >= 0).all())
