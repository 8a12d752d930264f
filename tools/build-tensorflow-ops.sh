#!/usr/bin/env bash
# Builds the TensorFlow op library (kernels/tensorflow) against the libtensorflow
# that tfjs-node uses. Run after tools/setup-tfjs-node.sh (CI does both).
# Produces kernels/tensorflow/build/Release/bt_tensorflow_ops.node.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/node_gyp.sh
. "$ROOT/tools/lib/node_gyp.sh"

TF_DIR="${TF_DIR:-$ROOT/node_modules/@tensorflow/tfjs-node/deps}"
[ -f "$TF_DIR/include/tensorflow/c/kernels.h" ] || {
  echo "build-tensorflow-ops: no TensorFlow headers in $TF_DIR (run tools/setup-tfjs-node.sh first)" >&2
  exit 1
}
TF_DIR="$(readlink -f "$TF_DIR")"
run_node_gyp "$ROOT/kernels/tensorflow" rebuild "--jobs=$(nproc 2>/dev/null || echo 2)" -- "-Dtf_dir=$TF_DIR"
OUT="$ROOT/kernels/tensorflow/build/Release/bt_tensorflow_ops.node"
[ -f "$OUT" ] || { echo "build-tensorflow-ops: $OUT was not produced" >&2; exit 1; }
echo "build-tensorflow-ops: built $OUT"
