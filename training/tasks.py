"""Tasks: what the training methods need to know about a photonic model family.

A task wraps a model and tells the shared training loop how to

* encode a batch of images into the model's input (a :class:`optics.Field` or a mode
  vector);
* run the numerical model, optionally under an error realization, with a ``hook(i, z)``
  called on the complex state after every photonic layer (where DAT adds its SEPN
  corrections and state fusion swaps in measured amplitudes);
* turn detected intensities into class scores (logits);
* sample a fresh error realization (noise-aware training);
* describe the states as images for SEPNs.

The states are the ones a :class:`hardware.PhysicalSystem` reports as internal states: after
each free-space gap (diffractive) or after each mesh (interference); the last state is the
output.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hardware.diffractive import DiffractivePhysics
from optics import Field, FreeSpace, OpticalSystem
from photonics import MeshNetwork, encode_fourier_crop

from .losses import LIN_MSE_SCALES, lin_mse
from .transforms import pad_to, resize

__all__ = ["MeshTask", "DiffractiveTask", "LinMseTask", "DigitalTask"]


def _check_image_batch(images) -> None:
    """A batch ``(B, H, W)`` of 2-D images (a flattened ``(B, H·W)`` batch would pass as one image)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 3:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a batch (B, H, W) of 2-D images, got {got}")


class MeshTask(nn.Module):
    """Interference PNN (Zheng et al. 2023; docs/references.md#dat): Fourier-crop encoding, meshes, normalised port
    intensities of the first ``n_classes`` ports as logits.

    Args:
        model: a :class:`photonics.MeshNetwork` with ``n_modes = crop²``.
        crop: side of the Fourier crop (8 → 64 modes).
    """

    family = "mesh"

    def __init__(self, model: MeshNetwork, *, crop: int = 8):
        super().__init__()
        if not isinstance(model, MeshNetwork):
            raise TypeError(f"MeshTask needs a photonics.MeshNetwork, got {type(model).__name__}")
        if crop * crop != model.n_modes:
            raise ValueError(f"crop {crop} gives {crop * crop} modes but the network has {model.n_modes}")
        self.model = model
        self.crop = crop

    @property
    def device_model(self) -> nn.Module:
        """What a PhysicalSystem wraps."""
        return self.model

    @property
    def n_layers(self) -> int:
        return len(self.model.meshes)

    @property
    def state_shape(self) -> tuple[int, int]:
        return (self.crop, self.crop)

    @property
    def complex_dtype(self) -> torch.dtype:
        return self.model.meshes[0].complex_dtype

    def pnn_parameters(self):
        return list(self.model.parameters())

    @property
    def n_classes(self) -> int:
        """Classes of the readout (the first ports of the last mesh) [count]."""
        return self.model.readout.n_classes

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        _check_image_batch(images)
        x = encode_fourier_crop(images.float() if images.dtype == torch.uint8 else images, self.crop)
        return x.to(self.model.meshes[0].complex_dtype)

    def numeric(self, x, *, hook=None, errors=None):
        """``(output field, [field after each mesh])``; ``errors`` a list of MeshErrors."""
        return self.model.fields(x, errors, hook=hook)

    @staticmethod
    def intensity(z: torch.Tensor) -> torch.Tensor:
        return z.real.square() + z.imag.square()

    def scores(self, intensity: torch.Tensor) -> torch.Tensor:
        p = intensity / intensity.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return p[..., : self.model.readout.n_classes]

    def to_image(self, z: torch.Tensor) -> torch.Tensor:
        return z.reshape(*z.shape[:-1], *self.state_shape)

    def from_image(self, img: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return img.reshape(like.shape)

    def sample_errors(self, error_model, generator):
        return list(error_model.sample(self.model.meshes, generator=generator).meshes)


class DiffractiveTask(nn.Module):
    """Diffractive classifier: amplitude-encoded image → phase layers → detector regions;
    logits = temperature · (region energies / their sum).

    Args:
        system: the :class:`optics.OpticalSystem` (PhaseMask/FreeSpace layers).
        regions: detector regions ``(n_classes, ny, nx)`` on the output plane.
        wavelength: λ in metres (of the input field).
        image_px: side (pixels) the 28×28 image is resized to before centring on the grid
            (default: unchanged).
        temperature: initial logit scale; learnable when ``learn_temperature``.
    """

    family = "diffractive"

    def __init__(self, system: OpticalSystem, regions: torch.Tensor, wavelength: float, *,
                 image_px: int | None = None, temperature: float = 10.0, learn_temperature: bool = True):
        super().__init__()
        if not isinstance(system, OpticalSystem):
            raise TypeError(f"DiffractiveTask needs an optics.OpticalSystem, got {type(system).__name__}")
        self.system = system
        self.grid = system[0].grid
        if tuple(regions.shape[-2:]) != self.grid.shape:
            raise ValueError(f"regions {tuple(regions.shape)} do not match the grid {self.grid.shape}")
        self.register_buffer("regions", regions.float(), persistent=False)
        self.wavelength = float(wavelength)
        self.image_px = image_px
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
                math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0 (the logits' scale), got {temperature!r}")
        t = torch.tensor(float(temperature)).log()
        self.log_temperature = nn.Parameter(t) if learn_temperature else nn.Parameter(t, requires_grad=False)

    @property
    def device_model(self) -> nn.Module:
        return self.system

    @property
    def n_layers(self) -> int:
        return sum(isinstance(layer, FreeSpace) for layer in self.system.layers)

    @property
    def state_shape(self) -> tuple[int, int]:
        return self.grid.shape

    @property
    def complex_dtype(self) -> torch.dtype:
        masks = [layer for layer in self.system.layers if hasattr(layer, "phase")]
        return torch.complex128 if masks and masks[0].phase.dtype == torch.float64 else torch.complex64

    def pnn_parameters(self):
        return list(self.system.parameters()) + [self.log_temperature]

    @property
    def n_classes(self) -> int:
        """Classes, one per detector region [count]."""
        return self.regions.shape[0]

    def encode(self, images: torch.Tensor) -> Field:
        _check_image_batch(images)
        img = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        if self.image_px is not None and self.image_px != img.shape[-1]:
            img = resize(img, self.image_px)
        return Field(pad_to(img, self.grid.shape).to(self.complex_dtype), self.grid, self.wavelength)

    def numeric(self, x: Field, *, hook=None, errors=None):
        """``(output Field, [Field after each free-space gap])``."""
        if errors is not None:
            if hook is not None:
                raise ValueError("hooks are not supported together with sampled errors")
            out, states = DiffractivePhysics(self.system, errors).forward(x)
            return out, [s for s, layer in zip(states, self.system.layers) if isinstance(layer, FreeSpace)]
        states = []
        for layer in self.system.layers:
            x = layer(x)
            if isinstance(layer, FreeSpace):
                if hook is not None:
                    x = x.replace(data=hook(len(states), x.data))
                states.append(x)
        return x, states

    @staticmethod
    def intensity(field) -> torch.Tensor:
        data = field.data if isinstance(field, Field) else field
        return data.real.square() + data.imag.square()

    def detector_energies(self, intensity: torch.Tensor) -> torch.Tensor:
        """Intensity summed over each detector region: ``(*B, ny, nx) -> (*B, C)`` (intensity ×
        pixels; the cell area is left out, it cancels in every ratio)."""
        return intensity.flatten(-2) @ self.regions.flatten(1).to(intensity.dtype).T

    def scores(self, intensity: torch.Tensor) -> torch.Tensor:
        e = self.detector_energies(intensity)
        return self.log_temperature.exp() * e / e.sum(-1, keepdim=True).clamp_min(1e-30)

    def to_image(self, z):
        return z.data if isinstance(z, Field) else z

    def from_image(self, img, like):
        return img

    def sample_errors(self, error_model, generator):
        n = sum(1 for layer in self.system.layers if type(layer).__name__ == "PhaseMask")
        return error_model.sample(n, generator=generator)


class LinMseTask(DiffractiveTask):
    """A :class:`DiffractiveTask` trained on Lin et al.'s output-plane MSE,
    :func:`training.losses.lin_mse` (the trainer calls ``objective``); scores, inference and
    evaluation are the parent's (largest detector energy).

    Args: those of :class:`DiffractiveTask`, and ``scale``: the reference power of ``s`` in
    :func:`~training.losses.lin_mse` (``"output"`` or ``"detectors"``)."""

    def __init__(self, *args, scale: str = "output", **kwargs):
        super().__init__(*args, **kwargs)
        if scale not in LIN_MSE_SCALES:
            raise ValueError(f"LinMseTask scale must be one of {', '.join(LIN_MSE_SCALES)}, got {scale!r}")
        self.scale = scale

    def objective(self, out, x, y):
        return lin_mse(self.intensity(out), self.regions, y, scale=self.scale)


class DigitalTask(nn.Module):
    """A conventional (digital) classifier in the same loop, for baselines (method ``ideal``).

    Args:
        model: an ``nn.Module`` mapping encoded inputs to class scores (logits).
        encoding: ``"pixels"`` (float images ``(B, 28, 28)``) or ``"fourier"`` (the mesh
            networks' Fourier-crop modes, for digital counterparts of photonic models).
        crop: Fourier-crop side for ``"fourier"``.
    """

    family = "digital"

    def __init__(self, model: nn.Module, *, encoding: str = "pixels", crop: int = 8):
        super().__init__()
        if encoding not in ("pixels", "fourier"):
            raise ValueError(f"encoding must be 'pixels' or 'fourier', got {encoding!r}")
        self.model, self.encoding, self.crop = model, encoding, crop

    n_layers = 0

    def pnn_parameters(self):
        return list(self.model.parameters())

    @property
    def device_model(self) -> nn.Module:
        return self.model

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        img = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        if self.encoding == "fourier":
            return encode_fourier_crop(img, self.crop)
        return img

    def numeric(self, x, *, hook=None, errors=None):
        if hook is not None or errors is not None:
            raise ValueError("a digital model has no photonic layers: use method='ideal'")
        return self.model(x), []

    @staticmethod
    def intensity(scores):
        return scores

    @staticmethod
    def scores(scores):
        return scores
