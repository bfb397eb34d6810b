"""PhysicalSystem: ideal when error-free, exact roll for integer shifts, degradation by each
error alone, no gradients, exact query counting, hidden errors, clear errors."""

import math

import pytest
import torch

from hardware import (DetectorNoise, DiffractiveErrorModel, DiffractiveErrors, MeshErrorModel, MeshNetworkErrors,
                      PhysicalSystem)
from optics import Field, FreeSpace, Grid, OpticalSystem, PhaseMask
from photonics import MeshErrors, MeshNetwork

from _models import GAP, LAM, PITCH, diffractive_model, input_field, trained_focusing_model


@pytest.fixture(scope="module")
def focusing_model():
    return trained_focusing_model()


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_none_preset_is_the_ideal_diffractive_model_exactly(dtype):
    model = diffractive_model(dtype=dtype)
    field = input_field(model[0].grid, batch=(3,), dtype=dtype)
    device = PhysicalSystem(model, preset="none")
    reading = device.measure(field)
    ideal = model(field).intensity()
    assert reading.dtype == ideal.dtype
    assert torch.equal(reading, ideal)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_none_preset_is_the_ideal_mesh_network_exactly(dtype):
    net = MeshNetwork(8, 3, n_classes=4, generator=torch.Generator().manual_seed(1), dtype=dtype)
    cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    x = torch.randn(6, 8, generator=torch.Generator().manual_seed(2), dtype=cdtype)
    reading = PhysicalSystem(net, preset="none").measure(x)
    assert torch.equal(reading, net.port_intensities(x, None))


def test_integer_pixel_shift_is_torch_roll():
    # one mask followed by periodic (unpadded) free space: a 3-pixel x shift of the mask is
    # exactly the ideal system with the mask rolled by 3 columns
    grid = Grid(32, PITCH)
    gen = torch.Generator().manual_seed(3)
    mask = PhaseMask(grid, init="uniform", generator=gen, dtype=torch.float64)
    space = FreeSpace(grid, LAM, GAP, pad_factor=1, check_sampling=False, dtype=torch.complex128)
    model = OpticalSystem(mask, space)
    errors = DiffractiveErrors.none(1)
    errors = DiffractiveErrors(torch.tensor([[0.0, 3 * PITCH]], dtype=torch.float64), *(
        getattr(errors, n) for n in DiffractiveErrors._TENSORS[1:]))
    field = input_field(grid, dtype=torch.complex128)
    got = PhysicalSystem(model, errors).measure(field)
    rolled = OpticalSystem(PhaseMask(grid, init=torch.roll(mask.phase.detach(), 3, dims=-1), dtype=torch.float64),
                           space)
    expected = rolled(field).intensity().detach()
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12 * float(expected.max()))


def _focus(device_or_model, field, target):
    inten = device_or_model.measure(field) if isinstance(device_or_model, PhysicalSystem) else \
        device_or_model(field).intensity().detach()
    return float(inten[target].sum() / inten.sum())


@pytest.mark.parametrize("name,kw", [
    ("lateral shift", dict(shift_std=1.0 * PITCH)),
    ("rotation", dict(rotation_std=math.radians(3))),
    ("gap", dict(gap_std=0.1 * GAP)),
    ("gain", dict(phase_gain_std=0.3)),
    ("lut", dict(lut_nonlinearity=0.6)),
    ("quantization", dict(phase_bits=2)),
    ("crosstalk", dict(crosstalk_px=1.0)),
    ("fill factor", dict(fill_factor=0.6)),
    ("input shift", dict(input_shift_std=2 * PITCH)),
])
def test_each_diffractive_error_alone_degrades_a_trained_model(focusing_model, name, kw):
    model, field, target = focusing_model
    ideal = _focus(model, field, target)
    assert ideal > 0.3  # the model did learn to focus
    worse = []
    for seed in range(3):
        errors = DiffractiveErrorModel(**kw).sample(2, generator=torch.Generator().manual_seed(seed))
        worse.append(_focus(PhysicalSystem(model, errors), field, target))
    # offsets common to the whole layer (gain/offset) can occasionally help one draw a bit:
    # the mean over draws must drop
    assert sum(worse) / len(worse) < ideal, (name, ideal, worse)


def test_uniform_phase_offset_is_invisible_alone_and_visible_with_fill_factor(focusing_model):
    # a phase offset common to a whole layer multiplies the field by the constant exp(i·c): no
    # intensity can change (only float rounding: complex64, relative 1e-5 of the peak). With a
    # fill factor < 1 the dead area's unmodulated light ff·t·e^{ic} + (1 − ff)·a interferes
    # with the modulated part, so the same offset becomes visible.
    model, field, target = focusing_model
    ideal = model(field).intensity().detach()
    for seed in range(3):
        errors = DiffractiveErrorModel(phase_offset_std=1.0).sample(2, generator=torch.Generator().manual_seed(seed))
        assert float(errors.phase_offset.abs().max()) > 0.1  # the draw is not trivially zero
        got = PhysicalSystem(model, errors).measure(field)
        assert torch.allclose(got, ideal, rtol=0, atol=1e-5 * float(ideal.max()))
    fill = DiffractiveErrorModel(fill_factor=0.6).sample(2, generator=torch.Generator().manual_seed(0))
    both = DiffractiveErrorModel(fill_factor=0.6, phase_offset_std=1.0).sample(
        2, generator=torch.Generator().manual_seed(0))
    assert float(both.phase_offset.abs().max()) > 0.1
    with_fill = PhysicalSystem(model, fill).measure(field)
    with_both = PhysicalSystem(model, both).measure(field)
    # the offset alone moves no intensity; on top of the fill factor it moves a large part of it
    diff = float((with_both - with_fill).abs().sum() / with_fill.sum())
    assert diff > 0.05, diff


def test_mesh_loss_drops_power_and_component_errors_reduce_fidelity():
    net = MeshNetwork(8, 1, n_classes=4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    x = torch.randn(50, 8, generator=torch.Generator().manual_seed(5), dtype=torch.complex128)
    ideal = PhysicalSystem(net).measure(x)
    lossy = PhysicalSystem(net, preset="loss_db=0.2", seed=1).measure(x)
    # 28 MZIs at most 8 deep... every path crosses ≥ 1 MZI: total power strictly drops
    assert (lossy.sum(-1) < ideal.sum(-1)).all()
    # 0.2 dB per MZI on every path of a rectangular 8-mode mesh (8 columns, ≤ 8 MZIs per path)
    assert float(lossy.sum() / ideal.sum()) >= 10 ** (-0.2 * 8 / 10) - 1e-9
    u_ideal = net.meshes[0].matrix().detach()
    for preset in ("bs=0.1", "ps=0.1"):
        errors = MeshErrorModel(**({"bs_sigma": 0.1} if preset.startswith("bs") else {"ps_sigma": 0.1})).sample(
            net.meshes, generator=torch.Generator().manual_seed(6))
        u = net.meshes[0].matrix(errors.meshes[0]).detach()
        fidelity = float(abs(torch.trace(u_ideal.conj().T @ u)) / 8)
        assert fidelity < 1 - 1e-4
        reading = PhysicalSystem(net, errors).measure(x)
        assert not torch.allclose(reading, ideal)


def test_detector_noise_statistics():
    signal = torch.rand(2000, 16, generator=torch.Generator().manual_seed(7), dtype=torch.float64) + 0.5
    gen = torch.Generator().manual_seed(8)
    full = signal.amax(-1, keepdim=True)
    shot = DetectorNoise(full_scale_photons=1e4).apply(signal, generator=gen, sample_dims=1)
    # variance I·F/N_fs: standardised residuals have unit variance
    z = (shot - signal) / torch.sqrt(signal * full / 1e4)
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.03
    read = DetectorNoise(read_noise=0.01).apply(signal, generator=gen, sample_dims=1)
    assert abs(float(((read - signal) / full).std()) - 0.01) < 0.0005
    adc = DetectorNoise(adc_bits=6).apply(signal, generator=gen, sample_dims=1)
    step = full / 63
    assert float(((adc - signal).abs() / step).max()) <= 0.5 + 1e-9
    assert torch.allclose(torch.round(adc / step), adc / step, atol=1e-9)


def test_measure_builds_no_graph_and_counts_queries_exactly():
    model = diffractive_model()
    for p in model.parameters():
        assert p.requires_grad
    device = PhysicalSystem(model, preset="low", seed=0)
    grid = model[0].grid
    data = input_field(grid, batch=(4,)).data.clone().requires_grad_(True)
    reading, states = device.measure(Field(data, grid, LAM), internal_states=True)
    assert not reading.requires_grad and reading.grad_fn is None
    assert all(not s.requires_grad for s in states) and len(states) == 2
    device.measure(input_field(grid, batch=(2, 3)))
    device.measure(input_field(grid))
    assert device.queries == 3 and device.samples == 4 + 6 + 1


def test_parameters_are_programmed_not_shared():
    model = diffractive_model()
    field = input_field(model[0].grid)
    device = PhysicalSystem(model)
    before = device.measure(field)
    with torch.no_grad():
        model[0].phase.add_(1.0)
    assert torch.equal(device.measure(field), before)  # not shared by reference
    device.load_parameters(model.state_dict())
    assert torch.equal(device.measure(field), model(field).intensity().detach())
    with pytest.raises(ValueError, match="missing"):
        device.load_parameters({})
    bad = {k: torch.zeros(3) for k in model.state_dict()}
    with pytest.raises(ValueError, match="expects"):
        device.load_parameters(bad)


def test_errors_are_not_readable_through_the_public_api():
    device = PhysicalSystem(diffractive_model(), preset="high", seed=0)
    public = [a for a in dir(device) if not a.startswith("_")]
    assert set(public) == {"family", "load_parameters", "load_state_dict", "measure", "queries", "samples",
                           "save_errors", "state_dict", "to", "fork_noise"}  # to/fork_noise return nothing hidden
    assert set(device.state_dict()) == {"queries", "samples", "noise_rng"}
    assert "shift" not in repr(device) and "error" not in repr(device).lower()


def test_forked_noise_streams_are_independent_and_deterministic():
    model = diffractive_model()
    field = input_field(model[0].grid)
    reads = []
    for stream in (0, 1, 0):
        device = PhysicalSystem(model, preset="high", seed=5)
        device.fork_noise(stream)
        reads.append(device.measure(field))
    assert torch.equal(reads[0], reads[2]) and not torch.equal(reads[0], reads[1])
    plain = PhysicalSystem(model, preset="high", seed=5).measure(field)
    assert not torch.equal(plain, reads[0])  # a forked stream is not the unforked one


def test_same_seed_same_device_different_seed_different_device():
    model = diffractive_model()
    field = input_field(model[0].grid)
    a = PhysicalSystem(model, preset="medium", seed=5, noise_seed=0).measure(field)
    b = PhysicalSystem(model, preset="medium", seed=5, noise_seed=0).measure(field)
    c = PhysicalSystem(model, preset="medium", seed=6, noise_seed=0).measure(field)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_bad_input():
    model = diffractive_model()
    with pytest.raises(ValueError, match="unknown diffractive preset 'extreme'.*none, low, medium, high"):
        PhysicalSystem(model, preset="extreme", seed=0)
    with pytest.raises(ValueError, match="give seed="):
        PhysicalSystem(model, preset="medium")
    with pytest.raises(ValueError, match="not both"):
        PhysicalSystem(model, DiffractiveErrors.none(2), preset="low")
    with pytest.raises(ValueError, match="3 layers but the model has 2"):
        PhysicalSystem(model, DiffractiveErrors.none(3))
    with pytest.raises(TypeError, match="needs DiffractiveErrors"):
        PhysicalSystem(model, MeshNetworkErrors(()))
    with pytest.raises(TypeError, match="OpticalSystem .* or a photonics.MeshNetwork"):
        PhysicalSystem(torch.nn.Linear(2, 2))
    net = MeshNetwork(8, 2, n_classes=4)
    with pytest.raises(ValueError, match="has 1 meshes but the model has 2"):
        PhysicalSystem(net, MeshNetworkErrors((MeshErrors.zeros(net.meshes[0]),)))
    with pytest.raises(ValueError, match="mesh 0: error realization has per-MZI shape"):
        PhysicalSystem(net, MeshNetworkErrors((MeshErrors.zeros((3, 3)), MeshErrors.zeros((3, 3)))))
    with pytest.raises(ValueError, match="unknown mesh error key 'bq'"):
        PhysicalSystem(net, preset="bq=0.1", seed=0)
    with pytest.raises(TypeError, match="measures an optics.Field"):
        PhysicalSystem(model).measure(torch.zeros(48, 48, dtype=torch.complex64))
