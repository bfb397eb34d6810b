"""Device specifications as frozen dataclasses (units in the names where not SI).

These describe *nominal* hardware — what a datasheet says. Errors are separate
(:mod:`hardware.errors`). Values given as defaults are common examples, not measurements.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["SLMSpec", "PrintedLayerSpec", "MZISpec", "DetectorSpec", "SPECS"]


def _check_positive(obj, *names):
    for n in names:
        v = getattr(obj, n)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{type(obj).__name__}.{n} must be a finite number > 0, got {v!r}")


class _Spec:
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        return cls(**data)


@dataclass(frozen=True)
class SLMSpec(_Spec):
    """A phase-only spatial light modulator (e.g. an LCoS panel).

    pitch_um: pixel pitch (µm); bit_depth: drive levels 2^bits; wavelength_nm: design
    wavelength (nm); fill_factor: active fraction of a pixel; phase_range_rad: phase
    stroke at the design wavelength (rad).
    """

    pitch_um: float = 12.5
    bit_depth: int = 8
    wavelength_nm: float = 520.0
    fill_factor: float = 0.93
    phase_range_rad: float = 2 * math.pi

    def __post_init__(self):
        _check_positive(self, "pitch_um", "wavelength_nm", "phase_range_rad")
        if not isinstance(self.bit_depth, int) or not 1 <= self.bit_depth <= 16:
            raise ValueError(f"SLMSpec.bit_depth must be an int in [1, 16], got {self.bit_depth!r}")
        if not 0 < self.fill_factor <= 1:
            raise ValueError(f"SLMSpec.fill_factor must be in (0, 1], got {self.fill_factor!r}")

    @property
    def pitch(self) -> float:
        """Pixel pitch in metres."""
        return self.pitch_um * 1e-6

    @property
    def wavelength(self) -> float:
        """Design wavelength in metres."""
        return self.wavelength_nm * 1e-9


@dataclass(frozen=True)
class PrintedLayerSpec(_Spec):
    """A 3-D printed diffractive layer (Lin et al. 2018): thickness h gives phase
    2π(n−1)h/λ and amplitude exp(−2πκh/λ). refractive_index n and extinction_coefficient
    κ at the design wavelength (a common THz resin: n ≈ 1.72, κ ≈ 0.03, docs/references.md#d2nn,
    assumed); pitch_mm, wavelength_mm, base_thickness_mm in mm."""

    wavelength_mm: float = 0.75
    pitch_mm: float = 0.4
    refractive_index: float = 1.72
    extinction_coefficient: float = 0.03
    base_thickness_mm: float = 0.5

    def __post_init__(self):
        _check_positive(self, "wavelength_mm", "pitch_mm", "base_thickness_mm")
        if not (math.isfinite(self.refractive_index) and self.refractive_index > 1):
            raise ValueError(f"PrintedLayerSpec.refractive_index must be > 1, got {self.refractive_index!r}")
        if not (math.isfinite(self.extinction_coefficient) and self.extinction_coefficient >= 0):
            raise ValueError(f"PrintedLayerSpec.extinction_coefficient must be ≥ 0, got {self.extinction_coefficient!r}")

    @property
    def wavelength(self) -> float:
        return self.wavelength_mm * 1e-3

    @property
    def pitch(self) -> float:
        return self.pitch_mm * 1e-3

    @property
    def height_per_2pi(self) -> float:
        """Height (m) giving a 2π phase delay: λ/(n − 1)."""
        return self.wavelength / (self.refractive_index - 1)


@dataclass(frozen=True)
class MZISpec(_Spec):
    """An integrated MZI: insertion_loss_db per MZI (dB), phase-shifter range (rad) and
    DAC resolution (bits), coupler nominal split (0.5)."""

    insertion_loss_db: float = 0.1
    phase_range_rad: float = 2 * math.pi
    dac_bits: int = 12
    nominal_split: float = 0.5

    def __post_init__(self):
        if not (math.isfinite(self.insertion_loss_db) and self.insertion_loss_db >= 0):
            raise ValueError(f"MZISpec.insertion_loss_db must be ≥ 0 dB, got {self.insertion_loss_db!r}")
        _check_positive(self, "phase_range_rad")
        if not isinstance(self.dac_bits, int) or not 1 <= self.dac_bits <= 24:
            raise ValueError(f"MZISpec.dac_bits must be an int in [1, 24], got {self.dac_bits!r}")
        if not 0 < self.nominal_split < 1:
            raise ValueError(f"MZISpec.nominal_split must be in (0, 1), got {self.nominal_split!r}")


@dataclass(frozen=True)
class DetectorSpec(_Spec):
    """A camera or photodiode array: full_well_electrons, read_noise_electrons (rms),
    adc_bits, pixel_pitch_um (µm)."""

    full_well_electrons: float = 1e4
    read_noise_electrons: float = 10.0
    adc_bits: int = 12
    pixel_pitch_um: float = 5.0

    def __post_init__(self):
        _check_positive(self, "full_well_electrons", "pixel_pitch_um")
        if not (math.isfinite(self.read_noise_electrons) and self.read_noise_electrons >= 0):
            raise ValueError(f"DetectorSpec.read_noise_electrons must be ≥ 0, got {self.read_noise_electrons!r}")
        if not isinstance(self.adc_bits, int) or not 1 <= self.adc_bits <= 24:
            raise ValueError(f"DetectorSpec.adc_bits must be an int in [1, 24], got {self.adc_bits!r}")

    def noise(self):
        """The matching :class:`hardware.errors.DetectorNoise` (read noise relative to full well)."""
        from .errors import DetectorNoise

        return DetectorNoise(self.full_well_electrons, self.read_noise_electrons / self.full_well_electrons,
                             self.adc_bits)


SPECS = {cls.__name__: cls for cls in (SLMSpec, PrintedLayerSpec, MZISpec, DetectorSpec)}
