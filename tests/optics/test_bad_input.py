"""Bad input gets a clear error that says what was wrong and what is allowed."""

import math

import pytest
import torch

from optics import Aperture, Field, FreeSpace, Grid, Lens, PhaseMask, SamplingError, SamplingWarning
from optics.functional import (asm_propagate, fraunhofer_propagate, fresnel_propagate, phase_mask, rs_propagate,
                               thin_lens_phase)

LAM = 1e-6


def _field(shape=(16, 16), pitch=0.5e-6, dtype=torch.complex64):
    return Field(torch.ones(shape, dtype=dtype), Grid(shape, pitch), LAM)


@pytest.mark.parametrize("shape,pitch,match", [
    ((0, 4), 1e-6, "positive integers"),
    ((4.5, 4), 1e-6, "positive integers"),
    ((4, 4, 4), 1e-6, "pair"),
    ((4, 4), 0.0, "> 0"),
    ((4, 4), -1e-6, "> 0"),
    ((4, 4), float("nan"), "finite"),
    ((4, 4), "1um", "real number"),
])
def test_bad_grid(shape, pitch, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Grid(shape, pitch)


def test_non_complex_field():
    with pytest.raises(TypeError, match=r"must be complex .*complex64"):
        Field(torch.ones(4, 4), Grid(4, 1e-6), LAM)


def test_field_grid_shape_mismatch_prints_both():
    with pytest.raises(ValueError, match=r"\(2, 4, 5\).*\(4, 4\)"):
        Field(torch.ones(2, 4, 5, dtype=torch.complex64), Grid(4, 1e-6), LAM)


@pytest.mark.parametrize("lam", [0.0, -5e-7, float("inf"), float("nan")])
def test_bad_wavelength(lam):
    with pytest.raises(ValueError, match="wavelength"):
        Field(torch.ones(4, 4, dtype=torch.complex64), Grid(4, 1e-6), lam)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_field_data(bad):
    field = _field()
    data = field.data.clone()
    data[3, 4] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        asm_propagate(field.replace(data=data), 1e-6)


@pytest.mark.parametrize("z", [float("nan"), float("inf")])
def test_non_finite_distance(z):
    with pytest.raises(ValueError, match="distance must be finite"):
        asm_propagate(_field(), z)


def test_not_a_field():
    with pytest.raises(TypeError, match="optics.Field"):
        asm_propagate(torch.ones(4, 4, dtype=torch.complex64), 1e-6)


def test_bad_pad_factor():
    with pytest.raises(ValueError, match="pad_factor"):
        asm_propagate(_field(), 1e-6, pad_factor=0.5)


def test_rs_undersampled_pitch_too_coarse():
    # λ = 1 µm, pitch 1 µm (> λ/2), 64 µm window, z = 20 µm: the impulse response's local
    # frequency at the largest lag exceeds Nyquist.
    field = Field(torch.ones(64, 64, dtype=torch.complex64), Grid(64, 1e-6), LAM)
    with pytest.raises(SamplingError, match=r"aliased.*Valid: pitch ≤ .* or distance ≥"):
        rs_propagate(field, 20e-6)
    with pytest.raises(SamplingError):
        FreeSpace(field.grid, LAM, 20e-6, method="rs")


def test_rs_needs_forward_distance_and_padding():
    with pytest.raises(ValueError, match="> 0"):
        rs_propagate(_field(), -1e-6)
    with pytest.raises(ValueError, match="pad_factor ≥ 2"):
        rs_propagate(_field(), 5e-6, pad_factor=1.5)


def test_fresnel_chirp_undersampled():
    with pytest.raises(SamplingError, match=r"Fresnel transfer function is under-sampled.*pad_factor ≥"):
        fresnel_propagate(_field(), 1e-3)


def test_asm_without_band_limit_aliases_beyond_critical_distance():
    # 16 px of 0.5 µm padded to 32: band limit 1/(λ sqrt((2Δf z)² + 1)) < 1/λ for any z > 0
    with pytest.raises(SamplingError, match="band_limit=True"):
        asm_propagate(_field(), 100e-6, band_limit=False)
    with pytest.raises(SamplingError, match="band_limit=True"):
        FreeSpace(Grid(16, 0.5e-6), LAM, 100e-6, band_limit=False)


def test_asm_band_limit_loss_without_padding_is_an_error_and_with_padding_a_warning():
    grid = Grid(64, 0.5e-6)
    yy, xx = grid.meshgrid()
    # a narrow spot: a wide angular spectrum that spreads beyond the window over 200 µm
    u = torch.exp(-(xx**2 + yy**2) / (0.6e-6) ** 2).to(torch.complex128)
    field = Field(u, grid, LAM)
    with pytest.raises(SamplingError, match=r"pad_factor = 1 < 2.*Valid: pad_factor ≥"):
        asm_propagate(field, 200e-6, pad_factor=1)
    with pytest.warns(SamplingWarning, match="leaves the"):
        asm_propagate(field, 200e-6, pad_factor=2)


def test_lens_aliasing():
    grid = Grid(128, 2e-6)
    # r/(λ f) at the corner ≈ 181 µm/(1 µm · 1 mm) = 1.8e5 cycles/m < 2.5e5: fine
    thin_lens_phase(grid, LAM, 1e-3)
    with pytest.raises(SamplingError, match=r"thin lens phase is aliased.*focal_length\| ≥"):
        thin_lens_phase(grid, LAM, 0.3e-3)
    with pytest.raises(SamplingError):
        Lens(grid, LAM, 0.3e-3)
    thin_lens_phase(grid, LAM, 0.3e-3, aperture_radius=50e-6)  # aliasing-free inside the pupil
    with pytest.raises(ValueError, match="non-zero"):
        thin_lens_phase(grid, LAM, 0.0)


def test_module_grid_and_wavelength_mismatch_print_both_sides():
    layer = FreeSpace(Grid(16, 0.5e-6), LAM, 1e-6)
    with pytest.raises(ValueError, match=r"built for Grid\(shape=\(16, 16\).*received a field on Grid\(shape=\(8, 8\)"):
        layer(_field((8, 8)))
    with pytest.raises(ValueError, match=r"wavelength 1e-06 m but received a field at 5e-07 m"):
        layer(_field().replace(wavelength=5e-7))
    with pytest.raises(TypeError, match="optics.Field"):
        layer(torch.ones(16, 16, dtype=torch.complex64))


def test_bad_module_options():
    grid = Grid(16, 0.5e-6)
    with pytest.raises(ValueError, match="unknown propagation method"):
        FreeSpace(grid, LAM, 1e-6, method="fft")
    with pytest.raises(ValueError, match="taper"):
        FreeSpace(grid, LAM, 1e-6, taper=1.5)
    with pytest.raises(ValueError, match="generator"):
        PhaseMask(grid, init="uniform")
    with pytest.raises(ValueError, match="init phase must be a real tensor of shape"):
        PhaseMask(grid, init=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="exactly one of"):
        Aperture(grid)
    with pytest.raises(ValueError, match="> 0"):
        fraunhofer_propagate(_field(), -1.0)


def test_mask_shape_and_type_errors():
    field = _field()
    with pytest.raises(ValueError, match=r"phase shape \(8, 8\) does not match the field's grid \(16, 16\)"):
        phase_mask(field, torch.zeros(8, 8))
    with pytest.raises(TypeError, match="phase must be real"):
        phase_mask(field, torch.zeros(16, 16, dtype=torch.complex64))
    assert math.isfinite(float(phase_mask(field, torch.zeros(16, 16)).power()))


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_half_precision_complex_is_refused_at_construction():
    with pytest.raises(TypeError, match=r"Field data must be torch.complex64 or torch.complex128, got torch.complex32"):
        Field(torch.ones(4, 4, dtype=torch.complex32), Grid(4, 1e-6), LAM)
    with pytest.raises(TypeError, match=r"dtype must be torch.complex64 or torch.complex128"):
        Field.plane_wave(Grid(4, 1e-6), LAM, dtype=torch.complex32)


@pytest.mark.parametrize("angle,match", [
    ((float("nan"), 0.0), "angle must be finite"),
    ((0.0, float("inf")), "angle must be finite"),
    ((0.0, 2.0), r"angle must lie in \[-π/2, π/2\]"),
    ((-1.6, 0.0), r"angle must lie in \[-π/2, π/2\]"),
    ((0.1,), "pair"),
])
def test_plane_wave_bad_angle(angle, match):
    with pytest.raises(ValueError, match=match):
        Field.plane_wave(Grid(4, 1e-6), LAM, angle=angle)


def test_plane_wave_grazing_angle_is_allowed_and_finite():
    u = Field.plane_wave(Grid(4, 1e-6), LAM, angle=(0.0, math.pi / 2), dtype=torch.complex128)
    assert torch.allclose(u.intensity(), torch.ones(4, 4, dtype=torch.float64))


def test_plane_wave_and_gaussian_bad_numbers():
    grid = Grid(8, 1e-6)
    with pytest.raises(ValueError, match="amplitude must be finite"):
        Field.plane_wave(grid, LAM, amplitude=float("nan"))
    with pytest.raises(ValueError, match="center must be finite"):
        Field.gaussian(grid, LAM, 2e-6, center=(float("nan"), 0.0))
    with pytest.raises(ValueError, match="wavelength"):
        Field.gaussian(grid, -LAM, 2e-6)
    # a beam that misses the grid entirely used to normalise 0/0 into NaN
    with pytest.raises(ValueError, match="leaves no power"):
        Field.gaussian(grid, LAM, 1e-9, center=(1.0, 0.0))


@pytest.mark.parametrize("tol", [-1.0, 1.5, float("nan")])
def test_bad_sampling_tol(tol):
    with pytest.raises(ValueError, match="sampling_tol"):
        asm_propagate(_field(), 1e-6, sampling_tol=tol)
    with pytest.raises(ValueError, match="sampling_tol"):
        FreeSpace(Grid(16, 0.5e-6), LAM, 1e-6, sampling_tol=tol)


def test_huge_grid_is_refused_up_front_with_estimate_and_available_memory():
    from optics._checks import available_memory
    avail = available_memory()
    if avail is None:
        pytest.skip("available memory unknown on this platform")
    n = int(math.isqrt(avail // 16)) + 1  # one complex128 array of n² pixels alone exceeds it
    grid = Grid(n, 1e-6)
    with pytest.raises(MemoryError, match=r"needs about .* GiB but only .* GiB of host memory is available"):
        Field.plane_wave(grid, LAM)
    with pytest.raises(MemoryError, match=r"GiB"):
        FreeSpace(Grid(n // 2, 1e-6), LAM, 1e-6)


def test_cases_found_by_fuzzing():
    grid = Grid(8, 1e-6)
    # NaN initial phases used to flow silently into every output
    with pytest.raises(ValueError, match="PhaseMask init phase contains 64 NaN"):
        PhaseMask(grid, init=torch.full((8, 8), float("nan")))
    # λ·f underflowed to 0: ZeroDivisionError deep inside
    with pytest.raises(ValueError, match="wavelength"):
        thin_lens_phase(grid, 1e-300, 1e-151)
    # lengths no float product can hold are refused by name
    for bad in (1e-300, 1e154):
        with pytest.raises(ValueError, match=r"wavelength must be a length of at (least|most)"):
            FreeSpace(grid, bad, 1e-6)
    with pytest.raises(ValueError, match="distance"):
        asm_propagate(_field(), 1e200)
    # a waist of 1e154 m overflowed w0²: now simply a flat beam
    wide = Field.gaussian(grid, LAM, 1e50)
    assert torch.allclose(wide.intensity(), wide.intensity()[0, 0].expand(8, 8))


@pytest.mark.parametrize("shape,pitch", [((128, 128), (2e-6, 2e-6)), ((64, 128), (3e-6, 2e-6)), ((128, 64), (2e-6, 3e-6))])
def test_lens_aliasing_limit_is_exact_at_the_corner_pixel(shape, pitch):
    # the outermost pixel centre along each axis sits at r = (n − 1)/2 · d; the lens phase is
    # sampled without aliasing iff r/(λ|f|) ≤ 1/(2d), i.e. |f| ≥ 2 r d/λ: 0.5 % either side
    grid = Grid(shape, pitch)
    f_min = max(2 * ((n - 1) / 2 * d) * d / LAM for n, d in zip(shape, pitch))
    thin_lens_phase(grid, LAM, 1.005 * f_min)
    thin_lens_phase(grid, LAM, -1.005 * f_min)
    with pytest.raises(SamplingError, match="aliased"):
        thin_lens_phase(grid, LAM, 0.995 * f_min)
