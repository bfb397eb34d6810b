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
``noise`` training method: :meth:`ImagingTask.sample_errors` draws ``(shifts, δ)``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from optics import Grid
from optics.functional import apply_transfer_function, asm_transfer_function, shift

from .losses import pcc

__all__ = ["DiffuserImager", "imaging_objective", "region_pcc", "masked_pcc", "region_pccs", "PCC_REGIONS",
           "ImagingTask"]

#: Where the PCC of an output image is taken (Luo et al. 2022 do not state it, so all are
#: reported): ``support`` — the pixels where the object is > 0 (as independent reproductions
#: do); ``square`` — the central object square (the training loss's region); ``canvas`` — the
#: whole output window.
PCC_REGIONS = ("support", "square", "canvas")


class DiffuserImager(nn.Module):
    """Object -> diffuser -> L phase layers -> output intensity.

    Args:
        grid: sampling of every plane (``(ny, nx)``, pitch in m).
        wavelength: λ in metres.
        layers: number L of phase-only layers (phases start at 0: free space).
        object_to_diffuser: distance object -> diffuser (m).
        distances: L + 1 distances (m): diffuser -> layer 1, layer l -> l + 1, layer L -> output.
        pad_factor: zero padding of the angular-spectrum propagation.

    ``forward(objects, diffusers=None, *, shifts=None, gaps=None)``:

    * ``objects``: real amplitudes ``(B, ny, nx)`` (or complex fields) in the object plane;
    * ``diffusers``: complex transmittances ``(n, ny, nx)`` or ``(ny, nx)``; None = no diffuser;
    * ``shifts``: ``(L, 2)`` lateral displacement ``(dy, dx)`` of each layer in metres;
    * ``gaps``: ``(L,)`` axial displacement ``δ_l`` of each layer in metres, +z downstream:
      the distance in front of layer ``l`` becomes ``d + δ_l − δ_{l−1}`` (diffuser and output
      plane fixed, ``δ_{−1} = δ_L = 0``).

    Returns the output intensity ``(B, n, ny, nx)`` (``n = 1`` without a diffuser), in units of
    the input intensity.
    """

    def __init__(self, grid: Grid, wavelength: float, layers: int, *, object_to_diffuser: float, distances,
                 pad_factor: float = 2.0):
        super().__init__()
        distances = tuple(float(d) for d in distances)
        if layers < 1 or len(distances) != layers + 1:
            raise ValueError(f"{layers} layers need {layers + 1} distances, got {len(distances)}")
        self.grid, self.wavelength, self.layers, self.pad_factor = grid, float(wavelength), int(layers), pad_factor
        self.phase = nn.Parameter(torch.zeros(layers, *grid.shape))
        self.distances = distances  # in front of layer 0..L-1, then to the output (m)
        self.register_buffer("h_object", self._tf(object_to_diffuser), persistent=False)
        for i, z in enumerate(distances):
            self.register_buffer(f"h_{i}", self._tf(z), persistent=False)

    def _tf(self, z: float) -> torch.Tensor:
        return asm_transfer_function(self.grid, self.wavelength, z, pad_factor=self.pad_factor)

    def propagate(self, u: torch.Tensor, z: float) -> torch.Tensor:
        return apply_transfer_function(u, self._tf(z).to(u.device))

    def to_diffuser(self, objects: torch.Tensor) -> torch.Tensor:
        """Field arriving at the diffuser plane ``(B, ny, nx)`` (no parameters involved)."""
        u = objects if objects.is_complex() else objects.to(torch.complex64)
        return apply_transfer_function(u, self.h_object)

    def transmittances(self, shifts=None) -> torch.Tensor:
        t = torch.polar(torch.ones_like(self.phase), self.phase)
        if shifts is not None:
            shifts = torch.as_tensor(shifts, dtype=torch.float32, device=t.device)
            t = shift(t, shifts[:, 0], shifts[:, 1], grid=self.grid)
        return t

    def from_diffuser(self, u: torch.Tensor, diffusers=None, *, shifts=None, gaps=None) -> torch.Tensor:
        """Output intensity ``(B, n, ny, nx)`` from the field ``u`` at the diffuser plane."""
        u = u[:, None] if diffusers is None else u[:, None] * (diffusers if diffusers.dim() == 3 else diffusers[None])
        t = self.transmittances(shifts)
        delta = None
        if gaps is not None:
            delta = torch.as_tensor(gaps, dtype=torch.float64).reshape(-1).tolist() + [0.0]
        for i in range(len(self.distances)):
            if delta is None:
                u = apply_transfer_function(u, getattr(self, f"h_{i}"))
            else:
                u = self.propagate(u, self.distances[i] + delta[i] - (delta[i - 1] if i > 0 else 0.0))
            if i < self.layers:
                u = u * t[i]
        return u.real.square() + u.imag.square()

    def forward(self, objects, diffusers=None, *, shifts=None, gaps=None) -> torch.Tensor:
        return self.from_diffuser(self.to_diffuser(objects), diffusers, shifts=shifts, gaps=gaps)


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
        alpha, beta: weights of the energy term.

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

    n_layers = property(lambda self: self.model.layers)
    device_model = property(lambda self: self.model)

    def pnn_parameters(self):
        return list(self.model.parameters())

    def start_epoch(self, epoch: int) -> None:
        self.diffusers = self._epoch_diffusers(epoch).to(self.model.phase.device)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self._encode(images).to(self.model.phase.device)

    def sample_errors(self, error_model, generator):
        """``(shifts (L, 2), δ (L,))`` in metres from a :class:`hardware.LayerDisplacements`."""
        return error_model.displacements(self.model.layers, generator=generator)

    def numeric(self, x, *, hook=None, errors=None):
        if hook is not None:
            raise ValueError("the imaging task has no hooks (methods ideal and noise only)")
        shifts, gaps = errors if errors is not None else (None, None)
        with torch.no_grad():  # object -> diffuser holds no parameters
            u = self.model.to_diffuser(x)
        return self.model.from_diffuser(u, self.diffusers, shifts=shifts, gaps=gaps), []

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
