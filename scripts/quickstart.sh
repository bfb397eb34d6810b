#!/usr/bin/env bash
# Install onnsim into .venv and run the main job (the `quickstart` experiment).
# Results go to runs/quickstart/<run-id>/ (report.md, results.h5, figures/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh test
exec .venv/bin/python -m experiments run quickstart "$@"
