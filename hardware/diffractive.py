"""The physics of an imperfect diffractive network: how a :class:`DiffractiveErrors`
realization changes each element of an :class:`optics.OpticalSystem`.

Per phase layer l (in this order; each step is skipped when its error is zero, so the
error-free realization reproduces the ideal model bit for bit):

1. programmed phase φ = mask.full_phase() → wrapped to [0, 2π) and quantized to
   2^bits drive levels (``phase_bits`` > 0);
2. modulator response: gain·φ + offset + lut(φ) (periodic linear interpolation of the LUT);
3. pixel crosstalk: Gaussian smoothing of the applied phase (std ``crosstalk_px``);
4. transmittance t = a·exp(iφ') with a the mask's own amplitude (1, or 0 outside a
   blocking aperture), then fill factor: ff·t + (1 − ff)·a;
5. in-plane rotation (bilinear resampling of t) and lateral shift (Fourier shift of t,
   periodic: an integer-pixel shift is ``torch.roll``);
6. the free space after layer l propagates over its distance + ``gap_error[l]``.
The input field is shifted by ``input_shift`` first.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from optics import Field, FreeSpace, OpticalSystem, PhaseMask
from optics.functional import rotate, shift

from .errors import DiffractiveErrors

__all__ = ["applied_phase", "physical_transmittance", "DiffractivePhysics", "phase_layers"]


def phase_layers(model: OpticalSystem) -> list[PhaseMask]:
    return [layer for layer in model.layers if isinstance(layer, PhaseMask)]


def _gaussian_blur(x: torch.Tensor, sigma_px: float) -> torch.Tensor:
    radius = max(1, int(math.ceil(3 * sigma_px)))
    k = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (k / sigma_px) ** 2)
    k = k / k.sum()
    y = x[None, None]
    y = nn.functional.pad(y, (radius, radius, radius, radius), mode="replicate")
    y = nn.functional.conv2d(y, k.view(1, 1, 1, -1))
    y = nn.functional.conv2d(y, k.view(1, 1, -1, 1))
    return y[0, 0]


def applied_phase(phase: torch.Tensor, errors: DiffractiveErrors, layer: int) -> torch.Tensor:
    """The phase (rad) a modulator actually applies for programmed ``phase`` ``(ny, nx)``."""
    if errors.response_ideal:
        return phase
    two_pi = 2 * math.pi
    phi = torch.remainder(phase, two_pi)
    if errors.phase_bits:
        levels = 2**errors.phase_bits
        quantized = torch.remainder(torch.round(phi / two_pi * levels), levels) * (two_pi / levels)
        phi = phi + (quantized - phi).detach()  # straight-through gradient for noise-aware training
    lut = errors.phase_lut[layer].to(phi.device, phi.dtype)
    out = errors.phase_gain[layer].item() * phi + errors.phase_offset[layer].item()
    if bool(lut.any()):
        k = lut.shape[0]
        u = phi / two_pi * k
        i0 = torch.floor(u).long() % k
        w = u - torch.floor(u)
        out = out + lut[i0] * (1 - w) + lut[(i0 + 1) % k] * w
    if errors.crosstalk_px:
        out = _gaussian_blur(out, errors.crosstalk_px)
    return out


def physical_transmittance(mask: PhaseMask, errors: DiffractiveErrors, layer: int, dtype) -> torch.Tensor:
    """Complex transmittance ``(ny, nx)`` of phase layer ``layer`` as built."""
    ideal = mask.transmittance(dtype)
    if errors.response_ideal and errors.fill_factor == 1:
        t = ideal
    else:
        amp = ideal.abs()
        phi = applied_phase(mask.full_phase().to(amp.dtype), errors, layer)
        t = torch.polar(amp, phi).to(dtype)
        if errors.fill_factor < 1:
            t = errors.fill_factor * t + (1 - errors.fill_factor) * amp.to(dtype)
    angle = float(errors.layer_rotation[layer])
    if angle:
        t = rotate(t, angle, grid=mask.grid, mode="bilinear")
    dy, dx = (float(v) for v in errors.layer_shift[layer])
    if dy or dx:
        t = shift(t, dy, dx, grid=mask.grid)
    return t


class DiffractivePhysics:
    """Evaluates an :class:`OpticalSystem` of PhaseMask/FreeSpace layers under fixed errors.

    Free-space layers with a gap error are rebuilt once (their transfer functions cached).
    """

    def __init__(self, model: OpticalSystem, errors: DiffractiveErrors):
        if not isinstance(model, OpticalSystem):
            raise TypeError(f"a diffractive physical system needs an optics.OpticalSystem, got {type(model).__name__}")
        n_masks = len(phase_layers(model))
        if n_masks != errors.n_layers:
            raise ValueError(f"error realization has {errors.n_layers} layers but the model has {n_masks} PhaseMask layers")
        self.model = model
        self.errors = errors
        self._free = {}
        mask_seen, used = -1, set()
        for i, layer in enumerate(model.layers):
            if isinstance(layer, PhaseMask):
                mask_seen += 1
            elif isinstance(layer, FreeSpace) and mask_seen >= 0 and mask_seen not in used:
                used.add(mask_seen)  # gap_error[l]: the first free space after mask l
                gap = float(errors.gap_error[mask_seen])
                if gap:
                    self._free[i] = FreeSpace(layer.grid, layer.wavelength, layer.distance + gap,
                                              method=layer.method, pad_factor=layer.pad_factor,
                                              band_limit=layer.band_limit, taper=layer.taper,
                                              check_sampling=layer.check_sampling,
                                              sampling_tol=layer.sampling_tol, dtype=layer.transfer.dtype)

    def forward(self, field: Field):
        """Returns ``(output, states)`` with the output of every element."""
        e = self.errors
        dy, dx = (float(v) for v in e.input_shift)
        if dy or dx:
            field = shift(field, dy, dx)
        states = []
        mask_index = 0
        for i, layer in enumerate(self.model.layers):
            if isinstance(layer, PhaseMask):
                t = physical_transmittance(layer, e, mask_index, field.dtype)
                field = field.replace(data=field.data * t.to(field.device))
                mask_index += 1
            elif i in self._free:
                field = self._free[i](field)
            else:
                field = layer(field)
            states.append(field)
        return field, states
