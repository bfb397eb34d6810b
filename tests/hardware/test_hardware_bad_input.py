"""Bad input to the hardware API gets a clear error naming the argument (and the path)."""

import pytest
import torch

from hardware import PhysicalSystem
from hardware.export import export_heights
from hardware.writers import read_hdf5, read_png16, write_gds, write_hdf5
from optics import Field, Grid
from photonics import MeshNetwork

from _models import LAM, PITCH, diffractive_model, input_field


@pytest.fixture(scope="module")
def device():
    model = diffractive_model(n=16)
    return model, PhysicalSystem(model)


def test_measure_refuses_a_field_on_another_grid_naming_both(device):
    model, dev = device
    other = Field(torch.ones(12, 12, dtype=torch.complex64), Grid(12, PITCH), LAM)
    with pytest.raises(ValueError, match=r"built for Grid\(shape=\(16, 16\).*received a field on Grid\(shape=\(12, 12\)"):
        dev.measure(other)
    finer = Field(torch.ones(16, 16, dtype=torch.complex64), Grid(16, PITCH / 2), LAM)
    with pytest.raises(ValueError, match="received a field on"):
        dev.measure(finer)
    with pytest.raises(ValueError, match="wavelength"):
        dev.measure(input_field(model[0].grid).replace(wavelength=2 * LAM))
    assert dev.queries == 0  # refused queries are not counted


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_measure_refuses_non_finite_fields(device, bad):
    model, dev = device
    field = input_field(model[0].grid)
    data = field.data.clone()
    data[3, 3] = bad
    with pytest.raises(ValueError, match="measure input field data contains 1 NaN or infinite"):
        dev.measure(field.replace(data=data))


def test_mesh_measure_bad_inputs():
    dev = PhysicalSystem(MeshNetwork(8, 1, n_classes=4, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match=r"\(\.\.\., n\) with n = 8 modes, got shape \(3, 7\)"):
        dev.measure(torch.ones(3, 7, dtype=torch.complex64))
    with pytest.raises(TypeError, match="measure input must be complex"):
        dev.measure(torch.ones(3, 8))
    x = torch.ones(3, 8, dtype=torch.complex64)
    x[2, 5] = float("nan")
    with pytest.raises(ValueError, match="measure input contains 1 NaN"):
        dev.measure(x)


def test_load_parameters_refuses_nan_and_non_tensors(device):
    model, dev = device
    state = {k: v.clone() for k, v in model.state_dict().items()}
    key = next(iter(state))
    state[key][0, 0] = float("nan")
    with pytest.raises(ValueError, match=rf"parameter '{key}' contains 1 NaN or infinite"):
        dev.load_parameters(state)
    state[key] = state[key].tolist()
    with pytest.raises(TypeError, match=rf"parameter '{key}' must be a torch.Tensor"):
        dev.load_parameters(state)


@pytest.mark.parametrize("shape", [(0, 0), (0, 4, 4), (1, 0, 3)])
def test_export_heights_refuses_empty_phases(shape):
    with pytest.raises(ValueError, match="at least one layer of at least 1×1 pixels"):
        export_heights(torch.zeros(shape), wavelength=1e-6, pitch=1e-6, n=1.5)


def test_file_errors_name_the_path(tmp_path):
    hmap = export_heights(torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(0)) * 6,
                          wavelength=1e-6, pitch=1e-6, n=1.5, levels=4)
    missing = tmp_path / "no-such-dir" / "design"
    with pytest.raises(OSError, match="no-such-dir"):
        write_hdf5(hmap, missing.with_suffix(".h5"))
    pytest.importorskip("gdstk")
    with pytest.raises(OSError, match=r"cannot write GDSII file .*no-such-dir"):
        write_gds(hmap, missing.with_suffix(".gds"))
    junk = tmp_path / "junk.h5"
    junk.write_text("not HDF5")
    with pytest.raises(OSError, match=r"cannot read HDF5 file .*junk\.h5"):
        read_hdf5(junk)
    with pytest.raises(OSError, match=r"missing\.png"):
        read_png16(tmp_path / "missing.png")
