#!/usr/bin/env bash
# The device check without a GPU: the case plan, the ctypes binding against a
# library built here (tools/build-cuda.sh), and the float64 references with
# their gradients on the CPU. PyTorch goes into .deps/cuda-check-venv (git-ignored,
# about 5 GB, a few minutes to install once).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.deps/cuda-check-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  python3 -m venv "$VENV"
  PIP_ROOT_USER_ACTION=ignore "$VENV/bin/pip" install --quiet --disable-pip-version-check torch==2.15.0 numpy==2.4.6
fi
[ -f "$ROOT/kernels/cuda/build/libbt_cuda.so" ] || bash "$ROOT/tools/build-cuda.sh"
exec "$VENV/bin/python" "$ROOT/test/device/check_cuda.py" --dry-run --out "${OUT:-/tmp/bt_cuda_dry_run}" "$@"
