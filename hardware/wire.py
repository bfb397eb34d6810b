"""The wire format of the remote device: JSON header + raw tensor frames. Never pickle.

A message is a list of byte frames (one ZeroMQ multipart message):

* frame 0 — a UTF-8 JSON object (at most :data:`MAX_HEADER_BYTES`) with the keys
  ``v`` (format version, 1), ``op`` (what to do / what this answers), ``body`` (JSON values in
  which ``{"$t": i}`` stands for tensor i and ``{"$field": {...}}`` for an
  :class:`optics.Field`) and ``tensors`` (one descriptor per tensor: ``dtype`` from
  :data:`DTYPES`, ``shape`` (≤ 8 non-negative ints) and ``unit``, e.g. ``"rad"``), plus free
  request keys (``id``, ``session``, ``token``, ``server``);
* frame 1 + i — the C-contiguous little-endian bytes of tensor i; its length must equal
  ``prod(shape) · itemsize`` exactly.

:func:`decode` checks every one of these rules and raises :class:`WireError` with a one-line
reason; nothing received is ever executed or unpickled, so a hostile peer can at worst get an
error reply. Messages above ``max_bytes`` in total are refused before any tensor is built.
"""

from __future__ import annotations

import json
import math
import sys

import torch

from optics import Field, Grid

__all__ = ["WireError", "DTYPES", "MAX_HEADER_BYTES", "encode", "decode"]

VERSION = 1
MAX_HEADER_BYTES = 1 << 20  # 1 MiB of JSON
MAX_TENSORS = 4096
MAX_NDIM = 8
DTYPES = {"float32": torch.float32, "float64": torch.float64, "complex64": torch.complex64,
          "complex128": torch.complex128, "int64": torch.int64, "int32": torch.int32, "uint8": torch.uint8,
          "bool": torch.bool}
_NAMES = {v: k for k, v in DTYPES.items()}
_ITEMSIZE = {v: torch.empty((), dtype=v).element_size() for v in DTYPES.values()}
_PLAIN = frozenset({str, int, float, bool, type(None)})  # JSON scalars, passed through as they are

if sys.byteorder != "little":  # pragma: no cover - every supported platform is little-endian
    raise ImportError("hardware.wire sends raw little-endian tensors; this host is big-endian")


class WireError(ValueError):
    """A malformed, oversized or otherwise unacceptable message (one-line reason)."""


def encode(op: str, body, *, unit_of=None, **extra) -> list[bytes]:
    """Frames of a message. ``unit_of(path)`` names the unit of the tensor at ``path`` (a
    tuple of keys; default ``"1"``)."""
    tensors: list[torch.Tensor] = []
    descs: list[dict] = []

    def walk(v, path):
        if type(v) in _PLAIN:  # the common case first (exact types: no subclass surprises)
            return v
        if isinstance(v, torch.Tensor):
            t = v.detach().to("cpu").contiguous()
            if t.dtype not in _NAMES:
                raise WireError(f"cannot send a {t.dtype} tensor at {'/'.join(map(str, path))}; "
                                f"allowed dtypes: {', '.join(DTYPES)}")
            descs.append({"dtype": _NAMES[t.dtype], "shape": list(t.shape),
                          "unit": unit_of(path) if unit_of else "1"})
            tensors.append(t)
            return {"$t": len(tensors) - 1}
        if isinstance(v, Field):
            return {"$field": {"data": walk(v.data, path + ("data",)), "pitch": list(v.grid.pitch),
                               "wavelength": v.wavelength}}
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                raise WireError(f"dict keys must be strings at {'/'.join(map(str, path)) or 'top level'}")
            return {k: walk(x, path + (k,)) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x, path + (i,)) for i, x in enumerate(v)]
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise WireError(f"cannot send a {type(v).__name__} at {'/'.join(map(str, path))}: only tensors, "
                        "optics.Field, dicts, lists, numbers, strings and None travel")

    header = {"v": VERSION, "op": op, **extra, "body": walk(body, ()), "tensors": descs}
    head = json.dumps(header, separators=(",", ":")).encode()
    if len(head) > MAX_HEADER_BYTES:
        raise WireError(f"message header is {len(head)} bytes, the limit is {MAX_HEADER_BYTES}")
    # numpy views share the tensor memory: zmq sends them without a copy into Python bytes
    return [head] + [t.view(torch.uint8).numpy() if t.dim() and t.numel() else t.numpy().tobytes()
                     for t in tensors]


def decode(frames, *, max_bytes: int, check=None, copy: bool = True) -> dict:
    """Check and decode a received message; returns the header with ``body`` rebuilt.

    ``check(header)`` (optional) runs on the parsed header before any tensor is built (the
    server authenticates there, so an unauthenticated peer costs no tensor allocation).
    ``copy=False`` builds the tensors on the frames' own memory when it is writable (zero copy;
    the frames must not be reused — ZeroMQ hands over fresh ones for every message received
    with ``copy=False``); read-only frames (``bytes``) are copied.

    Raises:
        WireError: naming what was wrong (too large, not JSON, bad dtype/shape, length
            mismatch, unknown placeholder, ...).
    """
    frames = [memoryview(f).cast("B") for f in frames]  # bytes, zmq frames or numpy arrays
    total = sum(f.nbytes for f in frames)
    if total > max_bytes:
        raise WireError(f"message of {total} bytes exceeds this server's limit of {max_bytes} bytes")
    if not frames:
        raise WireError("empty message")
    if len(frames) - 1 > MAX_TENSORS:
        raise WireError(f"message has {len(frames) - 1} tensor frames, at most {MAX_TENSORS} are allowed")
    if len(frames[0]) > MAX_HEADER_BYTES:
        raise WireError(f"header of {len(frames[0])} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = json.loads(bytes(frames[0]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WireError("header frame is not UTF-8 JSON") from None
    if not isinstance(header, dict) or header.get("v") != VERSION or not isinstance(header.get("op"), str):
        raise WireError(f"header must be a JSON object with v = {VERSION} and a string op")
    if check is not None:
        check(header)
    descs = header.get("tensors", [])
    if not isinstance(descs, list) or len(descs) != len(frames) - 1:
        raise WireError(f"header lists {len(descs) if isinstance(descs, list) else '?'} tensors but "
                        f"{len(frames) - 1} tensor frames came")
    tensors = [_tensor(d, frames[i + 1], i, copy) for i, d in enumerate(descs)]
    used = set()

    def walk(v, depth=0):
        if type(v) in _PLAIN:
            return v
        if depth > 32:
            raise WireError("message body nests deeper than 32 levels")
        if isinstance(v, dict):
            if set(v) == {"$t"}:
                i = v["$t"]
                if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(tensors):
                    raise WireError(f"tensor placeholder {i!r} does not name one of {len(tensors)} tensors")
                used.add(i)
                return tensors[i]
            if set(v) == {"$field"}:
                return _field(walk(v["$field"], depth + 1))
            return {k: walk(x, depth + 1) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, depth + 1) for x in v]
        return v

    header["body"] = walk(header.get("body"))
    if len(used) != len(tensors):
        raise WireError(f"{len(tensors) - len(used)} tensor frames are not referenced by the body")
    return header


def _tensor(desc, frame, i: int, copy: bool) -> torch.Tensor:
    if not isinstance(desc, dict) or desc.get("dtype") not in DTYPES:
        got = desc.get("dtype") if isinstance(desc, dict) else desc
        raise WireError(f"tensor {i}: dtype {got!r} is not allowed; allowed: {', '.join(DTYPES)}")
    shape = desc.get("shape")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise WireError(f"tensor {i}: shape must be a list of at most {MAX_NDIM} non-negative ints, got {shape!r}")
    dtype = DTYPES[desc["dtype"]]
    expect = math.prod(shape) * _ITEMSIZE[dtype]
    if len(frame) != expect:
        raise WireError(f"tensor {i}: {desc['dtype']} {shape} needs {expect} bytes, the frame has {len(frame)}")
    if expect == 0:
        return torch.empty(shape, dtype=dtype)
    if copy or frame.readonly:  # bytes are read-only; zmq frames received with copy=False are not
        return torch.frombuffer(bytearray(frame), dtype=dtype).reshape(shape)
    return torch.frombuffer(frame, dtype=dtype).reshape(shape)  # keeps the frame alive


def _field(d) -> Field:
    try:
        data, pitch, wavelength = d["data"], d["pitch"], d["wavelength"]
        return Field(data, Grid(tuple(data.shape[-2:]), tuple(float(p) for p in pitch)), float(wavelength))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WireError(f"malformed optics.Field: {exc}") from None
