"""Packaging metadata: licence, PEP 561 markers, versions, supported Python."""

import importlib
import importlib.metadata
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ["optics", "photonics", "hardware", "training", "cupy_kernels"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_licence_is_mit_and_declared():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 the onnsim authors" in text
    assert PYPROJECT["project"]["license"] == {"text": "MIT"}


@pytest.mark.parametrize("package", LIBRARY)
def test_package_is_typed_and_versioned(package):
    module = importlib.import_module(package)
    assert (ROOT / package / "py.typed").is_file()
    try:
        expected = importlib.metadata.version("onnsim")
    except importlib.metadata.PackageNotFoundError:
        expected = "0.0.0+unknown"
    assert module.__version__ == expected


def test_markers_ship_and_python_floor():
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["*"]
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
