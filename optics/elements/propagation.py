"""``FreeSpace``: a propagation module that caches its transfer function."""

from __future__ import annotations

import torch
from torch import nn

from .. import _fft
from .._checks import finite_float, fraction, positive_float
from ..field import Field
from ..functional import _bandloss as _bl
from ..functional import propagation as P
from ..grid import Grid
from ._base import check_field_matches

__all__ = ["FreeSpace"]

_METHODS = ("asm", "fresnel", "rs")


class FreeSpace(nn.Module):
    """Free-space propagation over a fixed distance between planes sampled by ``grid``.

    The transfer function is computed once (float64 physics, cast to ``dtype``) and kept as
    a non-persistent buffer; it is rebuilt if a field arrives in another dtype or device.

    Args:
        grid: sampling of input and output planes.
        wavelength: λ in metres.
        distance: z in metres (negative: backwards; ``asm`` and ``fresnel`` only).
        method: ``"asm"`` (band-limited angular spectrum, default), ``"fresnel"`` or
            ``"rs"`` (Rayleigh–Sommerfeld convolution); see :mod:`optics.functional.propagation`.
        pad_factor: zero padding per axis (≥ 1; ``rs`` needs 2).
        band_limit: Matsushima band limit for ``asm``.
        taper: raised-cosine roll-off inside the band limit for ``asm`` (fraction, 0 = sharp).
        check_sampling: run the sampling checks (at construction for transfer functions,
            and, when validating, for the power removed by the band limit: on the first
            call per batch shape, and on every call when ``pad_factor < 2``, where a loss
            is an error rather than a warning).
        validate: check each call's input: non-finite values raise a clear ValueError
            (read off the first output sample of each field, see
            :func:`optics.functional.propagation._check_finite_result`), and the band-limit
            loss as above. ``None`` (default): on for CPU fields, off for CUDA fields, whose
            checks would each synchronise with the host; ``True`` / ``False`` force it.
        fft_backend: FFT implementation: ``"auto"`` (on CPU the chunked planned FFTW filter
            of :mod:`optics._fftw` from 128² padded elements, torch.fft below; torch.fft on
            GPU), ``"torch"``, ``"scipy"`` or ``"pyfftw"`` (see :mod:`optics._fft`). When
            this machine's FFTW wisdom cache already has the filter's plans (any process
            after the first to use the shape), they are made at construction (milliseconds);
            otherwise planning (FFTW_MEASURE) happens on the first call per shape, or ahead
            of it with :meth:`warm_up`.
        backend: ``"auto"`` (fused CuPy kernel for CUDA fields when CuPy works, torch
            otherwise), ``"torch"`` or ``"cupy"``; see
            :func:`optics.functional.apply_transfer_function`.

    Shape:
        Field data ``(*batch, ny, nx)`` in and out.
    """

    def __init__(self, grid: Grid, wavelength: float, distance: float, *, method: str = "asm",
                 pad_factor: float = 2, band_limit: bool = True, taper: float = 0.0, check_sampling: bool = True,
                 sampling_tol: float = 1e-2, dtype=torch.complex64, fft_backend: str = "auto",
                 backend: str = "auto", validate: bool | None = None):
        super().__init__()
        if not isinstance(grid, Grid):
            raise TypeError(f"FreeSpace grid must be an optics.Grid, got {type(grid).__name__}")
        if method not in _METHODS:
            raise ValueError(f"unknown propagation method {method!r}; choose one of {_METHODS}")
        self.grid = grid
        self.wavelength = positive_float(wavelength, "wavelength")
        self.distance = finite_float(distance, "distance")
        self.method = method
        self.pad_factor = pad_factor
        self.band_limit = bool(band_limit)
        self.taper = P._check_taper(taper)
        self.check_sampling = bool(check_sampling)
        self.sampling_tol = fraction(sampling_tol, "sampling_tol")
        if validate not in (None, True, False):
            raise ValueError(f"validate must be None (CPU fields only), True or False, got {validate!r}")
        self.validate = validate
        self._band_checked: set = set()  # batch shapes whose band-limit loss was checked
        ok, why = _fft.is_available(fft_backend)  # raises for an unknown name
        if not ok:
            raise RuntimeError(f"FreeSpace fft_backend {fft_backend!r} is unavailable: {why}; "
                               f"available: {_fft.available()}")
        self.fft_backend = fft_backend
        if fft_backend in ("auto", "pyfftw") and _fft.is_available("pyfftw")[0]:
            from .. import _fftw

            _fftw.prepare()  # imports and wisdom now, not in the first call
        import cupy_kernels  # lazily (docs/design.md#dependency-direction); validation only, CuPy is not imported

        self.backend = cupy_kernels.check_backend(backend)
        self.register_buffer("transfer", self._build(dtype, None), persistent=False)
        if method == "asm" and self.band_limit and self.check_sampling:  # the band-loss weights, now
            _bl.loss_weights(grid, self.wavelength, abs(self.distance), float(pad_factor), self.taper,
                             torch.device("cpu"))
        self._plan_from_wisdom()

    def _plan_from_wisdom(self) -> None:
        """Plan the FFTW filter now if this machine's wisdom already has it (a process after
        the first: milliseconds), so that the first call costs what the following ones do;
        a shape the wisdom lacks is measured on the first call (or by :meth:`warm_up`)."""
        h = self.transfer
        if self.fft_backend not in ("auto", "pyfftw") or not _fft.is_available("pyfftw")[0]:
            return
        one_field = h.new_empty((0, 0))  # what auto decides for a single field of this padded size
        if _fft.resolve_backend(self.fft_backend, one_field, tuple(h.shape[-2:]), op="filter") != "pyfftw":
            return
        from .. import _fftw

        _fftw.warm_up(self.grid.shape, tuple(h.shape[-2:]), h.dtype, wisdom_only=True)

    def _build(self, dtype, device) -> torch.Tensor:
        kw = dict(pad_factor=self.pad_factor, dtype=dtype, device=device)
        if self.method == "asm":
            if self.check_sampling:  # raises when a transfer function without band limit aliases
                dummy = Field(torch.zeros(self.grid.shape, dtype=dtype), self.grid, self.wavelength)
                P._check_asm_setup(dummy, self.distance, self.pad_factor, self.band_limit)
            return P.asm_transfer_function(self.grid, self.wavelength, self.distance,
                                           band_limit=self.band_limit, taper=self.taper, **kw)
        if self.method == "fresnel":
            return P.fresnel_transfer_function(self.grid, self.wavelength, self.distance,
                                               check_sampling=self.check_sampling, **kw)
        return P.rs_transfer_function(self.grid, self.wavelength, self.distance,
                                      check_sampling=self.check_sampling, **kw)

    def _transfer(self, dtype, device) -> torch.Tensor:
        h = self.transfer
        if h.dtype != dtype or h.device != device:
            h = self._build(dtype, device)
            self.transfer = h
        return h

    def forward(self, field: Field) -> Field:
        check_field_matches("FreeSpace", field, self.grid, self.wavelength)
        validate = getattr(self, "validate", None)
        if validate is None:
            validate = field.device.type == "cpu"
        check = None
        if validate and self.method == "asm" and self.band_limit and self.check_sampling:
            shape = tuple(field.data.shape)
            checked = self.__dict__.setdefault("_band_checked", set())
            if float(self.pad_factor) < 2 or shape not in checked:
                check = P._band_loss_check(field, self.distance, self.pad_factor, self.taper, self.sampling_tol)
                checked.add(shape)
        h = self._transfer(field.dtype, field.device)
        out = P.apply_transfer_function(field.data, h, spectrum_check=check, fft_backend=self.fft_backend,
                                        backend=getattr(self, "backend", "auto"))
        if check is not None:
            check.finish()
        if validate:
            P._check_finite_result(out, field.data)
        return field.replace(data=out)

    def replace(self, **changes) -> "FreeSpace":
        """A new free space with this one's settings except ``changes`` (constructor arguments,
        e.g. ``distance=`` for a moved layer or ``wavelength=`` for a detuned source), its
        transfer function on this one's device. Unknown names raise ``TypeError``.

        Example: ``fs.replace(distance=fs.distance + 1e-4)`` is the gap 0.1 mm longer.
        """
        kw = dict(grid=self.grid, wavelength=self.wavelength, distance=self.distance, method=self.method,
                  pad_factor=self.pad_factor, band_limit=self.band_limit, taper=self.taper,
                  check_sampling=self.check_sampling, sampling_tol=self.sampling_tol, dtype=self.transfer.dtype,
                  fft_backend=self.fft_backend, backend=self.backend, validate=self.validate)
        unknown = sorted(set(changes) - set(kw))
        if unknown:
            raise TypeError(f"FreeSpace.replace: unknown setting(s) {', '.join(unknown)}; settable: {', '.join(kw)}")
        return FreeSpace(**{**kw, **changes}).to(self.transfer.device)

    def warm_up(self, dtype=None, threads: int | None = None) -> float:
        """Plan this layer's FFTW filter now (or load it from the wisdom cache) rather than
        on the first call; returns the planning time in seconds. A no-op (0.0) unless the
        planned filter serves it (CPU, pyfftw installed, ``fft_backend`` "auto" or "pyfftw")."""
        h = self.transfer
        if (self.fft_backend not in ("auto", "pyfftw") or h.device.type != "cpu"
                or not _fft.is_available("pyfftw")[0]):
            return 0.0
        from .. import _fftw

        return _fftw.warm_up(self.grid.shape, tuple(h.shape[-2:]), h.dtype if dtype is None else dtype, threads)

    def extra_repr(self) -> str:
        return (f"grid={self.grid!r}, wavelength={self.wavelength:.6g} m, distance={self.distance:.6g} m, "
                f"method={self.method!r}, pad_factor={self.pad_factor}")
