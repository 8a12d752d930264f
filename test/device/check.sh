#!/usr/bin/env bash
# One-shot device check of the CUDA kernels, for a GPU machine with nvcc and
# PyTorch (no network needed). From the repository root:
#   bash test/device/check.sh
# Builds libbt_cuda with the machine's own nvcc (sm_80 + sm_90) and runs the ABI
# test, then test/device/check_cuda.py: parity against float64 PyTorch,
# stream ordering, timings against PyTorch SDPA and an encoder composition.
# Results: $OUT/check.json, $OUT/check.md, $OUT/build.log, $OUT/ptxas.log,
# $OUT/check.log (OUT defaults to /tmp/bt_cuda_check). BT_CHECK_BUDGET_S bounds
# the Python part (default 270 s; late timing cases are skipped). Extra arguments go to
# check_cuda.py (--only TEXT, --precisions, --skip-timing, --skip-ordering). --only matches
# '<kind>: <name>' ('|' separates alternatives); the decoding ops (RMSNorm, rotary, attention with
# a kv cache, the decoder stack) read 'decoder <kind>: <name>', so only they run with
#   bash test/device/check.sh --only decoder --skip-timing --skip-ordering
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-/tmp/bt_cuda_check}"
mkdir -p "$OUT"
BUILD="${BT_CUDA_BUILD_DIR:-/tmp/bt_cuda_build}"
export PYTHONUNBUFFERED=1

if [ -z "${BT_CUDA_HOME:-}" ]; then
  if command -v nvcc >/dev/null 2>&1; then
    BT_CUDA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
  else
    BT_CUDA_HOME=/usr/local/cuda
  fi
fi
export BT_CUDA_HOME
echo "check: CUDA toolkit $BT_CUDA_HOME" | tee "$OUT/build.log"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 | tee -a "$OUT/build.log"

t0=$(date +%s)
if ! BT_CUDA_BUILD_DIR="$BUILD" bash "$ROOT/tools/build-cuda.sh" >> "$OUT/build.log" 2>&1; then
  # Keep the device run useful: a warning from this machine's host compiler must not cost the run.
  echo "check: build with -Werror FAILED (log in build.log); retrying with warnings allowed" | tee -a "$OUT/build.log"
  grep -E "warning|error" "$OUT/build.log" | head -20
  if ! BT_CUDA_WERROR=0 BT_CUDA_BUILD_DIR="$BUILD" bash "$ROOT/tools/build-cuda.sh" >> "$OUT/build.log" 2>&1; then
    echo "check: BUILD FAILED; the end of the log:"
    tail -40 "$OUT/build.log"
    cp "$BUILD/ptxas.log" "$OUT/ptxas.log" 2>/dev/null
    exit 1
  fi
fi
cp "$BUILD/ptxas.log" "$OUT/ptxas.log" 2>/dev/null
echo "check: built in $(( $(date +%s) - t0 )) s; ABI test:"
grep -E "abi_validation_test|FAIL|device" "$OUT/build.log" | tail -5

# Optional (BT_CHECK_SANITIZE=1, where compute-sanitizer reads the GPU): out-of-bounds accesses and
# shared-memory races on a few small cases (attention, and one of each decoding op), before the main
# run, each pass capped at 150 s.
SANITIZE_CASES="D=40|rms_norm: width 257|rotary: interleaved partial|kv_cache: gqa 8/2|decoder_stack: gpt2"
if [ "${BT_CHECK_SANITIZE:-0}" = 1 ] && command -v compute-sanitizer >/dev/null 2>&1; then
  for tool in memcheck racecheck; do
    echo "check: compute-sanitizer --tool $tool" | tee -a "$OUT/sanitize.log"
    timeout 150 compute-sanitizer --tool "$tool" --print-limit 20 python3 "$ROOT/test/device/check_cuda.py" \
      --lib "$BUILD/libbt_cuda.so" --out /tmp/bt_cuda_sanitize --skip-timing --skip-ordering --only "$SANITIZE_CASES" \
      >> "$OUT/sanitize.log" 2>&1
    echo "check: $tool exit $?" | tee -a "$OUT/sanitize.log"
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/sanitize.log" | tail -2
  done
fi

python3 "$ROOT/test/device/check_cuda.py" --lib "$BUILD/libbt_cuda.so" --out "$OUT" \
  --budget-s "${BT_CHECK_BUDGET_S:-270}" "$@" 2>&1 | tee "$OUT/check.log"
exit "${PIPESTATUS[0]}"
