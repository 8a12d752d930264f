#!/usr/bin/env bash
# Install @tensorflow/tfjs-node-gpu without letting it download libtensorflow.
#
# Like tools/setup-tfjs-node.sh, with the CUDA-enabled `tensorflow` wheel (the
# plain linux wheel is built with CUDA 12.2 / cuDNN 8.9) instead of
# tensorflow-cpu. TensorFlow dlopens the CUDA libraries at start-up: where they
# (or a GPU driver) are missing it logs why and runs on the CPU device. --cuda
# adds the CUDA 12 libraries that `tensorflow[and-cuda]==2.15.1` pins (nvidia-*
# wheels) next to libtensorflow, where its RUNPATH ($ORIGIN/../nvidia/*/lib)
# looks. See tools/setup-tfjs-node-gpu.md.
#
# Usage: tools/setup-tfjs-node-gpu.sh [--cuda] [--force] [--no-check]
#   --cuda      also install the pinned CUDA 12 libraries (~1.9 GB download,
#               ~3 GB on disk); without it TensorFlow uses a CUDA 12.2+ and
#               cuDNN 8.9 found on the library path, or else only the CPU
#   --force     rebuild the addon even when an up-to-date one is present
#   --no-check  skip `tools/check-tfjs-node.js --package @tensorflow/tfjs-node-gpu`
#
# Environment (all optional):
#   TFJS_NODE_DEPS_DIR      cache directory (default: <repo>/.deps, git-ignored)
#   TFJS_NODE_GPU_TF_WHEEL  path to an already downloaded copy of the pinned wheel
#   TFJS_NODE_EXPECT_GPU=1  make the check fail unless TensorFlow uses a GPU
#   PYTHON                  python used for `pip download` (default: python3)
#   NODE_GYP                path to node-gyp's bin/node-gyp.js (default: npm's own)
#   CXX                     compiler for the --cuda library probe (default: c++)
set -euo pipefail

# ---- pins -------------------------------------------------------------------
TFJS_NODE_VERSION=4.22.0
TF_VERSION=2.15.1
TF_WHEEL=tensorflow-2.15.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
TF_WHEEL_SHA256=bb0edd69103c154245c5f209f0507355cc68ba7e4de350084bc31edc562478e4
# tensorflow[and-cuda]==2.15.1 (the wheel's METADATA): file, sha256, requirement.
CUDA_WHEELS=(
  nvidia_cublas_cu12-12.2.5.6-py3-none-manylinux1_x86_64.whl
  f448d8db463f9a2c7dd9a1e607c0961d3e95f825b86839c5882f7d073d406df0 nvidia-cublas-cu12==12.2.5.6
  nvidia_cuda_cupti_cu12-12.2.142-py3-none-manylinux1_x86_64.whl
  ce68d1009dd14215e38ed49643d31374c71d6fea381181cb0b9da7f19dfd1624 nvidia-cuda-cupti-cu12==12.2.142
  nvidia_cuda_nvcc_cu12-12.2.140-py3-none-manylinux1_x86_64.whl
  c6ff4ae7a636eb6cab7621191e19ac3779690686bbcf52c04d8b1ca2944e1e27 nvidia-cuda-nvcc-cu12==12.2.140
  nvidia_cuda_nvrtc_cu12-12.2.140-py3-none-manylinux1_x86_64.whl
  b1cdcae6443cb7cdcfb5d1bf51896a148c9f82f9e65b27db9ab095eaed689aa7 nvidia-cuda-nvrtc-cu12==12.2.140
  nvidia_cuda_runtime_cu12-12.2.140-py3-none-manylinux1_x86_64.whl
  acb9cb7e44594a3512533497ea790d9f0b0e399abcc888584c157d1ffa080e41 nvidia-cuda-runtime-cu12==12.2.140
  nvidia_cudnn_cu12-8.9.4.25-py3-none-manylinux1_x86_64.whl
  9f882d5b11753c566fd32427839089eb4f8ba7a58c28446ad359e32c40229723 nvidia-cudnn-cu12==8.9.4.25
  nvidia_cufft_cu12-11.0.8.103-py3-none-manylinux1_x86_64.whl
  72e961e578f9be9e316ccb4db8652c421dd0b57442624faa71061d452f449a67 nvidia-cufft-cu12==11.0.8.103
  nvidia_curand_cu12-10.3.3.141-py3-none-manylinux1_x86_64.whl
  7b6bad6817b5df2a6f5ec221206fb895d9195fdd7d2443f3e86554108c141a0a nvidia-curand-cu12==10.3.3.141
  nvidia_cusolver_cu12-11.5.2.141-py3-none-manylinux1_x86_64.whl
  5a85c4653ce34339a5688137f494a0f903e0f0532418550998167f00844161da nvidia-cusolver-cu12==11.5.2.141
  nvidia_cusparse_cu12-12.1.2.141-py3-none-manylinux1_x86_64.whl
  4e13d6a51d2303dcb2a023ba09546811161f0334fc64e13689397bbd3b1eb126 nvidia-cusparse-cu12==12.1.2.141
  nvidia_nccl_cu12-2.16.5-py3-none-manylinux1_x86_64.whl
  84695a4248138fb2ca12f5fd3defe986e790e71ccdaad51b2ca34ca4e83ef421 nvidia-nccl-cu12==2.16.5
  nvidia_nvjitlink_cu12-12.2.140-py3-none-manylinux1_x86_64.whl
  95635cafbf9f96c38bea5200ab145a2e6aefbb5405e0b04c1e4ba54df2d84ec9 nvidia-nvjitlink-cu12==12.2.140
)
# -----------------------------------------------------------------------------

CUDA=0
FORCE=0
CHECK=1
for arg in "$@"; do
  case "$arg" in
    --cuda) CUDA=1 ;;
    --force) FORCE=1 ;;
    --no-check) CHECK=0 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "setup-tfjs-node-gpu: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_TAG=setup-tfjs-node-gpu
# shellcheck source=lib/node_gyp.sh
. "$ROOT/tools/lib/node_gyp.sh"
# shellcheck source=lib/tfjs_node_setup.sh
. "$ROOT/tools/lib/tfjs_node_setup.sh"
DEPS_DIR="${TFJS_NODE_DEPS_DIR:-$ROOT/.deps}"
WHEEL_DIR="$DEPS_DIR/wheels"
LIBTF_DIR="$DEPS_DIR/libtensorflow-gpu-$TF_VERSION"
TFJS_NODE_DIR="$ROOT/node_modules/@tensorflow/tfjs-node-gpu"
SECONDS=0

tfjs_preflight "$DEPS_DIR"

# ---- 1-2. pinned tensorflow wheel -> libtensorflow (lib/, include/) -----------
if tfjs_libtf_complete "$LIBTF_DIR" "$TF_WHEEL_SHA256"; then
  log "libtensorflow $TF_VERSION (CUDA build) already unpacked in $LIBTF_DIR"
else
  [ -n "${TFJS_NODE_GPU_TF_WHEEL:-}" ] &&
    tfjs_seed_wheel "$TFJS_NODE_GPU_TF_WHEEL" "$WHEEL_DIR" "$TF_WHEEL" "$TF_WHEEL_SHA256"
  tfjs_fetch_wheels "$WHEEL_DIR" "the tensorflow==$TF_VERSION wheel (475 MB)" \
    "$TF_WHEEL" "$TF_WHEEL_SHA256" "tensorflow==$TF_VERSION"
  tfjs_unpack_libtensorflow "$WHEEL_DIR/$TF_WHEEL" "tensorflow-$TF_VERSION.dist-info" \
    "$LIBTF_DIR" "$TF_WHEEL_SHA256"
fi

# ---- 2b. --cuda: the CUDA 12 libraries as <libtensorflow>/nvidia/<name>/lib ----
# libtensorflow_{cc,framework}.so.2 carry RUNPATH $ORIGIN/../nvidia/{cuda_runtime,cublas,cudnn,
# cufft,cusolver,cusparse,cuda_cupti}/lib (for site-packages/nvidia in a pip install): lib/../nvidia
# is where the wheels' own layout lands here, and the libraries find each other the same way.
CUDA_DIR="$LIBTF_DIR/nvidia"
cuda_stamp="$(printf '%s\n' "${CUDA_WHEELS[@]}" | sha256sum | cut -c1-16)"
if [ "$CUDA" = 1 ]; then
  if [ -f "$CUDA_DIR/.complete" ] && [ "$(cat "$CUDA_DIR/.complete")" = "$cuda_stamp" ]; then
    log "CUDA 12 libraries already unpacked in $CUDA_DIR"
  else
    tfjs_fetch_wheels "$WHEEL_DIR/cuda12" "the CUDA 12 libraries of tensorflow[and-cuda]==$TF_VERSION (~1.9 GB)" \
      "${CUDA_WHEELS[@]}"
    log "unpacking the CUDA 12 libraries into $CUDA_DIR"
    stage="$CUDA_DIR.tmp.$$"
    rm -rf "$stage" "$CUDA_DIR"
    mkdir -p "$stage/x" "$stage/licenses"
    for ((i = 0; i < ${#CUDA_WHEELS[@]}; i += 3)); do
      whl="$WHEEL_DIR/cuda12/${CUDA_WHEELS[$i]}"
      dist="$(basename "$whl" | cut -d- -f1-2)"
      tfjs_unzip "$whl" "$stage/x" 'nvidia/*' "$dist.dist-info/License.txt"
      mv "$stage/x/$dist.dist-info/License.txt" "$stage/licenses/$dist.txt"
    done
    # Headers and Python package markers are not needed to run.
    find "$stage/x/nvidia" -mindepth 2 -maxdepth 2 -name include -type d -exec rm -rf {} +
    find "$stage/x/nvidia" -name '__init__.py' -delete
    mv "$stage/x/nvidia"/* "$stage/"
    rm -rf "$stage/x"
    if command -v ldd >/dev/null; then
      # Every library must resolve its CUDA neighbours through its own RUNPATH.
      bad="$(find "$stage" -name '*.so*' -type f -exec sh -c 'ldd "$1" | grep "not found" | sed "s|^|$1: |"' _ {} \;)"
      [ -z "$bad" ] || die "unresolved libraries among the CUDA wheels' files:"$'\n'"$bad"
    fi
    echo "$cuda_stamp" > "$stage/.complete"
    mv "$stage" "$CUDA_DIR"
    log "CUDA 12 libraries: $(du -sh "$CUDA_DIR" | cut -f1) in $CUDA_DIR"
  fi
elif [ -d "$CUDA_DIR" ]; then
  log "CUDA 12 libraries from an earlier --cuda run stay in $CUDA_DIR (rm -rf it to drop them)"
else
  log "no CUDA libraries installed (--cuda adds them): TensorFlow uses a CUDA 12 / cuDNN 8.9 on the library path if there is one, else the CPU"
fi

# ---- 3. @tensorflow/tfjs-node-gpu in the project's node_modules ---------------
if [ "$(tfjs_installed_version "$TFJS_NODE_DIR")" = "$TFJS_NODE_VERSION" ]; then
  log "@tensorflow/tfjs-node-gpu@$TFJS_NODE_VERSION already in node_modules"
else
  tfjs_npm_install @tensorflow/tfjs-node-gpu "$TFJS_NODE_VERSION"
  [ "$(tfjs_installed_version "$TFJS_NODE_DIR")" = "$TFJS_NODE_VERSION" ] ||
    die "npm did not install @tensorflow/tfjs-node-gpu@$TFJS_NODE_VERSION"
fi
tfjs_check_one_core "$TFJS_NODE_DIR"

# ---- 4-5. deps/ -> the unpacked libtensorflow; build (or reuse) the addon -----
tfjs_link_deps "$TFJS_NODE_DIR" "$LIBTF_DIR"
tfjs_build_addon "$TFJS_NODE_DIR" "$TF_VERSION" "$DEPS_DIR/tfjs-node-addon" "$FORCE"

log "setup done in ${SECONDS}s"

# ---- 6. verify ----------------------------------------------------------------
if [ "$CHECK" = 1 ] && [ -f "$CUDA_DIR/.complete" ]; then
  # TensorFlow's own loader must open every CUDA library it needs from nvidia/ (no GPU needed).
  probe="$(mktemp -d)"
  trap 'rm -rf "$probe"' EXIT
  "${CXX:-c++}" -O0 -o "$probe/tf_gpu_libraries" "$ROOT/tools/lib/tf_gpu_libraries.cc" \
    -L"$LIBTF_DIR/lib" -l:libtensorflow_framework.so.2 -Wl,-rpath,"$LIBTF_DIR/lib"
  if ! TF_CPP_MIN_LOG_LEVEL=0 TF_CPP_VMODULE=dso_loader=1 "$probe/tf_gpu_libraries" >"$probe/log" 2>&1; then
    cat "$probe/log" >&2
    die "TensorFlow cannot load the CUDA libraries in $CUDA_DIR"
  fi
  sed -n 's/.*dso_loader.cc:[0-9]*\] //p' "$probe/log" | while read -r line; do log "$line"; done
  rm -rf "$probe"
  trap - EXIT
fi
if [ "$CHECK" = 1 ]; then
  TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-1}" TFJS_NODE_EXPECT_TF_VERSION="$TF_VERSION" \
    node "$ROOT/tools/check-tfjs-node.js" --package @tensorflow/tfjs-node-gpu
fi
