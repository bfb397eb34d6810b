"""A tiny ctypes binding of NVRTC: compile CUDA C source to PTX without a GPU and without CuPy.

Used by the CPU test suite to catch syntax and type errors in the kernel sources
(:mod:`cupy_kernels._sources`) on machines that have no GPU: NVRTC is a pure compiler
library (``libnvrtc.so``), shipped on PyPI as ``nvidia-cuda-nvrtc`` (CUDA 13) or
``nvidia-cuda-nvrtc-cu12`` (CUDA 12), and with every CUDA toolkit.

Where the library is looked for, in order: the environment variable ``ONNSIM_NVRTC`` (a
path to ``libnvrtc.so*``), the ``nvidia`` pip packages (``nvidia/cu13/lib``,
``nvidia/cuda_nvrtc/lib``), the dynamic loader (``libnvrtc.so``, ``.so.13``, ``.so.12``),
then ``$CUDA_HOME/lib64`` and ``/usr/local/cuda*/lib64``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import importlib.util
import os

__all__ = ["load", "why_unavailable", "compile_ptx", "version", "NVRTCError"]

DEFAULT_ARCH = "compute_80"


class NVRTCError(RuntimeError):
    """NVRTC failed to compile a program; the message carries NVRTC's log."""


def _candidates() -> list[str]:
    out: list[str] = []
    env = os.environ.get("ONNSIM_NVRTC", "").strip()
    if env:
        out.append(env)
    try:
        spec = importlib.util.find_spec("nvidia")  # a namespace package of the NVIDIA wheels
    except (ImportError, ValueError):
        spec = None
    for root in (list(spec.submodule_search_locations) if spec and spec.submodule_search_locations else []):
        for sub in ("cu13/lib", "cuda_nvrtc/lib", "cu12/lib"):
            out += sorted(glob.glob(os.path.join(root, sub, "libnvrtc.so*")), reverse=True)
    found = ctypes.util.find_library("nvrtc")
    out += [found] if found else []
    out += ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"]
    homes = [os.environ.get("CUDA_HOME", ""), os.environ.get("CUDA_PATH", "")]
    homes += sorted(glob.glob("/usr/local/cuda*"), reverse=True)
    for home in homes:
        if home:
            out += sorted(glob.glob(os.path.join(home, "lib64", "libnvrtc.so*")), reverse=True)
    # builtins libraries are loaded by libnvrtc itself, not by us
    return [c for c in dict.fromkeys(out) if "builtins" not in os.path.basename(c)]


@functools.lru_cache(maxsize=1)
def _load():
    errors = []
    for cand in _candidates():
        try:
            lib = ctypes.CDLL(cand)
            lib.nvrtcVersion  # noqa: B018  (raises AttributeError if it is not NVRTC)
        except (OSError, AttributeError) as exc:
            errors.append(f"{cand}: {exc}")
            continue
        _declare(lib)
        return lib, None
    return None, ("libnvrtc could not be loaded (install the PyPI package 'nvidia-cuda-nvrtc' or a "
                  "CUDA toolkit, or set ONNSIM_NVRTC to libnvrtc.so); tried: " + "; ".join(errors[-4:]))


def _declare(lib) -> None:
    c_int_p = ctypes.POINTER(ctypes.c_int)
    prog_p = ctypes.POINTER(ctypes.c_void_p)
    lib.nvrtcVersion.argtypes = [c_int_p, c_int_p]
    lib.nvrtcCreateProgram.argtypes = [prog_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                                       ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p)]
    lib.nvrtcCompileProgram.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
    lib.nvrtcGetProgramLogSize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    lib.nvrtcGetProgramLog.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nvrtcGetPTXSize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    lib.nvrtcGetPTX.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nvrtcDestroyProgram.argtypes = [prog_p]
    lib.nvrtcGetErrorString.argtypes = [ctypes.c_int]
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    for name in ("nvrtcVersion", "nvrtcCreateProgram", "nvrtcCompileProgram", "nvrtcGetProgramLogSize",
                 "nvrtcGetProgramLog", "nvrtcGetPTXSize", "nvrtcGetPTX", "nvrtcDestroyProgram"):
        getattr(lib, name).restype = ctypes.c_int


def load():
    """The loaded NVRTC library (ctypes.CDLL); raises RuntimeError naming why not."""
    lib, why = _load()
    if lib is None:
        raise RuntimeError(why)
    return lib


def why_unavailable() -> str | None:
    """None when NVRTC can be loaded, else the reason."""
    return _load()[1]


def version() -> tuple[int, int]:
    """NVRTC's (major, minor) version."""
    lib = load()
    major, minor = ctypes.c_int(), ctypes.c_int()
    _check(lib, lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
    return major.value, minor.value


def _check(lib, status: int, what: str) -> None:
    if status != 0:
        msg = lib.nvrtcGetErrorString(status)
        raise NVRTCError(f"{what} failed: {msg.decode() if msg else status}")


def compile_ptx(source: str, name: str = "kernel.cu", *, arch: str = DEFAULT_ARCH,
                options: tuple[str, ...] = ()) -> str:
    """Compile CUDA C ``source`` to PTX text for virtual architecture ``arch``.

    Needs no GPU. Raises :class:`NVRTCError` with the compiler log on a compile error and
    RuntimeError when NVRTC is not installed.
    """
    lib = load()
    prog = ctypes.c_void_p()
    _check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None),
           "nvrtcCreateProgram")
    try:
        opts = [f"--gpu-architecture={arch}", *options]  # no -default-device: as CuPy compiles
        arr = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
        status = lib.nvrtcCompileProgram(prog, len(opts), arr)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(max(size.value, 1))
        lib.nvrtcGetProgramLog(prog, log)
        if status != 0:
            raise NVRTCError(f"NVRTC could not compile {name} for {arch}:\n{log.value.decode(errors='replace')}")
        _check(lib, lib.nvrtcGetPTXSize(prog, ctypes.byref(size)), "nvrtcGetPTXSize")
        ptx = ctypes.create_string_buffer(size.value)
        _check(lib, lib.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
        return ptx.value.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))
