#!/usr/bin/env bash
# Optional: install MIT Meep for the FDTD validation bridge (hardware/fdtd.py, docs/validation/fdtd.md).
# Meep is not on PyPI (the PyPI "meep" is unrelated); Debian ships python3-meep for
# /usr/bin/python3 (numpy < 2). onnsim runs it out of process, so the project venv is untouched.
# Idempotent. Needs root and apt-get. Not part of scripts/setup.sh or .ci/run.
# Usage: bash scripts/setup_fdtd.sh
set -euo pipefail
py=/usr/bin/python3
if [ -x "$py" ] && "$py" -c "import meep, h5py" >/dev/null 2>&1; then
    echo "[setup_fdtd] Meep already available under $py"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[setup_fdtd] apt-get not found: install Meep with Python bindings and h5py for some interpreter" >&2
    echo "[setup_fdtd] yourself (e.g. conda-forge pymeep) and point ONNSIM_MEEP_PYTHON at that interpreter." >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "[setup_fdtd] needs root to run apt-get (try: sudo bash scripts/setup_fdtd.sh)," >&2
    echo "[setup_fdtd] or set ONNSIM_MEEP_PYTHON to an interpreter that already has meep and h5py." >&2
    exit 1
fi
echo "[setup_fdtd] installing python3-meep python3-h5py python3-matplotlib via apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3-meep python3-h5py python3-matplotlib >/dev/null
"$py" -c "import meep, h5py" >/dev/null 2>&1 \
    || { echo "[setup_fdtd] installed, but '$py -c \"import meep, h5py\"' still fails" >&2; exit 1; }
echo "[setup_fdtd] Meep available under $py"
