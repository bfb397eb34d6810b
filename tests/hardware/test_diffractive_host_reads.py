"""The diffractive error model reads its realization once, at construction: its forward and
backward passes read no tensor values back to the host (``.item()``, ``bool``, ``float``,
``.tolist()`` — on a GPU each is a synchronisation, under ``torch.compile`` a graph break),
and give the same result as reading the realization live (:func:`applied_phase` without
cached constants). In-place edits of the frozen realization are refused. The GPU variant
(CUDA sync debug mode) is marked ``gpu``."""

from __future__ import annotations

import contextlib

import pytest
import torch

from _models import LAM, PITCH, diffractive_model, input_field
from hardware.diffractive import DiffractivePhysics, error_constants, physical_transmittance
from hardware.errors import DiffractiveErrorModel
from optics import FreeSpace, PhaseMask

ALL_ERRORS = DiffractiveErrorModel(shift_std=0.3 * PITCH, rotation_std=0.02, gap_std=1e-3, phase_gain_std=0.05,
                                   phase_offset_std=0.1, lut_nonlinearity=0.1, phase_bits=4, crosstalk_px=0.7,
                                   fill_factor=0.9, input_shift_std=0.2 * PITCH)


@contextlib.contextmanager
def _no_host_reads(monkeypatch):
    def refuse(name):
        def f(self, *a, **k):
            raise AssertionError(f"Tensor.{name} called: a host read in the forward/backward path")
        return f

    with monkeypatch.context() as m:
        for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
            m.setattr(torch.Tensor, name, refuse(name))
        yield


def _model(dtype=torch.complex64):
    model = diffractive_model(n=24, layers=3, dtype=dtype)
    for layer in model.layers:
        if isinstance(layer, FreeSpace):
            layer.validate = False  # its own per-call input checks are the FreeSpace's business
    return model


def test_forward_and_backward_read_nothing_back(monkeypatch):
    model = _model()
    physics = DiffractivePhysics(model, ALL_ERRORS.sample(3, generator=torch.Generator().manual_seed(3)))
    field = input_field(model[0].grid, batch=(2,))
    with _no_host_reads(monkeypatch):
        out, states = physics.forward(field)
        loss = out.intensity().sum() + model(field).intensity().sum()  # and the ideal PhaseMask.forward
        loss.backward()
    assert len(states) == len(model.layers)
    assert all(m.phase.grad is not None for m in model.layers if isinstance(m, PhaseMask))


def test_cached_constants_give_the_live_realization_result(generator):
    """Per layer: the transmittance from the constants read at construction equals the one
    computed reading the realization's tensors directly (the pre-cache path)."""
    model = _model(torch.complex128)
    errors = ALL_ERRORS.sample(3, generator=generator)
    physics = DiffractivePhysics(model, errors)
    masks = [m for m in model.layers if isinstance(m, PhaseMask)]
    for i, mask in enumerate(masks):
        cached = physical_transmittance(mask, errors, i, torch.complex128, constants=physics.constants,
                                        lut=physics._lut(mask.phase.device, torch.float64)[i])
        torch.testing.assert_close(cached, physical_transmittance(mask, errors, i, torch.complex128),
                                   atol=0, rtol=0)
    c = error_constants(errors)
    assert c.gain == tuple(float(v) for v in errors.phase_gain) and c.shift[1] == tuple(
        float(v) for v in errors.layer_shift[1])


def test_in_place_edit_of_the_realization_is_refused(generator):
    model = _model()
    errors = ALL_ERRORS.sample(3, generator=generator)
    physics = DiffractivePhysics(model, errors)
    field = input_field(model[0].grid)
    physics.forward(field)
    errors.phase_gain[0] = 2.0
    with pytest.raises(RuntimeError, match="modified in place"):
        physics.forward(field)


@pytest.mark.gpu
def test_no_synchronisation_on_cuda():
    """CUDA sync debug mode raises on any synchronising call in forward + backward (after a
    first call, which may copy the LUTs to the device)."""
    model = _model().to("cuda")
    physics = DiffractivePhysics(model, ALL_ERRORS.sample(3, generator=torch.Generator().manual_seed(3)))
    field = input_field(model[0].grid, batch=(2,)).to("cuda")
    physics.forward(field)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out, _ = physics.forward(field)
        out.intensity().sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode(0)
