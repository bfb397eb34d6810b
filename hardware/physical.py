"""``PhysicalSystem``: the simulated "real device" that training code may query but not
look inside — the situation of an experimentalist.

It holds a private copy of a model (parameters are *programmed* into it with
:meth:`PhysicalSystem.load_parameters`, never shared by reference) and a hidden, frozen
error realization. :meth:`PhysicalSystem.measure` returns what detectors would read
(intensities with detector noise) and, when asked, what cameras or taps would see inside
(intensities after each layer). It never builds an autograd graph and counts every query
and every measured sample: on hardware those are the cost that matters.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from optics import Field, FreeSpace, OpticalSystem
from optics._checks import check_complex, check_finite

from .diffractive import DiffractivePhysics, phase_layers
from .errors import DiffractiveErrors, MeshNetworkErrors
from .presets import error_model

__all__ = ["PhysicalSystem", "hardware_family"]


def hardware_family(model: nn.Module) -> str:
    """``"diffractive"`` for an :class:`optics.OpticalSystem`, ``"mesh"`` for a mesh network."""
    if isinstance(model, OpticalSystem):
        return "diffractive"
    if hasattr(model, "meshes") and hasattr(model, "port_intensities"):
        return "mesh"
    raise TypeError(
        f"PhysicalSystem wraps an optics.OpticalSystem (diffractive) or a photonics.MeshNetwork, "
        f"got {type(model).__name__}"
    )


def _diffractive_geometry(model: OpticalSystem) -> dict:
    masks = phase_layers(model)
    if not masks:
        raise ValueError("the diffractive model has no PhaseMask layer to perturb")
    gaps = [layer.distance for layer in model.layers if isinstance(layer, FreeSpace)]
    pitch = min(masks[0].grid.pitch)
    return {"pitch": pitch, "gap": float(sum(abs(g) for g in gaps) / max(len(gaps), 1))}


class PhysicalSystem:
    """A model plus hidden systematic errors, measurable but not inspectable.

    Args:
        model: an :class:`optics.OpticalSystem` of PhaseMask/FreeSpace layers, or a
            :class:`photonics.MeshNetwork`. It is deep-copied; later changes to ``model``
            do not reach the device until :meth:`load_parameters`.
        errors: a frozen realization (:class:`DiffractiveErrors` or
            :class:`MeshNetworkErrors`); or give ``preset`` and ``seed`` to draw one.
        preset: severity preset (see :mod:`hardware.presets`), default ``"none"``.
        seed: seed of the error draw (required with a preset other than ``"none"``).
        noise_seed: seed of the detector-noise stream (default: derived from ``seed``).
    """

    def __init__(self, model: nn.Module, errors=None, *, preset: str | None = None, seed: int | None = None,
                 noise_seed: int | None = None):
        family = hardware_family(model)
        if errors is not None and preset is not None:
            raise ValueError("give either errors= (a realization) or preset= (to draw one), not both")
        device_model = copy.deepcopy(model).eval()
        for p in device_model.parameters():
            p.requires_grad_(False)
        if errors is None:
            preset = preset or "none"
            if family == "diffractive":
                em = error_model(family, preset, **_diffractive_geometry(device_model))
            else:
                em = error_model(family, preset)
            if seed is None and preset != "none":
                raise ValueError(f"preset {preset!r} draws random errors: give seed= (an int) for a reproducible device")
            gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
            if family == "diffractive":
                errors = em.sample(len(phase_layers(device_model)), generator=gen)
            else:
                errors = em.sample(device_model.meshes, generator=gen)
        self.__family = family
        self.__model = device_model
        self.__errors = errors
        self.__physics = self.__build()
        base = 0 if seed is None else int(seed)
        self.__noise = torch.Generator().manual_seed(int(noise_seed) if noise_seed is not None else base + 7919)
        self.queries = 0
        self.samples = 0

    def __build(self):
        if self.__family == "diffractive":
            if not isinstance(self.__errors, DiffractiveErrors):
                raise TypeError(f"a diffractive system needs DiffractiveErrors, got {type(self.__errors).__name__}")
            return DiffractivePhysics(self.__model, self.__errors)
        if not isinstance(self.__errors, MeshNetworkErrors):
            raise TypeError(f"a mesh system needs MeshNetworkErrors, got {type(self.__errors).__name__}")
        return _MeshPhysics(self.__model, self.__errors)

    # -- public API --------------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.__family

    def load_parameters(self, state: dict) -> None:
        """Program parameters (a state dict, as from ``model.state_dict()``) into the device.

        Values are copied; keys and shapes must match the device's model exactly.
        """
        if not isinstance(state, dict):
            raise TypeError(f"load_parameters expects a state dict, got {type(state).__name__}")
        own = self.__model.state_dict()
        missing = sorted(set(own) - set(state))
        extra = sorted(set(state) - set(own))
        if missing or extra:
            raise ValueError(f"state dict does not match the device: missing {missing}, unexpected {extra}")
        for k, v in state.items():
            if not isinstance(v, torch.Tensor):
                raise TypeError(f"parameter {k!r} must be a torch.Tensor, got {type(v).__name__}")
            if tuple(v.shape) != tuple(own[k].shape):
                raise ValueError(f"parameter {k!r} has shape {tuple(v.shape)}, the device expects {tuple(own[k].shape)}")
            if v.is_floating_point() or v.is_complex():
                check_finite(v.detach(), f"parameter {k!r}")
        with torch.no_grad():
            self.__model.load_state_dict({k: v.detach().clone() for k, v in state.items()})

    def __check_field(self, x: Field) -> None:
        """The field must lie on the grid (and at the wavelength) of the device's first layer."""
        first = self.__model.layers[0]
        grid = getattr(first, "grid", None)
        if grid is not None and x.grid != grid:
            raise ValueError(f"measure: the device was built for {grid!r} but received a field on {x.grid!r}; "
                             "resample the input onto the device's grid")
        lam = next((layer.wavelength for layer in self.__model.layers if isinstance(layer, FreeSpace)), None)
        if lam is not None and not math.isclose(x.wavelength, lam, rel_tol=1e-9):
            raise ValueError(f"measure: the device works at wavelength {lam!r} m but received a field at "
                             f"{x.wavelength!r} m")
        check_finite(x.data.detach(), "measure input field data")

    def measure(self, x, *, internal_states: bool = False):
        """Detector readings (no gradients); optionally the intensities inside.

        Args:
            x: input — a :class:`optics.Field` (diffractive) on the device's grid and at its
                wavelength, or a complex mode tensor ``(..., n)`` (mesh network); finite.
            internal_states: also return a list of intensities after each photonic layer
                (each free-space gap for diffractive networks, each mesh for mesh networks).

        Internal states carry the same detector noise as the readings.

        Returns:
            ``readings`` (output intensity image ``(*batch, ny, nx)``, detector energies
            ``(*batch, R)`` or port intensities ``(*batch, n)``), or
            ``(readings, [state intensities])``.
        """
        with torch.no_grad():
            if self.__family == "diffractive":
                if not isinstance(x, Field):
                    raise TypeError(f"a diffractive system measures an optics.Field, got {type(x).__name__}")
                self.__check_field(x)
                x = x.replace(data=x.data.detach())
                out, states = self.__physics.forward(x)
                reading = out.intensity() if isinstance(out, Field) else out
                sample_dims = 2 if isinstance(out, Field) else 1
                batch = math.prod(x.batch_shape)
                taps = [s.intensity() for s, layer in zip(states, self.__model.layers) if isinstance(layer, FreeSpace)]
            else:
                if not isinstance(x, torch.Tensor):
                    raise TypeError(f"a mesh system measures a complex tensor (..., n), got {type(x).__name__}")
                check_complex(x, "measure input")
                n = self.__model.meshes[0].n_modes
                if x.dim() == 0 or x.shape[-1] != n:
                    raise ValueError(f"measure input must be (..., n) with n = {n} modes, got shape {tuple(x.shape)}")
                check_finite(x.detach(), "measure input")
                out, taps = self.__physics.forward(x.detach())
                reading, sample_dims = out, 1
                batch = math.prod(x.shape[:-1])
            detector = self.__errors.detector
            reading = detector.apply(reading, generator=self.__noise, sample_dims=sample_dims)
            if internal_states:  # cameras or taps inside see the same kind of detector noise
                taps = [detector.apply(t, generator=self.__noise, sample_dims=sample_dims if self.__family == "mesh"
                                       else 2) for t in taps]
        self.queries += 1
        self.samples += batch
        return (reading, taps) if internal_states else reading

    def to(self, device) -> "PhysicalSystem":
        """Move the device's model and errors to ``device`` (a torch device or string); the
        detector-noise stream stays on the CPU, so readings do not depend on the device's RNG."""
        device = torch.device(device)
        self.__model.to(device)
        if self.__family == "mesh":
            meshes = tuple(m.to(device) for m in self.__errors.meshes)
            self.__errors = MeshNetworkErrors(meshes, self.__errors.detector)
        self.__physics = self.__build()
        return self

    def fork_noise(self, stream: int) -> None:
        """Re-seed the detector-noise stream as stream ``stream`` of this device (rank ``r``
        of a data-parallel run measures its shard with stream ``r``: independent noise)."""
        g = torch.Generator().manual_seed(int(self.__noise.initial_seed()) + 1_000_003 * (int(stream) + 1))
        self.__noise = g

    def state_dict(self) -> dict:
        """Counters and the detector-noise stream (not the errors), for exact resume."""
        return {"queries": self.queries, "samples": self.samples, "noise_rng": self.__noise.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.queries = int(state["queries"])
        self.samples = int(state["samples"])
        self.__noise.set_state(state["noise_rng"])

    def save_errors(self, path_or_group, name: str = "errors") -> None:
        """Write the hidden realization to HDF5 for the run record (never back to training)."""
        from .io import save_realization

        save_realization(path_or_group, self.__errors, name=name)

    def __repr__(self) -> str:
        return f"PhysicalSystem(family={self.__family!r}, queries={self.queries}, samples={self.samples})"


class _MeshPhysics:
    """Evaluates a mesh network under fixed per-mesh errors."""

    def __init__(self, model, errors: MeshNetworkErrors):
        if len(errors.meshes) != len(model.meshes):
            raise ValueError(f"error realization has {len(errors.meshes)} meshes but the model has {len(model.meshes)}")
        for i, (m, e) in enumerate(zip(model.meshes, errors.meshes)):
            try:
                e.check(m)
            except ValueError as exc:
                raise ValueError(f"mesh {i}: {exc}") from None
        self.model = model
        # an all-zero realization is the ideal device: evaluate it exactly as the ideal model
        self.per_mesh = [None if _is_zero(e) else e for e in errors.meshes]

    def forward(self, x: torch.Tensor):
        return self.model.port_intensities(x, self.per_mesh, return_intermediates=True)


def _is_zero(e) -> bool:
    return not e.crosstalk and not any(bool(getattr(e, n).any()) for n in
                                       ("bs_in", "bs_out", "theta_offset", "phi_offset", "loss_db"))
