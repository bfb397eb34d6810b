#!/usr/bin/env bash
# Reproduction runs for docs/reproduction/dat.md (issue 11): REFERENCE.md §A and §B.
# Every run is resumable: run this script again after an interruption and finished arms
# are skipped (each run directory keeps progress.json and per-arm checkpoints).
# Usage: bash scripts/reproduce_dat.sh [part ...]   parts: main other sweep dpnn (default: all)
# Writes runs/repro/<name>/; then `python -m experiments.dat_report` writes the write-up.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
PY=.venv/bin/python
ROOT=${ONNSIM_REPRO_ROOT:-runs/repro}
parts=${*:-main other sweep dpnn}
# reduced-epoch settings for the secondary tables and the sweep (stated in the write-up)
RED_EPOCHS=${RED_EPOCHS:-2}

run() {  # name, args...
  local name=$1; shift
  echo "=== $name ($(date -u +%H:%M:%S))"
  $PY -m experiments run "$@" --out "$ROOT/$name" --resume
}

for part in $parts; do
  case $part in
    main)
      for ds in mnist fashion-mnist; do
        run "mpnn-$ds-bs0.06-ps0.06" dat-mpnn --scale paper --dataset $ds --bs-sigma 0.06 --ps-sigma 0.06
      done ;;
    other)
      # MNIST only on the 2-core machine (OTHER_DATASETS="mnist fashion-mnist" for both)
      for ds in ${OTHER_DATASETS:-mnist}; do
        for pair in "0.04 0.04" "0.04 0.06" "0.06 0.04" "0.08 0.02"; do
          set -- $pair
          run "mpnn-$ds-bs$1-ps$2-e$RED_EPOCHS" dat-mpnn --scale paper --dataset $ds --bs-sigma $1 --ps-sigma $2 \
              --epochs $RED_EPOCHS --dat-warmup-epochs 0
        done
      done ;;
    sweep)
      for s in ${SWEEP_SIGMAS:-0.02 0.06 0.10}; do
        run "sweep-bs$s-e$RED_EPOCHS" dat-mpnn --scale paper --bs-sigma $s --ps-sigma 0 --epochs $RED_EPOCHS --dat-warmup-epochs 0
        run "sweep-ps$s-e$RED_EPOCHS" dat-mpnn --scale paper --bs-sigma 0 --ps-sigma $s --epochs $RED_EPOCHS --dat-warmup-epochs 0
      done ;;
    dpnn)
      # each DESIGN.md §4 error type alone at the 'medium' magnitude of hardware/presets.py, then
      # all jointly ('medium'; at 'high' every method collapses to chance at this scale)
      for spec in "joint=medium" "shift=shift_px=0.25" "rotation=rotation_deg=0.25" "gap=gap_rel=0.005" \
                  "response=phase_gain_std=0.05,phase_offset_std=0.1,lut_nonlinearity=0.1" "quantization=phase_bits=6" \
                  "crosstalk=crosstalk_px=0.4" "fill=fill_factor=0.93" "input=input_shift_px=0.25" \
                  "detector=full_scale_photons=10000,read_noise=0.003,adc_bits=10"; do
        run "dpnn-${spec%%=*}" dat-dpnn --scale cpu --preset "${spec#*=}"
      done ;;
    *) echo "unknown part: $part (main other sweep dpnn)" >&2; exit 2 ;;
  esac
done
