"""All-optical imaging through random diffusers as a training task (Luo et al., eLight 2, 4
(2022)): the network, its loss, and the task that :class:`training.Trainer` trains.

Geometry: an amplitude object -> ``z_object`` -> a thin random phase diffuser -> ``d_0`` ->
phase-only layer 1 -> ``d_1`` -> ... -> layer L -> ``d_L`` -> output intensity ``o``; the
band-limited angular spectrum with zero padding between all planes
(:func:`optics.functional.asm_transfer_function`).

Loss per object–diffuser pair (Luo et al. 2022, Methods), mean over pairs:
``−PCC(o_R, h_R) + E(o, h)`` with ``E = Σ[α(1−m)·o − β·m·o] / Σm``, ``m = [h > 0]``, the PCC
taken over a region ``R`` of the output and ``h`` the object's grey value (amplitude).

Per-layer misalignment (lateral shifts and axial displacements, "vaccination", Mengu et al.,
Nanophotonics 9, 4207 (2020)) comes from :class:`hardware.LayerDisplacements` through the
``noise`` training method: :meth:`ImagingTask.sample_errors` draws a
:class:`hardware.DiffractiveErrors` realization that :class:`hardware.diffractive.DiffractivePhysics`
applies to the network, as for any other diffractive :class:`optics.OpticalSystem`.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from hardware.diffractive import DiffractivePhysics
from optics import DiffuserSet, Field, FreeSpace, Grid, OpticalSystem, PhaseMask

from .losses import pcc

__all__ = ["DiffuserImager", "imaging_objective", "region_pcc", "masked_pcc", "region_pccs", "PCC_REGIONS",
           "ImagingTask"]

#: Where the PCC of an output image is taken (Luo et al. 2022 do not state it, so all are
#: reported): ``support`` — the pixels where the object is > 0 (as independent reproductions
#: do); ``square`` — the central object square (the training loss's region); ``canvas`` — the
#: whole output window.
PCC_REGIONS = ("support", "square", "canvas")


class DiffuserImager(OpticalSystem):
    """Object -> diffuser -> L phase layers -> output: an :class:`optics.OpticalSystem` of

    ``FreeSpace(object_to_diffuser)``, ``DiffuserSet``, then ``FreeSpace(d_l)``, ``PhaseMask``
    for each layer l, and ``FreeSpace(d_L)`` to the output plane; band-limited angular
    spectrum with ``pad_factor`` zero padding in every gap. Misalignment is a
    :class:`hardware.DiffractiveErrors` realization applied by :class:`hardware.diffractive.DiffractivePhysics`
    (e.g. :class:`hardware.LayerDisplacements`: the diffuser and output planes stay put).

    Args:
        grid: sampling of every plane (``(ny, nx)``, pitch in m).
        wavelength: λ in metres.
        layers: number L of phase-only layers (phases start at 0: free space).
        object_to_diffuser: distance object -> diffuser (m).
        distances: L + 1 distances (m): diffuser -> layer 1, layer l -> l + 1, layer L -> output.
        pad_factor: zero padding of the angular-spectrum propagation.

    The gaps skip the per-call finite-value and band-loss checks of :class:`optics.FreeSpace`
    (its inputs are encoded objects; the checks cost ≈5 % of a training step).

    :meth:`image` ``(objects, diffusers=None, *, errors=None)``: ``objects`` real amplitudes
    ``(B, ny, nx)`` (or complex fields) in the object plane; ``diffusers`` complex
    transmittances ``(n, ny, nx)`` or ``(ny, nx)``, None = no diffuser; returns the output
    intensity ``(B, n, ny, nx)`` (``n = 1`` without a diffuser) in units of the input
    intensity. :attr:`phase` is the ``(L, ny, nx)`` stack of the layers' phases (rad).
    """

    def __init__(self, grid: Grid, wavelength: float, layers: int, *, object_to_diffuser: float, distances,
                 pad_factor: float = 2.0):
        distances = tuple(float(d) for d in distances)
        if layers < 1 or len(distances) != layers + 1:
            raise ValueError(f"{layers} layers need {layers + 1} distances, got {len(distances)}")
        if not all(math.isfinite(z) and z >= 0 for z in (float(object_to_diffuser), *distances)):
            raise ValueError(f"every distance must be finite and ≥ 0 m (light goes forward), got object to diffuser "
                             f"{object_to_diffuser!r}, then {list(distances)}")

        def gap(z):
            return FreeSpace(grid, wavelength, z, pad_factor=pad_factor, check_sampling=False, validate=False)

        parts = [gap(object_to_diffuser), DiffuserSet(grid)]
        for d in distances[:-1]:
            parts += [gap(d), PhaseMask(grid)]
        super().__init__(*parts, gap(distances[-1]))
        self.grid, self.wavelength, self.pad_factor, self.distances = grid, float(wavelength), pad_factor, distances
        self.n_masks = int(layers)

    @property
    def masks(self) -> list:
        return [layer for layer in self.layers if isinstance(layer, PhaseMask)]

    @property
    def diffuser(self) -> DiffuserSet:
        return self.layers[1]

    @property
    def device(self) -> torch.device:
        """Where the network's parameters are."""
        return self.masks[0].phase.device

    @property
    def phase(self) -> torch.Tensor:
        """The layers' phases stacked, ``(L, ny, nx)`` rad (differentiable; a new tensor)."""
        return torch.stack([m.phase for m in self.masks])

    @torch.no_grad()
    def load_phases(self, phase: torch.Tensor) -> "DiffuserImager":
        """Set the layers' phases from an ``(L, ny, nx)`` stack; returns self."""
        if tuple(phase.shape) != (self.n_masks, *self.grid.shape):
            raise ValueError(f"expected phases of shape {(self.n_masks, *self.grid.shape)}, got {tuple(phase.shape)}")
        for m, p in zip(self.masks, phase):
            m.phase.copy_(p)
        return self

    def to_diffuser(self, objects: torch.Tensor) -> torch.Tensor:
        """Field arriving at the diffuser plane ``(B, ny, nx)`` (no parameters involved)."""
        u = objects if objects.is_complex() else objects.to(torch.complex64)
        return self.layers[0](Field(u.to(self.device), self.grid, self.wavelength)).data

    def from_diffuser(self, u: torch.Tensor, diffusers=None, *, errors=None) -> torch.Tensor:
        """Output intensity ``(B, n, ny, nx)`` from the field ``u`` at the diffuser plane,
        under the misalignment ``errors`` (a :class:`hardware.DiffractiveErrors`) if given."""
        rest = OpticalSystem(*list(self.layers)[1:])
        field = Field(u, self.grid, self.wavelength)
        with self.diffuser.holding(diffusers):
            out = rest(field) if errors is None else DiffractivePhysics(rest, errors).forward(field)[0]
        return out.data.real.square() + out.data.imag.square()

    def image(self, objects, diffusers=None, *, errors=None) -> torch.Tensor:
        return self.from_diffuser(self.to_diffuser(objects), diffusers, errors=errors)


def region_pcc(out: torch.Tensor, objects: torch.Tensor, region: tuple[slice, slice]) -> torch.Tensor:
    """PCC over ``region`` of every object–diffuser pair: ``(B, n, ny, nx), (B, ny, nx) -> (B, n)``."""
    ry, rx = region
    return pcc(out[..., ry, rx], objects[:, None, ry, rx].to(out.dtype))


def masked_pcc(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, *, eps: float = 1e-12) -> torch.Tensor:
    """Pearson correlation over the pixels where ``mask`` is true, per image.

    Shape:
        ``(*batch, H, W)`` each (broadcasting) ``-> (*batch,)``; an empty or constant region
        gives 0.
    """
    a, b, mask = torch.broadcast_tensors(a, b, mask)
    w = mask.to(a.dtype)
    n = w.sum((-2, -1), keepdim=True).clamp_min(1.0)
    da = (a - (a * w).sum((-2, -1), keepdim=True) / n) * w
    db = (b - (b * w).sum((-2, -1), keepdim=True) / n) * w
    num = (da * db).sum((-2, -1))
    den = (da.square().sum((-2, -1)) * db.square().sum((-2, -1))).sqrt()
    return num / den.clamp_min(eps)


def region_pccs(out: torch.Tensor, objects: torch.Tensor, square: tuple[slice, slice]) -> dict:
    """PCC of every object–diffuser pair in each of :data:`PCC_REGIONS`:
    ``(B, n, ny, nx), (B, ny, nx) -> {region: (B, n)}``."""
    h = objects[:, None].to(out.dtype)
    return {"support": masked_pcc(out, h, h > 0), "square": region_pcc(out, objects, square),
            "canvas": pcc(out, h)}


def imaging_objective(out: torch.Tensor, objects: torch.Tensor, region: tuple[slice, slice], *,
                      alpha: float = 1.0, beta: float = 0.5) -> torch.Tensor:
    """Mean over pairs of ``−PCC(o_R, h_R) + E(o, h)`` (module docstring)."""
    h = objects[:, None].to(out.dtype)
    m = (h > 0).to(out.dtype)
    energy = (alpha * (1 - m) * out - beta * m * out).sum((-2, -1)) / m.sum((-2, -1)).clamp_min(1.0)
    return (-region_pcc(out, objects, region) + energy).mean()


class ImagingTask(nn.Module):
    """The imaging network as a :class:`training.Trainer` task.

    Args:
        model: a :class:`DiffuserImager`.
        encode: ``images (B, 28, 28) -> objects (B, ny, nx)`` amplitudes on the grid.
        epoch_diffusers: ``epoch -> (n, ny, nx)`` complex diffusers of that training epoch (a
            function of the epoch alone, so a resumed run draws the same ones).
        val_diffusers: fixed "new" diffusers ``(n', ny, nx)`` for the validation curve.
        region: rows and columns of the PCC region.
        alpha: weight of the energy term's light outside the object support.
        beta: weight of its light inside the support (a reward).

    Validation metrics: ``pcc_known`` (through the current epoch's diffusers) and ``pcc_new``
    (through ``val_diffusers``) over the loss's region (the central square), and ``pcc_new_support``
    and ``pcc_new_canvas`` over the other two regions (:data:`PCC_REGIONS`); means over
    object–diffuser pairs.
    """

    family = "imaging"
    selection_metric = "pcc_new"

    def __init__(self, model: DiffuserImager, *, encode: Callable, epoch_diffusers: Callable,
                 val_diffusers: torch.Tensor, region: tuple[slice, slice], alpha: float = 1.0, beta: float = 0.5):
        super().__init__()
        self.model, self._encode, self._epoch_diffusers = model, encode, epoch_diffusers
        self.register_buffer("val_diffusers", val_diffusers, persistent=False)
        self.register_buffer("diffusers", torch.zeros(0, dtype=torch.complex64), persistent=False)
        self.region, self.alpha, self.beta = region, alpha, beta

    n_layers = property(lambda self: self.model.n_masks)
    device_model = property(lambda self: self.model)

    def pnn_parameters(self):
        return list(self.model.parameters())

    def start_epoch(self, epoch: int) -> None:
        self.diffusers = self._epoch_diffusers(epoch).to(self.model.device)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self._encode(images).to(self.model.device)

    def sample_errors(self, error_model, generator):
        """A :class:`hardware.DiffractiveErrors` of the L layers, e.g. from a
        :class:`hardware.LayerDisplacements` (metres)."""
        return error_model.sample(self.model.n_masks, generator=generator)

    def numeric(self, x, *, hook=None, errors=None):
        if hook is not None:
            raise ValueError("the imaging task has no hooks (methods ideal and noise only)")
        with torch.no_grad():  # object -> diffuser holds no parameters
            u = self.model.to_diffuser(x)
        return self.model.from_diffuser(u, self.diffusers, errors=errors), []

    def objective(self, out, x, y):
        return imaging_objective(out, x, self.region, alpha=self.alpha, beta=self.beta)

    def validate(self, images, labels, *, ctx, batch_size: int) -> dict:
        sums = [0.0] * 4  # known (square), new (square), new (support), new (canvas)
        for i in range(0, len(images), batch_size):
            idx = ctx.shard(torch.arange(i, min(i + batch_size, len(images))))
            if len(idx) == 0:
                continue
            x = self.encode(images[idx])
            u = self.model.to_diffuser(x)
            sums[0] += float(region_pcc(self.model.from_diffuser(u, self.diffusers), x, self.region).double().sum())
            r = region_pccs(self.model.from_diffuser(u, self.val_diffusers), x, self.region)
            for k, name in enumerate(("square", "support", "canvas")):
                sums[k + 1] += float(r[name].double().sum())
        known, new, support, canvas = ctx.sum(sums)
        n_known, n_new = len(images) * len(self.diffusers), len(images) * len(self.val_diffusers)
        return {"pcc_known": known / n_known, "pcc_new": new / n_new, "pcc_new_support": support / n_new,
                "pcc_new_canvas": canvas / n_new}
