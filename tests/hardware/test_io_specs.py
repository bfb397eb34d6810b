"""HDF5 persistence of realizations and specs: bit-exact round trips, schema and corruption errors."""

import h5py
import pytest
import torch

from hardware import (DetectorNoise, DiffractiveErrorModel, MeshErrorModel, MZISpec, PhysicalSystem, PrintedLayerSpec,
                      SLMSpec, DetectorSpec, displacement_errors, load_realization, load_spec, save_realization, save_spec)
from photonics import ClementsMesh

from _models import diffractive_model, input_field


def test_diffractive_realization_round_trip_bit_exact(tmp_path):
    e = DiffractiveErrorModel(shift_std=1e-4, rotation_std=0.01, gap_std=1e-4, phase_gain_std=0.1,
                              lut_nonlinearity=0.1, phase_bits=5, crosstalk_px=0.4, fill_factor=0.9,
                              detector=DetectorNoise(1e4, 1e-3, 10)).sample(3, generator=torch.Generator().manual_seed(0))
    save_realization(tmp_path / "e.h5", e)
    back = load_realization(tmp_path / "e.h5")
    for n in type(e)._TENSORS:
        a, b = getattr(e, n), getattr(back, n)
        assert a.dtype == b.dtype and torch.equal(a, b)
    assert (back.phase_bits, back.crosstalk_px, back.fill_factor, back.detector) == (5, 0.4, 0.9, e.detector)
    with h5py.File(tmp_path / "e.h5") as f:
        assert f["errors/layer_shift"].attrs["units"] == "m"
    # the axial move of the first layer; files written before it existed read as 0
    moved = displacement_errors(torch.zeros(2, 2), torch.tensor([3e-4, -1e-4], dtype=torch.float64))
    save_realization(tmp_path / "m.h5", moved)
    assert load_realization(tmp_path / "m.h5").input_gap == 3e-4
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        del f["errors"].attrs["input_gap"]
    assert load_realization(tmp_path / "m.h5").input_gap == 0.0


def test_mesh_realization_round_trip_and_device_equivalence(tmp_path):
    mesh = ClementsMesh(8)
    e = MeshErrorModel(0.05, 0.05, 0.1, 0.01).sample([mesh, mesh], generator=torch.Generator().manual_seed(1))
    save_realization(tmp_path / "m.h5", e, name="device")
    back = load_realization(tmp_path / "m.h5", name="device")
    for m0, m1 in zip(e.meshes, back.meshes):
        for n in ("bs_in", "bs_out", "theta_offset", "phi_offset", "loss_db"):
            assert torch.equal(getattr(m0, n), getattr(m1, n))
        assert m0.crosstalk == m1.crosstalk


def test_physical_system_saves_its_errors_for_the_record(tmp_path):
    model = diffractive_model()
    device = PhysicalSystem(model, preset="high", seed=3, noise_seed=1)
    device.save_errors(tmp_path / "rec.h5")
    twin = PhysicalSystem(model, load_realization(tmp_path / "rec.h5"), noise_seed=1)
    field = input_field(model[0].grid)
    assert torch.equal(device.measure(field), twin.measure(field))


def test_specs_round_trip(tmp_path):
    for i, spec in enumerate((SLMSpec(pitch_um=8.0, bit_depth=10), PrintedLayerSpec(), MZISpec(), DetectorSpec())):
        save_spec(tmp_path / "s.h5", spec, name=f"s{i}")
        assert load_spec(tmp_path / "s.h5", name=f"s{i}") == spec
    assert SLMSpec().pitch == pytest.approx(12.5e-6)
    assert PrintedLayerSpec().height_per_2pi == pytest.approx(0.75e-3 / 0.72)


def test_wrong_schema_and_corrupted_files(tmp_path):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("errors")
        g.attrs["schema"] = "onnsim.diffractive_errors/99"
    with pytest.raises(ValueError, match="schema 'onnsim.diffractive_errors/99'"):
        load_realization(path)
    e = DiffractiveErrorModel().sample(2, generator=torch.Generator().manual_seed(0))
    save_realization(tmp_path / "y.h5", e)
    with h5py.File(tmp_path / "y.h5", "a") as f:
        del f["errors/gap_error"]
    with pytest.raises(ValueError, match="missing dataset 'gap_error'"):
        load_realization(tmp_path / "y.h5")
    (tmp_path / "z.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        load_realization(tmp_path / "z.h5")
    with pytest.raises(ValueError, match="no realization 'nope'"):
        load_realization(tmp_path / "y.h5", name="nope")
    with pytest.raises(ValueError, match="already exists"):
        save_realization(tmp_path / "y.h5", e, name="errors")


@pytest.mark.parametrize("cls,kw,match", [
    (SLMSpec, dict(pitch_um=0), "pitch_um"),
    (SLMSpec, dict(bit_depth=0), "bit_depth"),
    (PrintedLayerSpec, dict(refractive_index=0.9), "refractive_index"),
    (MZISpec, dict(insertion_loss_db=-1), "insertion_loss_db"),
    (DetectorSpec, dict(full_well_electrons=-5), "full_well_electrons"),
])
def test_bad_specs(cls, kw, match):
    with pytest.raises(ValueError, match=match):
        cls(**kw)
