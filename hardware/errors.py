"""Error models and their frozen realizations.

An *error model* states magnitudes (physical units) and draws a *realization* with
``model.sample(..., generator=g)``. A realization is frozen, serialisable
(:mod:`hardware.io`) and fixed for the life of a physical system: these are systematic
errors. Detector noise is different: the realization holds its *parameters*, and fresh
noise is drawn for every measurement.

Diffractive networks (docs/design.md#errors-and-physical-systems), per phase layer l:

* lateral shift ``layer_shift[l] = (dy, dx)`` m and in-plane rotation ``layer_rotation[l]`` rad
  of the fabricated/mounted layer;
* axial gap error ``gap_error[l]`` m added to the free-space distance that follows layer l;
* modulator phase response: the programmed phase φ ∈ [0, 2π) (wrapped; quantized to
  ``phase_bits`` drive levels when > 0) is applied as
  ``gain[l]·φ + offset[l] + lut[l](φ)`` with ``lut`` a smooth deviation sampled at K
  equally spaced points over [0, 2π) and linearly interpolated (periodic);
* pixel crosstalk: the applied phase is smoothed by a unit-sum Gaussian of std
  ``crosstalk_px`` pixels (fringing fields of an SLM, Persson et al., Opt. Express 20, 22334
  (2012));
* fill factor ``fill_factor``: the pixel-averaged transmittance
  ``ff·exp(iφ) + (1 − ff)`` (dead space between pixels transmits unmodulated light);
* input-plane shift ``input_shift = (dy, dx)`` m;
* ``input_gap`` m added to the free-space distance in front of the first layer (the layer
  moved axially while the input plane stays put; :class:`hardware.LayerDisplacements`).

Lateral shifts and gap errors are Gaussian (``shift_std``, ``gap_std``) and/or uniform
(``shift_max``, ``gap_max``: half-widths of U(−Δ, Δ), the misalignment "vaccination" of
Mengu et al., Nanophotonics 2020).

Interference networks: per-mesh :class:`photonics.MeshErrors` (coupler splitting errors,
phase offsets, insertion loss, thermal crosstalk).

Detectors (:class:`DetectorNoise`): the full scale F of a sample is its largest ideal reading
(auto-exposure). Shot noise: a reading I corresponds to N = full_scale_photons·I/F
photo-electrons, Poisson, approximated as Gaussian (std sqrt(I·F/full_scale_photons)); read
noise: Gaussian with std ``read_noise``·F; then quantization to ``adc_bits`` over [0, F].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import torch

from photonics import MeshErrors, sample_mesh_errors

__all__ = [
    "DetectorNoise",
    "DiffractiveErrors",
    "DiffractiveErrorModel",
    "MeshNetworkErrors",
    "MeshErrorModel",
]


def nonnegative(value, name: str, unit: str) -> float:
    """``value`` as a float when it is a finite number ≥ 0 (a bool is not), else a one-line
    ``ValueError`` naming ``name`` and its ``unit`` (``"1"``: dimensionless)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        where = "dimensionless" if unit == "1" else f"in {unit}"
        raise ValueError(f"{name} must be a finite number ≥ 0 ({where}), got {value!r}")
    return float(value)


def _bits(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 24:
        raise ValueError(f"{name} must be an integer number of bits in [0, 24] (0 = off), got {value!r}")
    return int(value)


@dataclass(frozen=True)
class DetectorNoise:
    """Detector noise parameters (not a noise draw: noise is fresh at every measurement).

    Args:
        full_scale_photons: photo-electrons at the full-scale reading (0 = no shot noise).
        read_noise: read-noise std as a fraction of the full-scale reading (0 = none).
        adc_bits: ADC resolution in bits (0 = no quantization).
    """

    full_scale_photons: float = 0.0
    read_noise: float = 0.0
    adc_bits: int = 0

    def __post_init__(self):
        object.__setattr__(self, "full_scale_photons",
                           nonnegative(self.full_scale_photons, "full_scale_photons", "photo-electrons"))
        object.__setattr__(self, "read_noise", nonnegative(self.read_noise, "read_noise", "fraction of full scale"))
        object.__setattr__(self, "adc_bits", _bits(self.adc_bits, "adc_bits"))

    @property
    def active(self) -> bool:
        return bool(self.full_scale_photons or self.read_noise or self.adc_bits)

    def apply(self, signal: torch.Tensor, *, generator: torch.Generator | None, sample_dims: int) -> torch.Tensor:
        """Noisy reading of a non-negative ``signal``; the last ``sample_dims`` dims form one
        sample (its maximum is the full scale)."""
        if not self.active:
            return signal
        dims = tuple(range(-sample_dims, 0))
        full = signal.amax(dim=dims, keepdim=True).clamp_min(torch.finfo(signal.dtype).tiny)
        out = signal
        if self.full_scale_photons:
            std = torch.sqrt(signal.clamp_min(0) * full / self.full_scale_photons)
            out = out + std * torch.randn(signal.shape, generator=generator, dtype=signal.dtype).to(signal.device)
        if self.read_noise:
            out = out + self.read_noise * full * torch.randn(signal.shape, generator=generator,
                                                             dtype=signal.dtype).to(signal.device)
        out = out.clamp_min(0)
        if self.adc_bits:
            levels = 2**self.adc_bits - 1
            out = torch.round((out / full).clamp(max=1) * levels) / levels * full
        return out


@dataclass(frozen=True, eq=False)
class DiffractiveErrors:
    """One frozen error realization of an L-layer diffractive network (see module docstring).

    Shape:
        ``layer_shift`` (L, 2) m; ``layer_rotation``, ``gap_error``, ``phase_gain``,
        ``phase_offset`` (L,); ``phase_lut`` (L, K) rad (K ≥ 2, zeros = ideal);
        ``input_shift`` (2,) m.
    """

    layer_shift: torch.Tensor
    layer_rotation: torch.Tensor
    gap_error: torch.Tensor
    phase_gain: torch.Tensor
    phase_offset: torch.Tensor
    phase_lut: torch.Tensor
    input_shift: torch.Tensor
    phase_bits: int = 0
    crosstalk_px: float = 0.0
    fill_factor: float = 1.0
    detector: DetectorNoise = field(default_factory=DetectorNoise)
    input_gap: float = 0.0

    _TENSORS = ("layer_shift", "layer_rotation", "gap_error", "phase_gain", "phase_offset", "phase_lut",
                "input_shift")

    def __post_init__(self):
        for name in self._TENSORS:
            v = getattr(self, name)
            if not isinstance(v, torch.Tensor) or not v.is_floating_point():
                raise TypeError(f"DiffractiveErrors.{name} must be a real floating tensor, got {type(v).__name__}")
            if not bool(torch.isfinite(v).all()):
                raise ValueError(f"DiffractiveErrors.{name} contains NaN or infinite values")
        n = self.layer_rotation.shape[0] if self.layer_rotation.dim() == 1 else -1
        expect = {"layer_shift": (n, 2), "layer_rotation": (n,), "gap_error": (n,), "phase_gain": (n,),
                  "phase_offset": (n,), "input_shift": (2,)}
        for name, shape in expect.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"DiffractiveErrors.{name} must have shape {shape} for {n} layers, "
                                 f"got {tuple(getattr(self, name).shape)}")
        if self.phase_lut.dim() != 2 or self.phase_lut.shape[0] != n or self.phase_lut.shape[1] < 2:
            raise ValueError(f"DiffractiveErrors.phase_lut must be (L, K ≥ 2) with L = {n}, "
                             f"got {tuple(self.phase_lut.shape)}")
        object.__setattr__(self, "phase_bits", _bits(self.phase_bits, "phase_bits"))
        object.__setattr__(self, "crosstalk_px", nonnegative(self.crosstalk_px, "crosstalk_px", "pixels"))
        ff = self.fill_factor
        if isinstance(ff, bool) or not isinstance(ff, (int, float)) or not 0 < ff <= 1:
            raise ValueError(f"fill_factor must be in (0, 1], got {ff!r}")
        object.__setattr__(self, "fill_factor", float(ff))
        if not isinstance(self.detector, DetectorNoise):
            raise TypeError(f"detector must be a DetectorNoise, got {type(self.detector).__name__}")
        ig = self.input_gap
        if isinstance(ig, bool) or not isinstance(ig, (int, float)) or not math.isfinite(ig):
            raise ValueError(f"input_gap must be a finite number of metres, got {ig!r}")
        object.__setattr__(self, "input_gap", float(ig))

    @property
    def n_layers(self) -> int:
        return self.layer_rotation.shape[0]

    @property
    def response_ideal(self) -> bool:
        """True when the modulator applies the programmed phase exactly."""
        return (self.phase_bits == 0 and bool((self.phase_gain == 1).all()) and not bool(self.phase_offset.any())
                and not bool(self.phase_lut.any()) and self.crosstalk_px == 0)

    @classmethod
    def none(cls, n_layers: int, *, lut_points: int = 16) -> "DiffractiveErrors":
        """The error-free realization."""
        z = torch.zeros(n_layers, dtype=torch.float64)
        return cls(torch.zeros(n_layers, 2, dtype=torch.float64), z.clone(), z.clone(), torch.ones_like(z), z.clone(),
                   torch.zeros(n_layers, lut_points, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "detector"}
        out["detector"] = {f.name: getattr(self.detector, f.name) for f in fields(DetectorNoise)}
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "DiffractiveErrors":
        kw = {k: v for k, v in data.items() if k != "detector"}
        return cls(**kw, detector=DetectorNoise(**data.get("detector", {})))


@dataclass(frozen=True)
class DiffractiveErrorModel:
    """Magnitudes of the systematic errors of a diffractive network (all ≥ 0).

    Args:
        shift_std: std of each layer's lateral shift per axis, m.
        rotation_std: std of each layer's in-plane rotation, rad.
        gap_std: std of each gap's axial error, m.
        phase_gain_std: std of the modulator's relative gain error (gain = 1 + N(0, σ²)).
        phase_offset_std: std of the modulator's phase offset, rad.
        lut_nonlinearity: std (rad) of a smooth random deviation of the response curve
            (sum of the first three Fourier harmonics over [0, 2π), vanishing at 0).
        phase_bits: drive-level quantization in bits (0 = continuous).
        crosstalk_px: Gaussian smoothing of the applied phase, std in pixels.
        fill_factor: pixel fill factor in (0, 1].
        input_shift_std: std of the input-plane shift per axis, m.
        detector: detector noise parameters.
        lut_points: samples K of the response curve.
        shift_max: half-width Δ of a *uniform* lateral shift per layer and axis, m: each
            component gets an extra U(−Δ, Δ) term (variance Δ²/3). This is the
            "vaccination" distribution of Mengu et al. (Nanophotonics 2020).
        gap_max: half-width Δz of a *uniform* axial error per gap, m: U(−Δz, Δz).

    Gaussian (``*_std``) and uniform (``*_max``) magnitudes are separate fields, so a name
    never changes meaning; give one or the other (both add). Uniform draws come after all
    Gaussian ones, so a model with ``shift_max = gap_max = 0`` draws exactly the realizations
    it drew before these fields existed.
    """

    shift_std: float = 0.0
    rotation_std: float = 0.0
    gap_std: float = 0.0
    phase_gain_std: float = 0.0
    phase_offset_std: float = 0.0
    lut_nonlinearity: float = 0.0
    phase_bits: int = 0
    crosstalk_px: float = 0.0
    fill_factor: float = 1.0
    input_shift_std: float = 0.0
    detector: DetectorNoise = field(default_factory=DetectorNoise)
    lut_points: int = 16
    shift_max: float = 0.0
    gap_max: float = 0.0

    def __post_init__(self):
        for name, unit in (("shift_std", "m"), ("rotation_std", "rad"), ("gap_std", "m"),
                           ("phase_gain_std", "1"), ("phase_offset_std", "rad"), ("lut_nonlinearity", "rad"),
                           ("crosstalk_px", "pixels"), ("input_shift_std", "m"), ("shift_max", "m"),
                           ("gap_max", "m")):
            object.__setattr__(self, name, nonnegative(getattr(self, name), name, unit))
        _bits(self.phase_bits, "phase_bits")
        if not 0 < self.fill_factor <= 1:
            raise ValueError(f"fill_factor must be in (0, 1], got {self.fill_factor!r}")
        if not isinstance(self.lut_points, int) or self.lut_points < 2:
            raise ValueError(f"lut_points must be an integer ≥ 2, got {self.lut_points!r}")

    def sample(self, n_layers: int, *, generator: torch.Generator) -> DiffractiveErrors:
        """Draw one realization for ``n_layers`` phase layers (fixed draw order)."""
        if not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be a positive integer, got {n_layers!r}")
        if not isinstance(generator, torch.Generator):
            raise TypeError("sample needs an explicit torch.Generator: model.sample(n, generator=g)")
        g = dict(generator=generator, dtype=torch.float64)
        shift = torch.randn(n_layers, 2, **g) * self.shift_std
        rot = torch.randn(n_layers, **g) * self.rotation_std
        gap = torch.randn(n_layers, **g) * self.gap_std
        gain = 1 + torch.randn(n_layers, **g) * self.phase_gain_std
        offset = torch.randn(n_layers, **g) * self.phase_offset_std
        coef = torch.randn(n_layers, 3, 2, **g)
        phi = torch.arange(self.lut_points, dtype=torch.float64) * (2 * math.pi / self.lut_points)
        k = torch.arange(1, 4, dtype=torch.float64)
        basis_c = torch.cos(k[:, None] * phi[None, :]) - 1  # vanishes at φ = 0
        basis_s = torch.sin(k[:, None] * phi[None, :])
        lut = (coef[..., 0:1] * basis_c + coef[..., 1:2] * basis_s).sum(1) / math.sqrt(6)
        lut = lut * self.lut_nonlinearity
        inp = torch.randn(2, **g) * self.input_shift_std
        # uniform ("vaccination") components, drawn last and only when on (keeps old draws)
        if self.shift_max:
            shift = shift + (2 * torch.rand(n_layers, 2, **g) - 1) * self.shift_max
        if self.gap_max:
            gap = gap + (2 * torch.rand(n_layers, **g) - 1) * self.gap_max
        return DiffractiveErrors(shift, rot, gap, gain, offset, lut, inp, self.phase_bits, self.crosstalk_px,
                                 self.fill_factor, self.detector)


@dataclass(frozen=True, eq=False)
class MeshNetworkErrors:
    """Frozen errors of a multi-mesh network: one :class:`MeshErrors` per mesh, plus the
    detector noise of the readout."""

    meshes: tuple
    detector: DetectorNoise = field(default_factory=DetectorNoise)

    def __post_init__(self):
        object.__setattr__(self, "meshes", tuple(self.meshes))
        for i, m in enumerate(self.meshes):
            if not isinstance(m, MeshErrors):
                raise TypeError(f"meshes[{i}] must be a photonics.MeshErrors, got {type(m).__name__}")
        if not isinstance(self.detector, DetectorNoise):
            raise TypeError(f"detector must be a DetectorNoise, got {type(self.detector).__name__}")


@dataclass(frozen=True)
class MeshErrorModel:
    """Magnitudes of MZI-mesh errors (Zheng et al. 2023; docs/references.md#dat): coupler splitting error std
    ``bs_sigma``, phase-shifter offset std ``ps_sigma`` rad, insertion loss ``loss_db`` per
    MZI (dB), thermal crosstalk coefficient ``crosstalk``, detector noise."""

    bs_sigma: float = 0.0
    ps_sigma: float = 0.0
    loss_db: float = 0.0
    crosstalk: float = 0.0
    detector: DetectorNoise = field(default_factory=DetectorNoise)

    def __post_init__(self):
        for name, unit in (("bs_sigma", "1"), ("ps_sigma", "rad"), ("loss_db", "dB"), ("crosstalk", "1")):
            object.__setattr__(self, name, nonnegative(getattr(self, name), name, unit))

    def sample(self, meshes, *, generator: torch.Generator) -> MeshNetworkErrors:
        """One independent realization per mesh (in order), with the statistics of Zheng et al. 2023."""
        if not isinstance(generator, torch.Generator):
            raise TypeError("sample needs an explicit torch.Generator: model.sample(meshes, generator=g)")
        return MeshNetworkErrors(tuple(
            sample_mesh_errors(m, bs_sigma=self.bs_sigma, ps_sigma=self.ps_sigma, loss_db=self.loss_db,
                               crosstalk=self.crosstalk, generator=generator, dtype=torch.float64)
            for m in meshes), self.detector)
