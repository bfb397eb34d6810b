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
