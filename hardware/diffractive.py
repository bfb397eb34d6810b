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
The input field is shifted by ``input_shift`` first, and the last free space in front of the
first phase layer propagates over its distance + ``input_gap`` (a model without free space in
front of its first layer has its input plane on that layer, which moves with it: no change).

Host synchronisation: a realization is frozen, so :class:`DiffractivePhysics` reads every
scalar it needs (gains, offsets, shifts, rotations, whether the response is ideal, whether
a LUT is nonzero) once, at construction (:func:`error_constants`: one host read per error
tensor), and keeps the LUTs on the device of the field after the first call. Its forward
pass reads nothing back from tensors, so it neither waits for a GPU nor breaks a
``torch.compile`` graph. Editing the realization's tensors in place after construction is
detected (by their version counters, which costs no synchronisation) and raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from optics import Field, FreeSpace, OpticalSystem, PhaseMask
from optics.functional import rotate, shift

from .errors import DiffractiveErrors

__all__ = ["applied_phase", "physical_transmittance", "DiffractivePhysics", "phase_layers", "error_constants",
           "ErrorConstants"]


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


@dataclass(frozen=True)
class ErrorConstants:
    """The scalars of a :class:`DiffractiveErrors` realization as Python numbers (read once).

    ``gain``, ``offset``, ``rotation`` (rad), ``shift`` ((dy, dx) m), ``gap`` (m) and
    ``has_lut`` (any nonzero LUT sample) per layer; ``input_shift`` (dy, dx) m;
    ``response_ideal``: :attr:`DiffractiveErrors.response_ideal`.
    """

    gain: tuple
    offset: tuple
    has_lut: tuple
    rotation: tuple
    shift: tuple
    gap: tuple
    input_shift: tuple
    response_ideal: bool


def error_constants(errors: DiffractiveErrors) -> ErrorConstants:
    """Read the scalars the forward model needs from ``errors`` (host reads: call once)."""
    return ErrorConstants(
        gain=tuple(errors.phase_gain.tolist()), offset=tuple(errors.phase_offset.tolist()),
        has_lut=tuple(bool(v) for v in errors.phase_lut.ne(0).any(dim=1).tolist()),
        rotation=tuple(errors.layer_rotation.tolist()), shift=tuple(tuple(v) for v in errors.layer_shift.tolist()),
        gap=tuple(errors.gap_error.tolist()), input_shift=tuple(errors.input_shift.tolist()),
        response_ideal=bool(errors.response_ideal))


def applied_phase(phase: torch.Tensor, errors: DiffractiveErrors, layer: int, *,
                  constants: ErrorConstants | None = None, lut: torch.Tensor | None = None) -> torch.Tensor:
    """The phase (rad) a modulator actually applies for programmed ``phase`` ``(ny, nx)``.

    ``constants``: :func:`error_constants` of ``errors`` (read here when not given: host
    reads); ``lut``: this layer's LUT already on ``phase``'s device and dtype (else copied).
    """
    c = error_constants(errors) if constants is None else constants
    if c.response_ideal:
        return phase
    two_pi = 2 * math.pi
    phi = torch.remainder(phase, two_pi)
    if errors.phase_bits:
        levels = 2**errors.phase_bits
        quantized = torch.remainder(torch.round(phi / two_pi * levels), levels) * (two_pi / levels)
        phi = phi + (quantized - phi).detach()  # straight-through gradient for noise-aware training
    out = c.gain[layer] * phi + c.offset[layer]
    if c.has_lut[layer]:
        lut = (errors.phase_lut[layer] if lut is None else lut).to(phi.device, phi.dtype)  # no-op when given
        k = lut.shape[0]
        u = phi / two_pi * k
        i0 = torch.floor(u).long() % k
        w = u - torch.floor(u)
        out = out + lut[i0] * (1 - w) + lut[(i0 + 1) % k] * w
    if errors.crosstalk_px:
        out = _gaussian_blur(out, errors.crosstalk_px)
    return out


def physical_transmittance(mask: PhaseMask, errors: DiffractiveErrors, layer: int, dtype, *,
                           constants: ErrorConstants | None = None, lut: torch.Tensor | None = None) -> torch.Tensor:
    """Complex transmittance ``(ny, nx)`` of phase layer ``layer`` as built (``constants``,
    ``lut``: see :func:`applied_phase`)."""
    c = error_constants(errors) if constants is None else constants
    ideal = mask.transmittance(dtype)
    if c.response_ideal and errors.fill_factor == 1:
        t = ideal
    else:
        amp = ideal.abs()
        phi = applied_phase(mask.full_phase().to(amp.dtype), errors, layer, constants=c, lut=lut)
        t = torch.polar(amp, phi).to(dtype)
        if errors.fill_factor < 1:
            t = errors.fill_factor * t + (1 - errors.fill_factor) * amp.to(dtype)
    angle = c.rotation[layer]
    if angle:
        t = rotate(t, angle, grid=mask.grid, mode="bilinear")
    dy, dx = c.shift[layer]
    if dy or dx:
        t = shift(t, dy, dx, grid=mask.grid)
    return t


class DiffractivePhysics:
    """Evaluates an :class:`OpticalSystem` of PhaseMask/FreeSpace layers under fixed errors.

    Free-space layers with a gap error are rebuilt once (their transfer functions cached).
    The realization's scalars are read at construction (see the module docstring); the
    forward pass makes no host reads.
    """

    _ERROR_TENSORS = DiffractiveErrors._TENSORS

    def __init__(self, model: OpticalSystem, errors: DiffractiveErrors):
        if not isinstance(model, OpticalSystem):
            raise TypeError(f"a diffractive physical system needs an optics.OpticalSystem, got {type(model).__name__}")
        n_masks = len(phase_layers(model))
        if n_masks != errors.n_layers:
            raise ValueError(f"error realization has {errors.n_layers} layers but the model has {n_masks} PhaseMask layers")
        self.model = model
        self.errors = errors
        self.constants = error_constants(errors)
        self._versions = self._tensor_versions()
        self._luts: dict = {}  # (device, dtype) -> (L, K) LUTs there: one copy, not one per call
        self._free = {}
        first_mask = next((i for i, layer in enumerate(model.layers) if isinstance(layer, PhaseMask)), len(model))
        before = [i for i in range(first_mask) if isinstance(model.layers[i], FreeSpace)]
        if errors.input_gap and before:  # the gap in front of the first layer (none: the input sits on it)
            front = model.layers[before[-1]]
            self._free[before[-1]] = front.replace(distance=front.distance + errors.input_gap)
        mask_seen, used = -1, set()
        for i, layer in enumerate(model.layers):
            if isinstance(layer, PhaseMask):
                mask_seen += 1
            elif isinstance(layer, FreeSpace) and mask_seen >= 0 and mask_seen not in used:
                used.add(mask_seen)  # gap_error[l]: the first free space after mask l
                gap = self.constants.gap[mask_seen]
                if gap:
                    self._free[i] = layer.replace(distance=layer.distance + gap)

    def _tensor_versions(self) -> tuple:
        return tuple(getattr(self.errors, name)._version for name in self._ERROR_TENSORS)

    def _check_unchanged(self) -> None:
        """Raise when the realization's tensors were edited in place after construction
        (version counters: host-side integers, no synchronisation)."""
        if self._tensor_versions() != self._versions:
            raise RuntimeError("the DiffractiveErrors realization was modified in place after DiffractivePhysics "
                               "read it; realizations are frozen: build a new DiffractiveErrors and DiffractivePhysics")

    def _lut(self, device, dtype) -> torch.Tensor | None:
        if not any(self.constants.has_lut):
            return None
        key = (device, dtype)
        lut = self._luts.get(key)
        if lut is None:
            # once per device and dtype; non_blocking: a blocking copy from pageable host memory
            # would wait for the stream (the source is staged at once, so this is safe)
            lut = self._luts[key] = self.errors.phase_lut.to(dtype).to(device, non_blocking=True)
        return lut

    def forward(self, field: Field):
        """Returns ``(output, states)`` with the output of every element."""
        if not torch.compiler.is_compiling():  # a compiled graph holds the constants it was traced with
            self._check_unchanged()
        e, c = self.errors, self.constants
        dy, dx = c.input_shift
        if dy or dx:
            field = shift(field, dy, dx)
        states = []
        mask_index = 0
        for i, layer in enumerate(self.model.layers):
            if isinstance(layer, PhaseMask):
                luts = self._lut(layer.phase.device, field.data.real.dtype)
                t = physical_transmittance(layer, e, mask_index, field.dtype, constants=c,
                                           lut=None if luts is None else luts[mask_index])
                field = field.replace(data=field.data * t.to(field.device))
                mask_index += 1
            elif i in self._free:
                field = self._free[i](field)
            else:
                field = layer(field)
            states.append(field)
        return field, states
