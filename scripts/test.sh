#!/usr/bin/env bash
# Install onnsim with its test extra into .venv and run the default test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
