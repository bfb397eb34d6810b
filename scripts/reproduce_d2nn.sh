#!/usr/bin/env bash
# Reproduction runs for docs/reproduction/d2nn.md (docs/references.md#d2nn): Lin et al.'s
# 5-layer D2NN at the published geometry on the full MNIST split, trained once with the MSE
# loss and once with softmax cross-entropy, each data-parallel over NPROC processes (torchrun,
# gloo, one thread each), then the page. Every run is resumable: run this script again after an
# interruption and it continues where the checkpoints are.
# Usage: bash scripts/reproduce_d2nn.sh      (ONNSIM_REPRO_ROOT=runs NPROC=2 by default)
# Measured on the 2-core CPU machine: ~6.5-7.5 min per epoch with 2 processes, so the mse run
# (12 epochs) takes ~1 h 30 min and the ce run (3 epochs) ~25 min. The mse learning rate is the
# default 0.05 (at the cpu scale 0.2 trained ~1 point worse over three seeds; a published-scale
# run at 0.2, 8 epochs halved every 2, reached 90.23 % against 90.74 %).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
ROOT=${ONNSIM_REPRO_ROOT:-runs}
NPROC=${NPROC:-2}

run() {  # name, args...
  local name=$1; shift
  echo "=== $name ($(date -u +%H:%M:%S))"
  local resume=()
  [ -d "$ROOT/$name" ] && resume=(--resume)  # continue a started run; a new one starts fresh
  OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node "$NPROC" -m experiments run d2nn-classifier \
      --scale published "$@" --out "$ROOT/$name" "${resume[@]}"
}

run d2nn-mse --loss mse --epochs 12 --lr-step-epochs 3 --adam-eps 1e-12  # (the mse default ε, written out)
run d2nn-ce --loss ce
.venv/bin/python -m experiments report d2nn "$ROOT/d2nn-mse" "$ROOT/d2nn-ce" --out docs/reproduction/d2nn.md
