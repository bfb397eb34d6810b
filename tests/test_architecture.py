"""The architecture of docs/design.md, enforced on the source (AST), not by convention.

- imports go one way: optics <- photonics <- hardware <- training <- experiments;
- cupy_kernels imports nothing from the project; ``cupy`` is imported only there;
- ``meep`` only in the FDTD worker script;
- the five library packages resolve into this repository (no stray PyPI ``optics``).
"""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["optics", "photonics", "hardware", "training", "experiments"]
LIBRARY = ["optics", "photonics", "hardware", "training", "cupy_kernels"]
PROJECT = set(LAYERS) | {"cupy_kernels"}


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


def _sources(package: str):
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", LAYERS + ["cupy_kernels"])
def test_import_direction(package):
    if package == "cupy_kernels":
        allowed = set()
    else:
        allowed = set(LAYERS[: LAYERS.index(package) + 1]) | {"cupy_kernels"}
    bad = []
    for path in _sources(package):
        for name, line in _imports(path):
            if name in PROJECT and name not in allowed and name != package:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "imports against the dependency direction of docs/design.md:\n" + "\n".join(bad)


def test_cupy_only_in_cupy_kernels_and_meep_only_in_fdtd_worker():
    bad = []
    for package in LAYERS + ["cupy_kernels", "bench", "tests"]:
        for path in _sources(package):
            for name, line in _imports(path):
                if name == "cupy" and package not in ("cupy_kernels",):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports cupy")
                if name == "meep" and "fdtd_worker" not in path.name:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports meep")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", LIBRARY)
def test_packages_resolve_into_this_repository(package):
    module = importlib.import_module(package)
    assert Path(module.__file__).resolve().is_relative_to(ROOT / package), module.__file__


def test_pyproject_lists_every_library_package():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for pkg in LIBRARY
        for p in (ROOT / pkg).rglob("__init__.py")
    }
    assert found == listed, f"pyproject packages {sorted(listed)} != packages on disk {sorted(found)}"


def test_cupy_kernels_import_is_safe_without_cupy():
    import cupy_kernels

    assert isinstance(cupy_kernels.is_available(), bool)
    if not cupy_kernels.is_available():
        assert isinstance(cupy_kernels.why_unavailable(), str) and cupy_kernels.why_unavailable()
