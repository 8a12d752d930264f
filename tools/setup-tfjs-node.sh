#!/usr/bin/env bash
# Install @tensorflow/tfjs-node without letting it download libtensorflow.
#
# The libtensorflow C library is taken from the pinned tensorflow-cpu pip
# wheel instead (libtensorflow_cc.so.2 exports the TF_*/TFE_* C API), and the
# tfjs-node native addon is compiled against it with the node-gyp that ships
# with npm. See tools/setup-tfjs-node.md (tools/setup-tfjs-node-gpu.sh does the
# same for @tensorflow/tfjs-node-gpu; the steps they share are in tools/lib/tfjs_node_setup.sh).
#
# Usage: tools/setup-tfjs-node.sh [--force] [--no-check]
#   --force     rebuild the addon even when an up-to-date one is present
#   --no-check  skip tools/check-tfjs-node.js at the end
#
# Environment (all optional):
#   TFJS_NODE_DEPS_DIR  cache directory (default: <repo>/.deps, git-ignored)
#   TFJS_NODE_TF_WHEEL  path to an already downloaded copy of the pinned wheel
#   PYTHON              python used for `pip download` (default: python3)
#   NODE_GYP            path to node-gyp's bin/node-gyp.js (default: npm's own)
set -euo pipefail

# ---- pins -------------------------------------------------------------------
TFJS_NODE_VERSION=4.22.0
TF_VERSION=2.15.1
TF_WHEEL=tensorflow_cpu-2.15.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
TF_WHEEL_SHA256=54660c074d7241a503e81edfd9f5ef5af88f64051b72e2945f26318c790f2d26
# -----------------------------------------------------------------------------

FORCE=0
CHECK=1
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --no-check) CHECK=0 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "setup-tfjs-node: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_TAG=setup-tfjs-node
# shellcheck source=lib/node_gyp.sh
. "$ROOT/tools/lib/node_gyp.sh"
# shellcheck source=lib/tfjs_node_setup.sh
. "$ROOT/tools/lib/tfjs_node_setup.sh"
DEPS_DIR="${TFJS_NODE_DEPS_DIR:-$ROOT/.deps}"
WHEEL_DIR="$DEPS_DIR/wheels"
LIBTF_DIR="$DEPS_DIR/libtensorflow-cpu-$TF_VERSION"
TFJS_NODE_DIR="$ROOT/node_modules/@tensorflow/tfjs-node"
SECONDS=0

tfjs_preflight "$DEPS_DIR"

# ---- 1-2. pinned tensorflow-cpu wheel -> libtensorflow (lib/, include/) -------
if tfjs_libtf_complete "$LIBTF_DIR" "$TF_WHEEL_SHA256"; then
  log "libtensorflow $TF_VERSION already unpacked in $LIBTF_DIR"
else
  [ -n "${TFJS_NODE_TF_WHEEL:-}" ] &&
    tfjs_seed_wheel "$TFJS_NODE_TF_WHEEL" "$WHEEL_DIR" "$TF_WHEEL" "$TF_WHEEL_SHA256"
  tfjs_fetch_wheels "$WHEEL_DIR" "the tensorflow-cpu==$TF_VERSION wheel (~200 MB)" \
    "$TF_WHEEL" "$TF_WHEEL_SHA256" "tensorflow-cpu==$TF_VERSION"
  tfjs_unpack_libtensorflow "$WHEEL_DIR/$TF_WHEEL" "tensorflow_cpu-$TF_VERSION.dist-info" \
    "$LIBTF_DIR" "$TF_WHEEL_SHA256"
fi

# ---- 3. @tensorflow/tfjs-node in the project's node_modules ----------------
if [ "$(tfjs_installed_version "$TFJS_NODE_DIR")" = "$TFJS_NODE_VERSION" ]; then
  log "@tensorflow/tfjs-node@$TFJS_NODE_VERSION already in node_modules"
else
  tfjs_npm_install @tensorflow/tfjs-node "$TFJS_NODE_VERSION"
  [ "$(tfjs_installed_version "$TFJS_NODE_DIR")" = "$TFJS_NODE_VERSION" ] ||
    die "npm did not install @tensorflow/tfjs-node@$TFJS_NODE_VERSION"
fi
tfjs_check_one_core "$TFJS_NODE_DIR"

# ---- 4-5. deps/ -> the unpacked libtensorflow; build (or reuse) the addon -----
tfjs_link_deps "$TFJS_NODE_DIR" "$LIBTF_DIR"
tfjs_build_addon "$TFJS_NODE_DIR" "$TF_VERSION" "$DEPS_DIR/tfjs-node-addon" "$FORCE"

log "setup done in ${SECONDS}s"

# ---- 6. verify ----------------------------------------------------------------
if [ "$CHECK" = 1 ]; then
  # TF_CPP_MIN_LOG_LEVEL=1 hides libtensorflow's INFO banner (oneDNN, CPU flags).
  TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-1}" TFJS_NODE_EXPECT_TF_VERSION="$TF_VERSION" \
    node "$ROOT/tools/check-tfjs-node.js"
fi
