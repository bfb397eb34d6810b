"""Systematic error prediction network (SEPN) of dual adaptive training.

Zheng et al., "Dual adaptive training of photonic neural networks", Nat. Mach. Intell. 5,
1119 (2023), arXiv:2212.06141; docs/references.md#dat. One SEPN sits right after each photonic
layer and corrects the numerical model residually, ``x ← x + w · SEPN(x)``.

Architecture (a complex U-Net on a single-channel complex image ``(H, W)``; every conv has
kernel ``k``, "same" padding ``(k-1)/2``, a complex bias, and is followed by CReLU
``σ(z) = ReLU(Re z) + i ReLU(Im z)`` except the output conv; no batch norm)::

    x0 (1, H, W) ── B1: conv 1→F1, F1→F1, F1→F1 ──────────────────── x1 (F1, H, W) ─┐
     │ D1: stride-2 conv 1→F1                                                        │
    d1 (F1, H/2) ── B2: conv F1→F2, F2→F2, F2→F2 ──── x2 (F2, H/2) ─┐               │
     │ D2: stride-2 conv F1→F2                                      │               │
    d2 (F2, H/4) ── B3: conv F2→F3, F3→F3, F3→F3 ── x3 (F3, H/4)    │               │
                     U1: stride-2 transposed conv F3→F2 → u1 (F2, H/2) ┴ concat (2F2) │
                     U2: stride-2 transposed conv 2F2→F1 → u2 (F1, H) ─────── concat (2F1)
                     O:  k×k conv 2F1→1 (no activation, zero-initialised) → correction

The down path branches off the *inputs* of the levels (D1 acts on x0, D2 on d1), the up
path has a single transposed conv per level, and the output conv is k×k. This is the
layout that reproduces both published sizes exactly — with ``r(ci, co) = 2(k²·ci·co + co)``
real parameters per complex conv, ``F = (4, 6, 8)`` gives 8,070 and ``F = (4, 8, 16)``
gives 19,514 (a 1×1 output conv would give 7,942 and 19,386). The Methods' "block of 3
convs per level" are B1–B3.

Complex convolutions use complex-dtype weights (``torch.nn.functional.conv2d`` accepts
complex tensors); a complex weight is two real parameters, as in the paper's count (its
reference implementation uses a pair of real convs per complex conv, each with a bias: the
same number of real parameters and, since ``(b_r, b_i) ↦ (b_r − b_i) + i(b_r + b_i)`` is a
bijection, the same function class).

Mode vectors (the 64 outputs of a mesh) become images row-major: ``modes_to_image``.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._params import count_parameters

__all__ = ["SEPN", "ResidualSEPN", "modes_to_image", "image_to_modes", "crelu"]

_COMPLEX = (torch.complex64, torch.complex128)
_REAL_OF = {torch.complex64: torch.float32, torch.complex128: torch.float64}


def crelu(z: torch.Tensor) -> torch.Tensor:
    """CReLU, ReLU on the real and imaginary parts separately (Trabelsi et al., "Deep
    complex networks", ICLR 2018): ``σ(z) = max(Re z, 0) + i max(Im z, 0)``.

    Shape:
        any complex shape, unchanged.
    """
    return torch.complex(F.relu(z.real), F.relu(z.imag))


def modes_to_image(z: torch.Tensor, shape: Sequence[int] = (8, 8)) -> torch.Tensor:
    """Reshape mode vectors row-major into images (Zheng et al. 2023: 64 modes → 8×8).

    Shape:
        ``(*batch, h·w) -> (*batch, h, w)``; ``image[..., r, c] = z[..., r·w + c]``.
    """
    h, w = _check_shape(shape)
    if not isinstance(z, torch.Tensor) or z.dim() < 1 or z.shape[-1] != h * w:
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"modes_to_image: expected (*batch, {h * w}) mode vectors for a {h}×{w} image, got {got}")
    return z.reshape(*z.shape[:-1], h, w)


def image_to_modes(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`modes_to_image`: flatten the last two axes row-major.

    Shape:
        ``(*batch, h, w) -> (*batch, h·w)``.
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"image_to_modes: expected (*batch, h, w) images, got {got}")
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def _check_shape(shape) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in shape)
        ok = all(int(s) == s for s in shape) and h > 0 and w > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"image shape must be two positive ints (h, w), got {shape!r}")
    return h, w


DENSE_SMALL_CONVS = True
"""Run the SEPN's small convolutions as dense matrix products (:func:`_dense_plan`). The same
linear maps, rounded differently (relative differences ~1e-7 in float32); ``False`` runs every
conv through the convolution routine, bit for bit as before this option existed."""


DENSE_MIN_BATCH = 8
"""Smallest batch run through the dense matrices: gathering a matrix costs about what a few
samples' convolutions do (one SEPN pass, forward + backward, at batch 1: 6.2 ms dense against
4.0 ms conv; equal at 4–16; 25 ms against 29 ms at 256)."""


def _conv(x, w, bias, transposed: bool, stride: int, k: int) -> torch.Tensor:
    p = (k - 1) // 2
    if transposed:  # output size exactly 2× the input (odd k)
        return F.conv_transpose2d(x, w, bias, stride=2, padding=p, output_padding=1)
    return F.conv2d(x, w, bias, stride=stride, padding=p)


def _dense_plan(transposed: bool, stride: int, k: int, w_shape: tuple, in_shape: tuple, device):
    """``(index, (C_out, H_out, W_out))`` for running a real conv with weight shape ``w_shape``
    on ``(C_in, H, W)`` inputs as ``x.flatten(1) @ M`` with ``M = w_flat[index]`` (``index`` =
    ``w.numel()`` where no kernel tap connects input i to output j: a zero appended to
    ``w_flat``), or None when the conv is better left to the convolution routine.

    Dense when the matrix product does at most twice the conv's multiply-adds (images of a few
    pixels: at 4×4 and 2×2 with a 3×3 kernel most taps fall on the padding) or when the conv
    reads ≤ 2 real channels (poorly vectorised by oneDNN), and ``M`` has ≤ 2^17 entries.
    Measured on this project's CPU at batch 500, forward + backward of one conv of each of the
    11 distinct shapes of a (4, 8, 16) SEPN on 8×8 images (14 convs): 37 → 27 ms; the DAT step of
    ``bench/dat_step.py``: 284 → 251 ms.
    An input element and an output element are joined by at most one kernel tap, so probing
    the conv with weights 1, 2, …, n on the identity in float64 reads the index off exactly.
    """
    return _dense_plan_cached(transposed, stride, k, w_shape, in_shape, device) if DENSE_SMALL_CONVS else None


@functools.lru_cache(maxsize=64)
def _dense_plan_cached(transposed: bool, stride: int, k: int, w_shape: tuple, in_shape: tuple, device):
    c_in, h, w = in_shape
    n = math.prod(w_shape)
    c_out = w_shape[1] if transposed else w_shape[0]
    h_out, w_out = (2 * h, 2 * w) if transposed else ((h - 1) // stride + 1, (w - 1) // stride + 1)
    in_dim, out_dim = c_in * h * w, c_out * h_out * w_out
    taps_at = h_out * w_out if transposed else h * w  # dense / conv multiply-adds = taps_at / k²
    if in_dim * out_dim > 1 << 17 or not (taps_at <= 2 * k * k or c_in <= 2):
        return None
    probe = torch.arange(1, n + 1, dtype=torch.float64).reshape(w_shape)
    eye = torch.eye(in_dim, dtype=torch.float64).reshape(in_dim, c_in, h, w)
    m = _conv(eye, probe, None, transposed, stride, k)
    if tuple(m.shape[1:]) != (c_out, h_out, w_out):  # pragma: no cover - the padding rule above
        return None
    index = m.reshape(in_dim, out_dim).round().long() - 1
    index[index < 0] = n
    return index.reshape(-1).to(device), (c_out, h_out, w_out)


@functools.lru_cache(maxsize=None)
def _block_map(w_shape: tuple, transposed: bool, device, dtype):
    """``(index, sign, block_shape)``: the real block weight of a complex conv weight ``W`` of
    ``w_shape`` is ``view_as_real(W).flatten()[index] · sign`` — [[Wr, −Wi], [Wi, Wr]], or
    [[Wr, Wi], [−Wi, Wr]] for a transposed conv's (in, out) layout. One gather and one product
    (by ±1, exact) instead of a dozen slicing and concatenation ops, forward and backward."""
    re = 2 * torch.arange(math.prod(w_shape)).reshape(w_shape)
    im = re + 1
    one = torch.ones(w_shape, dtype=dtype)
    signs = ((1, 1), (-1, 1)) if transposed else ((1, -1), (1, 1))
    index = torch.cat([torch.cat([re, im], 1), torch.cat([im, re], 1)], 0)
    sign = torch.cat([torch.cat([s * one for s in row], 1) for row in signs], 0)
    return index.reshape(-1).to(device), sign.reshape(-1).to(device), tuple(index.shape)


class _ComplexConv(nn.Module):
    """One complex conv (or stride-2 transposed conv) with complex weight and bias.

    Initialisation: real and imaginary parts i.i.d. uniform in ±1/√(c_in·k²) (PyTorch's
    default bound for each of the two real convs of a complex conv).
    """

    def __init__(self, c_in: int, c_out: int, k: int, *, stride: int = 1, transposed: bool = False,
                 dtype: torch.dtype, generator: torch.Generator | None):
        super().__init__()
        self.c_in, self.c_out, self.k, self.stride, self.transposed = c_in, c_out, k, stride, transposed
        shape = (c_in, c_out, k, k) if transposed else (c_out, c_in, k, k)
        bound = 1.0 / math.sqrt(c_in * k * k)

        def draw(*s):
            u = torch.rand(2, *s, generator=generator, dtype=torch.float64) * (2 * bound) - bound
            return torch.complex(u[0], u[1]).to(dtype)

        self.weight = nn.Parameter(draw(*shape))
        self.bias = nn.Parameter(draw(c_out))

    def zero_(self) -> "_ComplexConv":
        with torch.no_grad():
            self.weight.zero_()
            self.bias.zero_()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = (self.k - 1) // 2
        if self.transposed:  # output size exactly 2× the input (odd k)
            return F.conv_transpose2d(x, self.weight, self.bias, stride=2, padding=p, output_padding=1)
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=p)

    def forward_stacked(self, x: torch.Tensor) -> torch.Tensor:
        """The same complex conv on real-stacked channels ``[Re; Im]`` ``(N, 2 c_in, H, W)``.

        (W ⋆ z) = (Wr ⋆ x − Wi ⋆ y) + i (Wi ⋆ x + Wr ⋆ y) for z = x + iy, as one real conv
        with block weight [[Wr, −Wi], [Wi, Wr]] (transposed convs: [[Wr, Wi], [−Wi, Wr]] in
        their (in, out) layout). torch's CPU complex convolutions are 2–3× slower than this.
        Small convs run as one matrix product (:func:`_dense_plan`), the same linear map.
        """
        index, sign, shape = _block_map(tuple(self.weight.shape), self.transposed, self.weight.device,
                                        _REAL_OF[self.weight.dtype])
        w = (torch.view_as_real(self.weight).reshape(-1).index_select(0, index) * sign).view(shape)
        bias = torch.view_as_real(self.bias).t().reshape(-1)  # [Re b; Im b]
        plan = (_dense_plan(self.transposed, self.stride, self.k, tuple(w.shape), tuple(x.shape[-3:]), x.device)
                if x.shape[0] >= DENSE_MIN_BATCH else None)
        if plan is not None:  # y = x·M + b with M[i, j] = w[index[i, j]] (0 where no tap connects i to j)
            index, out_shape = plan
            m = torch.cat([w.reshape(-1), w.new_zeros(1)]).index_select(0, index).reshape(-1, math.prod(out_shape))
            y = x.reshape(x.shape[0], -1) @ m
            return y.reshape(x.shape[0], *out_shape) + bias[:, None, None]
        return _conv(x, w, bias, self.transposed, self.stride, self.k)

    def extra_repr(self) -> str:
        kind = "transposed, " if self.transposed else ""
        return f"{self.c_in}→{self.c_out}, k={self.k}, {kind}stride={2 if self.transposed else self.stride}"


class SEPN(nn.Module):
    """Complex U-Net predicting the systematic-error correction of one photonic layer.

    Zheng et al., Nat. Mach. Intell. 5 (2023), Methods; layout in the module docstring.
    ``forward`` returns the *correction* ``SEPN(x)``; use :class:`ResidualSEPN` for
    ``x + w·SEPN(x)``. The output conv is zero-initialised, so ``SEPN(x) == 0`` exactly at
    initialisation (the corrected model starts as the uncorrected one).

    Args:
        features: feature maps ``(F1, F2, F3)`` of the three levels; (4, 8, 16) is the
            paper's "~10k" SEPN (19,514 real parameters), (4, 6, 8) the "~4k" (8,070).
        kernel_size: odd kernel size ``k`` of every conv ("same" padding ``(k-1)/2``).
        dtype: complex64 or complex128.
        generator: random generator for the initial weights (explicit randomness).

    Shape:
        ``(*batch, H, W) -> (*batch, H, W)`` complex, ``H`` and ``W`` multiples of 4 (two
        stride-2 levels); a singleton channel axis ``(N, 1, H, W)`` is just a batch axis.
    """

    def __init__(self, features: Sequence[int] = (4, 8, 16), kernel_size: int = 3,
                 dtype: torch.dtype = torch.complex64, *, generator: torch.Generator | None = None):
        super().__init__()
        feats = tuple(features) if isinstance(features, (tuple, list)) else None
        if feats is None or len(feats) != 3 or not all(isinstance(f, int) and f >= 1 for f in feats):
            raise ValueError(f"features must be three positive ints (F1, F2, F3), got {features!r}")
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive int (for 'same' padding), got {kernel_size!r}")
        if dtype not in _COMPLEX:
            raise TypeError(f"dtype must be torch.complex64 or torch.complex128, got {dtype}")
        self.features, self.kernel_size, self.dtype = feats, kernel_size, dtype
        f1, f2, f3 = feats

        def conv(ci, co, **kw):
            return _ComplexConv(ci, co, kernel_size, dtype=dtype, generator=generator, **kw)

        def block(ci, co):
            return nn.ModuleList([conv(ci, co), conv(co, co), conv(co, co)])

        self.block1, self.block2, self.block3 = block(1, f1), block(f1, f2), block(f2, f3)
        self.down1, self.down2 = conv(1, f1, stride=2), conv(f1, f2, stride=2)
        self.up1, self.up2 = conv(f3, f2, transposed=True), conv(2 * f2, f1, transposed=True)
        self.out = conv(2 * f1, 1).zero_()

    @staticmethod
    def expected_real_parameters(features: Sequence[int] = (4, 8, 16), kernel_size: int = 3) -> int:
        """Closed-form real-parameter count of the layout, ``Σ 2(k²·c_in·c_out + c_out)``."""
        f1, f2, f3 = features
        k2 = kernel_size ** 2
        convs = [(1, f1), (f1, f1), (f1, f1), (f1, f2), (f2, f2), (f2, f2), (f2, f3), (f3, f3), (f3, f3),
                 (1, f1), (f1, f2), (f3, f2), (2 * f2, f1), (2 * f1, 1)]
        return sum(2 * (k2 * ci * co + co) for ci, co in convs)

    def n_real_parameters(self) -> int:
        """Number of real parameters (a complex weight counts twice)."""
        return count_parameters(self, real=True)

    def _check_input(self, x) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"SEPN input must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_complex():
            raise TypeError(f"SEPN input must be a complex image (complex64/complex128), got dtype {x.dtype}; "
                            "build it with torch.complex(real, imag) or modes_to_image(z)")
        if x.dtype != self.dtype:
            raise TypeError(f"SEPN input dtype {x.dtype} differs from the network's {self.dtype}; "
                            f"convert the input or build SEPN(dtype={x.dtype})")
        if x.dim() < 2:
            raise ValueError(f"SEPN input must be a single-channel image (*batch, H, W), got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h < 4 or w < 4 or h % 4 or w % 4:
            raise ValueError(f"SEPN image size (H, W) = ({h}, {w}) must be multiples of 4 (two stride-2 "
                             "levels), e.g. 8×8 for 64 modes")

    def unet(self, x: torch.Tensor) -> torch.Tensor:
        """The U-Net on an explicit channel axis.

        Shape:
            ``(N, 1, H, W) -> (N, 1, H, W)`` complex.
        """
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"SEPN.unet expects (N, 1, H, W) single-channel images, got shape {tuple(x.shape)}")

        # evaluated on real-stacked channels [Re; Im] (CReLU is then a plain ReLU); exactly the
        # complex network, only faster on CPU (see _ComplexConv.forward_stacked)
        def run(layers, z):
            for layer in layers:
                z = F.relu(layer.forward_stacked(z))
            return z

        def cat(a, b):
            ca, cb = a.shape[1] // 2, b.shape[1] // 2
            return torch.cat((a[:, :ca], b[:, :cb], a[:, ca:], b[:, cb:]), dim=1)

        xs = torch.cat((x.real, x.imag), dim=1)
        x1 = run(self.block1, xs)
        d1 = F.relu(self.down1.forward_stacked(xs))
        x2 = run(self.block2, d1)
        d2 = F.relu(self.down2.forward_stacked(d1))
        x3 = run(self.block3, d2)
        u1 = F.relu(self.up1.forward_stacked(x3))
        u2 = F.relu(self.up2.forward_stacked(cat(x2, u1)))
        y = self.out.forward_stacked(cat(x1, u2))
        return torch.complex(y[:, :1], y[:, 1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The correction ``SEPN(x)`` (zero at initialisation).

        Shape:
            ``(*batch, H, W) -> (*batch, H, W)`` complex.
        """
        self._check_input(x)
        batch, (h, w) = x.shape[:-2], x.shape[-2:]
        y = self.unet(x.reshape(-1, 1, h, w))
        return y.reshape(*batch, h, w)

    def extra_repr(self) -> str:
        return f"features={self.features}, kernel_size={self.kernel_size}, dtype={self.dtype}"


class ResidualSEPN(nn.Module):
    """Residual correction ``x ← x + w · SEPN(x)`` (Zheng et al. 2023; docs/references.md#dat).

    The weight ``w`` is a plain float settable at run time (DAT uses 0 for the first epochs
    of the task update, then 1); with ``w == 0`` the SEPN is skipped and ``x`` is returned
    unchanged. Identity at initialisation because the SEPN's output conv starts at zero.

    Args:
        sepn: the network; ``None`` builds ``SEPN(features, kernel_size, dtype, generator=…)``.
        features: passed to :class:`SEPN` when ``sepn`` is None.
        kernel_size: passed to :class:`SEPN` when ``sepn`` is None.
        dtype: passed to :class:`SEPN` when ``sepn`` is None.
        generator: passed to :class:`SEPN` when ``sepn`` is None.
        image_shape: ``None``: inputs are images ``(*batch, H, W)``; ``(h, w)``: inputs are
            mode vectors ``(*batch, h·w)``, reshaped row-major (:func:`modes_to_image`).
        weight: initial ``w``.

    Shape:
        ``(*batch, H, W) -> same`` or, with ``image_shape``, ``(*batch, h·w) -> same``.
    """

    def __init__(self, sepn: SEPN | None = None, *, features: Sequence[int] = (4, 8, 16), kernel_size: int = 3,
                 dtype: torch.dtype = torch.complex64, image_shape: Sequence[int] | None = None,
                 weight: float = 1.0, generator: torch.Generator | None = None):
        super().__init__()
        if sepn is not None and not isinstance(sepn, SEPN):
            raise TypeError(f"sepn must be a SEPN or None, got {type(sepn).__name__}")
        self.sepn = sepn if sepn is not None else SEPN(features, kernel_size, dtype, generator=generator)
        self.image_shape = None if image_shape is None else _check_shape(image_shape)
        if self.image_shape is not None:
            h, w = self.image_shape
            if h % 4 or w % 4:
                raise ValueError(f"image_shape {self.image_shape} must have both sides multiples of 4")
        self.weight = weight

    @property
    def weight(self) -> float:
        return self._weight

    @weight.setter
    def weight(self, value) -> None:
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"SEPN weight must be a finite float, got {value!r}")
        self._weight = v

    def n_real_parameters(self) -> int:
        return self.sepn.n_real_parameters()

    def correction(self, x: torch.Tensor) -> torch.Tensor:
        """``SEPN(x)`` in the input's layout (without the weight)."""
        if self.image_shape is None:
            return self.sepn(x)
        return image_to_modes(self.sepn(modes_to_image(x, self.image_shape)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._weight == 0.0:
            if self.image_shape is not None:
                modes_to_image(x, self.image_shape)  # same shape check as with w ≠ 0
            return x
        return x + self._weight * self.correction(x)

    def extra_repr(self) -> str:
        return f"weight={self._weight}, image_shape={self.image_shape}"
