"""Shared test fixtures: dtypes, devices (skipping what is missing), generators."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    """Tests never write to the user's cache (FFTW wisdom, optics._wisdom): a session tmp dir."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ONNSIM_CACHE_DIR", str(tmp_path_factory.mktemp("onnsim-cache")))
        yield


@pytest.fixture(params=[torch.complex64, torch.complex128], ids=["c64", "c128"])
def cdtype(request):
    """Both complex precisions; physics assertions use complex128."""
    return request.param


@pytest.fixture
def generator():
    """A seeded generator: tests never seed globally."""
    return torch.Generator().manual_seed(1234)


def _devices():
    devs = ["cpu"]
    if torch.cuda.is_available():
        devs.append("cuda")
    return devs


@pytest.fixture(params=_devices())
def device(request):
    return torch.device(request.param)


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
