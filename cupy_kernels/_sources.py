"""CUDA C sources of the fused kernels (plain strings; no CuPy headers, so that NVRTC alone can
compile them to PTX in the CPU test suite).

Every source is a template over the precision: :func:`source` substitutes ``REAL``/``CPX``
(``float``/``float2`` for complex64, ``double``/``double2`` for complex128). Complex data is
read and written as interleaved ``(re, im)`` pairs, i.e. the memory of a contiguous torch
complex tensor. Index types are 64-bit where a product of sizes can exceed 2^31.

Kernels (all ``extern "C"``):

``pad_copy``        buf[y, b, x] = x[b, y, x] for y < ny, x < nx, else 0 (buf ``(My, B, Mx)``:
                    this layout lets the FFT skip the zero rows, see :mod:`cupy_kernels.ops`)
``crop_copy``       out[b, y, x] = buf[y, b, x] for y < ny, x < nx
``tf_multiply``     spec[ky, b, kx] *= scale · H'[ky, kx] with H' = H · R (or conj(H · R) when
                    ``conj``), R = exp(−i2π(fy·sy + fx·sx)) the optional shift ramp, fy, fx
                    in cycles per padded sample in FFT order (``k`` for ``k < (M+1)/2``, else
                    ``k − M``, over ``M``); ``sy``, ``sx`` in padded pixels
``phase_mod_fwd``   out[b, p] = u[b, p] · t[p], t = exp(iφ'(y, x)) inside the active window
                    ``[oy, oy+ay) × [ox, ox+ax)``, t = 1 (transmit) or 0 (block) outside;
                    φ' = φ, or with ``response``: wrapped to [0, 2π), quantized to ``levels``
                    (straight through), then gain·φ + offset + lut(φ) (periodic linear
                    interpolation of ``k`` samples)
``phase_mod_bwd``   gu[b, p] = g[b, p] · conj(t[p]);  gφ[p] = Σ_b Re(conj(g) · i · u · t) · dφ'/dφ
                    (each output only when its ``want_*`` flag is set)
``mesh_fwd``        applies MZI columns ``c0 .. c1-1`` of blocks ``t (L, P, 2, 2)`` to states
                    ``(B, 2P)`` in shared memory; column ``l`` couples the modes
                    ``(2m + l%2, (2m + l%2 + 1) mod 2P)``; optionally stores the state before
                    each column (for the backward)
``mesh_bwd``        the adjoint sweep: g ← T^H g column by column in reverse, and
                    t̄[l, m] += g_after ⊗ conj(s_before) (atomics over the batch)
"""

from __future__ import annotations

__all__ = ["PRECISIONS", "KERNELS", "SOURCES", "source", "kernel_name"]

PRECISIONS = {"f32": ("float", "float2"), "f64": ("double", "double2")}

_COMMON = r"""
#define REAL {real}
#define CPX {cpx}
#define TWO_PI 6.283185307179586476925286766559

__device__ __forceinline__ CPX c_make(REAL re, REAL im) { CPX r; r.x = re; r.y = im; return r; }
__device__ __forceinline__ CPX c_mul(CPX a, CPX b) { return c_make(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }
/* a * conj(b) */
__device__ __forceinline__ CPX c_mulc(CPX a, CPX b) { return c_make(a.x * b.x + a.y * b.y, a.y * b.x - a.x * b.y); }
/* conj(a) * b */
__device__ __forceinline__ CPX c_cmul(CPX a, CPX b) { return c_make(a.x * b.x + a.y * b.y, a.x * b.y - a.y * b.x); }
__device__ __forceinline__ CPX c_add(CPX a, CPX b) { return c_make(a.x + b.x, a.y + b.y); }
__device__ __forceinline__ CPX c_expi(REAL phi) { REAL s, c; sincos(phi, &s, &c); return c_make(c, s); }
"""

_PROPAGATION = r"""
/* The padded spectrum buffer is laid out (My, B, Mx): row y of batch item b at (y * B + b) * Mx.
   Then the rows y < ny of all items are contiguous (the only rows a pruned row-FFT pass must
   transform) and the columns are a plain strided batch (istride B * Mx, idist 1). */
extern "C" __global__ void pad_copy_{sfx}(const CPX* __restrict__ x, CPX* __restrict__ buf,
        long long batch, int ny, int nx, int my, int mx)
{
    long long total = batch * (long long)my * mx;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        int col = (int)(i % mx);
        long long r = i / mx;
        long long b = r % batch;
        int row = (int)(r / batch);
        buf[i] = (row < ny && col < nx) ? x[(b * ny + row) * nx + col] : c_make(0, 0);
    }
}

extern "C" __global__ void crop_copy_{sfx}(const CPX* __restrict__ buf, CPX* __restrict__ out,
        long long batch, int ny, int nx, int my, int mx)
{
    long long total = batch * (long long)ny * nx;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        int col = (int)(i % nx);
        long long r = i / nx;
        int row = (int)(r % ny);
        long long b = r / ny;
        out[i] = buf[((long long)row * batch + b) * mx + col];
    }
}

extern "C" __global__ void tf_multiply_{sfx}(CPX* __restrict__ spec, const CPX* __restrict__ h,
        long long batch, int my, int mx, REAL sy, REAL sx, int use_ramp, int conj, REAL scale)
{
    long long plane = (long long)my * mx;
    /* the filter is computed once per frequency and applied to the whole batch */
    for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < plane;
         p += (long long)blockDim.x * gridDim.x) {
        int ky = (int)(p / mx), kx = (int)(p % mx);
        CPX f = h[p];
        if (use_ramp) {
            REAL fy = (REAL)(ky < (my + 1) / 2 ? ky : ky - my) / (REAL)my;
            REAL fx = (REAL)(kx < (mx + 1) / 2 ? kx : kx - mx) / (REAL)mx;
            f = c_mul(f, c_expi(-(REAL)TWO_PI * (fy * sy + fx * sx)));
        }
        if (conj) f.y = -f.y;
        f.x *= scale; f.y *= scale;
        for (long long b = 0; b < batch; ++b) {
            long long i = ((long long)ky * batch + b) * mx + kx;
            spec[i] = c_mul(spec[i], f);
        }
    }
}
"""

_MODULATION = r"""
/* applied phase φ'(φ) and its derivative dφ'/dφ (straight-through quantization) */
__device__ __forceinline__ REAL applied_phase(REAL phi, int response, int levels, REAL gain, REAL offset,
        const REAL* __restrict__ lut, int k, REAL* deriv)
{
    if (!response) { *deriv = (REAL)1; return phi; }
    REAL w = phi - (REAL)TWO_PI * floor(phi / (REAL)TWO_PI);
    if (w >= (REAL)TWO_PI) w -= (REAL)TWO_PI;
    if (levels > 0) {
        REAL q = rint(w / (REAL)TWO_PI * levels);
        q = q - levels * floor(q / levels);
        w = q * ((REAL)TWO_PI / levels);
    }
    REAL out = gain * w + offset;
    REAL d = gain;
    if (k > 0) {
        REAL u = w / (REAL)TWO_PI * k;
        REAL fl = floor(u);
        int i0 = ((int)fl % k + k) % k;
        int i1 = (i0 + 1) % k;
        REAL frac = u - fl;
        out += lut[i0] * ((REAL)1 - frac) + lut[i1] * frac;
        d += (lut[i1] - lut[i0]) * ((REAL)k / (REAL)TWO_PI);
    }
    *deriv = d;
    return out;
}

/* transmittance at pixel (y, x); *inside says whether φ applies there */
__device__ __forceinline__ CPX transmittance(const REAL* __restrict__ phase, int y, int x, int ay, int ax,
        int oy, int ox, int block_outside, int response, int levels, REAL gain, REAL offset,
        const REAL* __restrict__ lut, int k, REAL* deriv, long long* pidx)
{
    int py = y - oy, px = x - ox;
    if (py < 0 || py >= ay || px < 0 || px >= ax) {
        *deriv = (REAL)0; *pidx = -1;
        return block_outside ? c_make(0, 0) : c_make(1, 0);
    }
    *pidx = (long long)py * ax + px;
    return c_expi(applied_phase(phase[*pidx], response, levels, gain, offset, lut, k, deriv));
}

extern "C" __global__ void phase_mod_fwd_{sfx}(const CPX* __restrict__ u, const REAL* __restrict__ phase,
        CPX* __restrict__ out, long long batch, int ny, int nx, int ay, int ax, int oy, int ox,
        int block_outside, int response, int levels, REAL gain, REAL offset,
        const REAL* __restrict__ lut, int k)
{
    long long plane = (long long)ny * nx;
    for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < plane;
         p += (long long)blockDim.x * gridDim.x) {
        REAL d; long long pi;
        CPX t = transmittance(phase, (int)(p / nx), (int)(p % nx), ay, ax, oy, ox, block_outside,
                              response, levels, gain, offset, lut, k, &d, &pi);
        for (long long b = 0; b < batch; ++b)
            out[b * plane + p] = c_mul(u[b * plane + p], t);
    }
}

extern "C" __global__ void phase_mod_bwd_{sfx}(const CPX* __restrict__ g, const CPX* __restrict__ u,
        const REAL* __restrict__ phase, CPX* __restrict__ gu, REAL* __restrict__ gphase,
        int want_gu, int want_gphase, long long batch, int ny, int nx, int ay, int ax, int oy, int ox,
        int block_outside, int response, int levels, REAL gain, REAL offset,
        const REAL* __restrict__ lut, int k)
{
    long long plane = (long long)ny * nx;
    for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < plane;
         p += (long long)blockDim.x * gridDim.x) {
        REAL d; long long pi;
        CPX t = transmittance(phase, (int)(p / nx), (int)(p % nx), ay, ax, oy, ox, block_outside,
                              response, levels, gain, offset, lut, k, &d, &pi);
        REAL acc = 0;
        for (long long b = 0; b < batch; ++b) {
            CPX gb = g[b * plane + p];
            if (want_gu) gu[b * plane + p] = c_mulc(gb, t);
            if (want_gphase && pi >= 0) {
                /* Re(conj(g) · i · u · t) = −Im(conj(g) · u · t) */
                CPX v = c_cmul(gb, c_mul(u[b * plane + p], t));
                acc -= v.y;
            }
        }
        if (want_gphase && pi >= 0) gphase[pi] = acc * d;
    }
}
"""

_MESH = r"""
/* one thread block holds blockDim.y states of length n_pad = 2P in shared memory; thread x
   handles pairs m = threadIdx.x, threadIdx.x + blockDim.x, ... of every column */
extern "C" __global__ void mesh_fwd_{sfx}(CPX* __restrict__ state, const CPX* __restrict__ t,
        CPX* __restrict__ saved, int save, int batch, int pairs, int c0, int c1)
{
    extern __shared__ unsigned char smem_raw[];
    CPX* rows = reinterpret_cast<CPX*>(smem_raw);
    int n_pad = 2 * pairs;
    int b = blockIdx.x * blockDim.y + threadIdx.y;
    bool live = b < batch;
    CPX* row = rows + threadIdx.y * n_pad;
    long long base = (long long)b * n_pad;
    if (live)
        for (int i = threadIdx.x; i < n_pad; i += blockDim.x) row[i] = state[base + i];
    __syncthreads();
    for (int l = c0; l < c1; ++l) {
        if (save && live)
            for (int i = threadIdx.x; i < n_pad; i += blockDim.x)
                saved[((long long)l * batch + b) * n_pad + i] = row[i];
        __syncthreads();
        int odd = l & 1;
        if (live)
            for (int m = threadIdx.x; m < pairs; m += blockDim.x) {
                int a = 2 * m + odd;
                int c = a + 1 == n_pad ? 0 : a + 1;
                const CPX* T = t + ((long long)l * pairs + m) * 4;
                CPX xa = row[a], xc = row[c];
                row[a] = c_add(c_mul(T[0], xa), c_mul(T[1], xc));
                row[c] = c_add(c_mul(T[2], xa), c_mul(T[3], xc));
            }
        __syncthreads();
    }
    if (live)
        for (int i = threadIdx.x; i < n_pad; i += blockDim.x) state[base + i] = row[i];
}

__device__ __forceinline__ void atomic_add_c(REAL* dst, CPX v) { atomicAdd(dst, v.x); atomicAdd(dst + 1, v.y); }

extern "C" __global__ void mesh_bwd_{sfx}(CPX* __restrict__ grad, const CPX* __restrict__ t,
        const CPX* __restrict__ saved, REAL* __restrict__ gt, int want_gt, int batch, int pairs, int c0, int c1)
{
    extern __shared__ unsigned char smem_raw[];
    CPX* rows = reinterpret_cast<CPX*>(smem_raw);
    int n_pad = 2 * pairs;
    int b = blockIdx.x * blockDim.y + threadIdx.y;
    bool live = b < batch;
    CPX* row = rows + threadIdx.y * n_pad;
    long long base = (long long)b * n_pad;
    if (live)
        for (int i = threadIdx.x; i < n_pad; i += blockDim.x) row[i] = grad[base + i];
    __syncthreads();
    for (int l = c1 - 1; l >= c0; --l) {
        int odd = l & 1;
        if (live)
            for (int m = threadIdx.x; m < pairs; m += blockDim.x) {
                int a = 2 * m + odd;
                int c = a + 1 == n_pad ? 0 : a + 1;
                long long blk = ((long long)l * pairs + m) * 4;
                const CPX* T = t + blk;
                CPX ga = row[a], gc = row[c];
                if (want_gt) {
                    const CPX* s = saved + ((long long)l * batch + b) * n_pad;
                    CPX sa = s[a], sc = s[c];
                    atomic_add_c(gt + 2 * (blk + 0), c_mulc(ga, sa));
                    atomic_add_c(gt + 2 * (blk + 1), c_mulc(ga, sc));
                    atomic_add_c(gt + 2 * (blk + 2), c_mulc(gc, sa));
                    atomic_add_c(gt + 2 * (blk + 3), c_mulc(gc, sc));
                }
                /* T^H g */
                row[a] = c_add(c_cmul(T[0], ga), c_cmul(T[2], gc));
                row[c] = c_add(c_cmul(T[1], ga), c_cmul(T[3], gc));
            }
        __syncthreads();
    }
    if (live)
        for (int i = threadIdx.x; i < n_pad; i += blockDim.x) grad[base + i] = row[i];
}
"""

SOURCES = {"propagation": _PROPAGATION, "modulation": _MODULATION, "mesh": _MESH}
KERNELS = {
    "propagation": ("pad_copy", "crop_copy", "tf_multiply"),
    "modulation": ("phase_mod_fwd", "phase_mod_bwd"),
    "mesh": ("mesh_fwd", "mesh_bwd"),
}


def source(module: str, precision: str) -> str:
    """Complete CUDA source of kernel group ``module`` for ``precision`` ("f32" or "f64")."""
    real, cpx = PRECISIONS[precision]
    body = _COMMON.replace("{real}", real).replace("{cpx}", cpx) + SOURCES[module]
    return body.replace("{sfx}", precision)


def kernel_name(name: str, precision: str) -> str:
    return f"{name}_{precision}"
