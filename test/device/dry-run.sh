#!/usr/bin/env bash
# The device check without a GPU: the case plan, the ctypes binding against a
# library built here (tools/build-cuda.sh; rebuilt when a source under kernels/
# is newer than it; BT_CUDA_BUILD_DIR picks the build folder, default
# kernels/cuda/build), the float64 references with their gradients on the CPU,
# and the whole parity harness at every precision against an emulated library
# (bfloat16 / TF32 rounding emulated), once correct and once broken. PyTorch goes
# into .deps/cuda-check-venv (git-ignored, about 5 GB, a few minutes to install once).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.deps/cuda-check-venv"
BUILD="${BT_CUDA_BUILD_DIR:-$ROOT/kernels/cuda/build}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  python3 -m venv "$VENV"
  PIP_ROOT_USER_ACTION=ignore "$VENV/bin/pip" install --quiet --disable-pip-version-check torch==2.15.0 numpy==2.4.6
fi
if [ ! -f "$BUILD/libbt_cuda.so" ] || [ -n "$(find "$ROOT/kernels/cuda" "$ROOT/kernels/include" "$ROOT/kernels/shared" \
    -newer "$BUILD/libbt_cuda.so" -type f \( -name '*.cu' -o -name '*.cuh' -o -name '*.h' -o -name '*.cc' \) \
    -not -path '*/build/*' 2>/dev/null | head -1)" ]; then
  BT_CUDA_BUILD_DIR="$BUILD" bash "$ROOT/tools/build-cuda.sh"
fi
exec "$VENV/bin/python" "$ROOT/test/device/check_cuda.py" --dry-run --lib "$BUILD/libbt_cuda.so" \
  --out "${OUT:-/tmp/bt_cuda_dry_run}" "$@"
