#!/usr/bin/env bash
# Builds the TensorFlow op library with its GPU kernels (as `tools/build-tensorflow-ops.sh --gpu`
# would, but in a scratch copy so the CPU library in the tree is left alone), loads it into the
# CPU libtensorflow of tfjs-node (kernel registration needs no GPU), and checks that it registers a
# kernel on every device the op table declares, and none it does not (tools/check-gpu-op-library.js).
# Needs tools/setup-tfjs-node.sh, tools/build-cuda.sh and `npm run build` first; CI runs it after them.
# TFJS_BT_TEST_NODE_PACKAGE=@tensorflow/tfjs-node-gpu: the same against tfjs-node-gpu's CUDA build of
# libtensorflow (tools/setup-tfjs-node-gpu.sh), built against its deps/ and loaded into it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/node_gyp.sh
. "$ROOT/tools/lib/node_gyp.sh"

CUDA_BUILD="${BT_CUDA_BUILD_DIR:-$ROOT/kernels/cuda/build}"
[ -f "$CUDA_BUILD/libbt_cuda.so" ] || { echo "check-gpu-op-library: no $CUDA_BUILD/libbt_cuda.so (run tools/build-cuda.sh)" >&2; exit 1; }
PKG="${TFJS_BT_TEST_NODE_PACKAGE:-@tensorflow/tfjs-node}"
TF_DIR="$(readlink -f "${TF_DIR:-$ROOT/node_modules/$PKG/deps}")"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/kernels/bindings"
cp -r "$ROOT/kernels/include" "$ROOT/kernels/core" "$ROOT/kernels/shared" "$WORK/kernels/"
cp -r "$ROOT/kernels/bindings/tensorflow" "$WORK/kernels/bindings/"
rm -rf "$WORK/kernels/bindings/tensorflow/build"
run_node_gyp "$WORK/kernels/bindings/tensorflow" rebuild "--jobs=$(nproc 2>/dev/null || echo 2)" -- \
  "-Dtf_dir=$TF_DIR" -Dwith_cuda=1 "-Dcuda_build_dir=$CUDA_BUILD"
LIB="$WORK/kernels/bindings/tensorflow/build/Release/bt_tensorflow_ops.node"
[ -f "$LIB" ] || { echo "check-gpu-op-library: $LIB was not produced" >&2; exit 1; }
TF_CPP_MIN_LOG_LEVEL=2 node "$ROOT/tools/check-gpu-op-library.js" "$LIB"
