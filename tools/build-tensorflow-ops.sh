#!/usr/bin/env bash
# Builds the TensorFlow op library (kernels/bindings/tensorflow) against the
# libtensorflow that tfjs-node uses. Run after tools/setup-tfjs-node.sh (CI does both).
# Produces kernels/bindings/tensorflow/build/Release/bt_tensorflow_ops.node.
# --gpu (or BT_TENSORFLOW_OPS_GPU=1) adds the DEVICE_GPU kernels
# (kernels/bindings/tensorflow/gpu_kernels.cc) over libbt_cuda, built first by
# tools/build-cuda.sh when missing; for tfjs-node-gpu.
# The libtensorflow: TF_DIR, else the deps/ of the tfjs-node package Node resolves from here:
# @tensorflow/tfjs-node-gpu first with --gpu, else @tensorflow/tfjs-node first (the other one
# where the first is not installed). Both are TensorFlow 2.15.1 with the same C API; the library
# joins whichever libtensorflow is in the process when it loads.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GPU="${BT_TENSORFLOW_OPS_GPU:-0}"
for arg in "$@"; do
  case "$arg" in
    --gpu) GPU=1 ;;
    *) echo "build-tensorflow-ops: unknown argument $arg" >&2; exit 2 ;;
  esac
done
# shellcheck source=lib/node_gyp.sh
. "$ROOT/tools/lib/node_gyp.sh"

# tfjs-node as Node resolves it from this package: its node_modules in a clone, a sibling in an install.
PACKAGES=(@tensorflow/tfjs-node @tensorflow/tfjs-node-gpu)
[ "$GPU" = 1 ] && PACKAGES=(@tensorflow/tfjs-node-gpu @tensorflow/tfjs-node)
TFJS_NODE=
for p in "${PACKAGES[@]}"; do
  TFJS_NODE="$(cd "$ROOT" && node -p "require('path').dirname(require.resolve('$p/package.json'))" 2>/dev/null || true)"
  [ -n "$TFJS_NODE" ] && break
done
TF_DIR="${TF_DIR:-${TFJS_NODE:+$TFJS_NODE/deps}}"
[ -n "$TF_DIR" ] || {
  echo "build-tensorflow-ops: neither @tensorflow/tfjs-node nor @tensorflow/tfjs-node-gpu is installed (npm install one, or set TF_DIR)" >&2
  exit 1
}
[ -f "$TF_DIR/include/tensorflow/c/kernels.h" ] || {
  echo "build-tensorflow-ops: no TensorFlow C headers in $TF_DIR (tfjs-node's libtensorflow; in a clone, tools/setup-tfjs-node.sh or tools/setup-tfjs-node-gpu.sh lays them out)" >&2
  exit 1
}
TF_DIR="$(readlink -f "$TF_DIR")"
GYP_DEFINES=("-Dtf_dir=$TF_DIR")
if [ "$GPU" = 1 ]; then
  CUDA_BUILD="${BT_CUDA_BUILD_DIR:-$ROOT/kernels/cuda/build}"
  if [ ! -f "$CUDA_BUILD/libbt_cuda.so" ]; then
    [ -f "$ROOT/tools/build-cuda.sh" ] || {
      echo "build-tensorflow-ops: --gpu needs libbt_cuda ($CUDA_BUILD/libbt_cuda.so), built by tools/build-cuda.sh from a clone of the repository" >&2
      exit 1
    }
    BT_CUDA_BUILD_DIR="$CUDA_BUILD" bash "$ROOT/tools/build-cuda.sh"
  fi
  GYP_DEFINES+=("-Dwith_cuda=1" "-Dcuda_build_dir=$CUDA_BUILD")
fi
run_node_gyp "$ROOT/kernels/bindings/tensorflow" rebuild "--jobs=$(nproc 2>/dev/null || echo 2)" -- "${GYP_DEFINES[@]}"
OUT="$ROOT/kernels/bindings/tensorflow/build/Release/bt_tensorflow_ops.node"
[ -f "$OUT" ] || { echo "build-tensorflow-ops: $OUT was not produced" >&2; exit 1; }
echo "build-tensorflow-ops: built $OUT (against $TF_DIR)"
