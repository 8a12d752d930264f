#!/usr/bin/env bash
# Builds the CUDA kernels (kernels/cuda, C ABI kernels/include/bt_cuda.h) into
# kernels/cuda/build/libbt_cuda.so for sm_80 and sm_90, with warnings as errors.
# No GPU is needed to build.
#
#   bash tools/build-cuda.sh                 # compile, link, run the no-GPU ABI validation test (test/cuda)
#   bash tools/build-cuda.sh --compile-only  # objects only
#   BT_CUDA_HOME=/usr/local/cuda bash tools/build-cuda.sh   # use an installed toolkit instead
# Also: BT_CUDA_BUILD_DIR (output folder), BT_CUDA_ARCHS (default "80 90"), BT_CUBLAS_HOME.
#
# Without BT_CUDA_HOME the pinned CUDA 13.0 wheels (nvcc, runtime, CCCL, cuBLAS) are
# installed with pip into .deps/cuda (git-ignored). Failing to get them is an error:
# this script never skips the build silently.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/kernels/cuda"
INCLUDE="$ROOT/kernels/include"
OUT="${BT_CUDA_BUILD_DIR:-$SRC/build}"
ARCHS="${BT_CUDA_ARCHS:-80 90}"
COMPILE_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --compile-only) COMPILE_ONLY=1 ;;
    *) echo "build-cuda: unknown argument $arg" >&2; exit 2 ;;
  esac
done

# Versions matching the nvcc 13.0 of the GPU machines the kernels are checked on.
WHEELS=(nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-cuda-runtime==13.0.96
        nvidia-cuda-cccl==13.0.85 nvidia-cublas==13.0.2.14)

if [ -n "${BT_CUDA_HOME:-}" ]; then
  CUDA_HOME="$BT_CUDA_HOME"
else
  DEPS="$ROOT/.deps/cuda"
  STAMP="$DEPS/.installed"
  if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "${WHEELS[*]}" ]; then
    echo "build-cuda: installing ${WHEELS[*]} into $DEPS"
    rm -rf "$DEPS"
    mkdir -p "$DEPS"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-cache-dir --target "$DEPS" "${WHEELS[@]}" || {
      echo "build-cuda: FAILED to install the CUDA wheels; the CUDA build cannot run" >&2
      exit 1
    }
    echo "${WHEELS[*]}" > "$STAMP"
  fi
  CUDA_HOME="$DEPS/nvidia/cu13"
fi
NVCC="$CUDA_HOME/bin/nvcc"
# cuBLASLt's header and library: the toolkit's, or else those of an installed nvidia-cublas wheel.
CUBLAS_HOME="${BT_CUBLAS_HOME:-$CUDA_HOME}"
if [ ! -f "$CUBLAS_HOME/include/cublasLt.h" ]; then
  CUBLAS_HOME="$(python3 - <<'PY' 2>/dev/null
import glob, importlib.util, os
spec = importlib.util.find_spec("nvidia")
for base in (spec.submodule_search_locations if spec else []):
    for h in sorted(glob.glob(os.path.join(base, "*", "include", "cublasLt.h")) +
                    glob.glob(os.path.join(base, "*", "*", "include", "cublasLt.h"))):
        print(os.path.dirname(os.path.dirname(h)))
        raise SystemExit
PY
)"
  [ -n "$CUBLAS_HOME" ] || { echo "build-cuda: cublasLt.h not found (set BT_CUBLAS_HOME)" >&2; exit 1; }
fi
[ -x "$NVCC" ] || { echo "build-cuda: no nvcc at $NVCC" >&2; exit 1; }
LIBDIR="$CUDA_HOME/lib64"
[ -d "$LIBDIR" ] || LIBDIR="$CUDA_HOME/lib"
CUBLAS_LIBDIR="$CUBLAS_HOME/lib64"
[ -e "$CUBLAS_LIBDIR/libcublasLt.so" ] || ls "$CUBLAS_LIBDIR"/libcublasLt.so.* >/dev/null 2>&1 || CUBLAS_LIBDIR="$CUBLAS_HOME/lib"
# Toolkits name the library libcublasLt.so; the wheel ships only the versioned file.
if [ -e "$CUBLAS_LIBDIR/libcublasLt.so" ]; then
  CUBLASLT=(-lcublasLt)
else
  CUBLASLT=("-l:$(basename "$(ls "$CUBLAS_LIBDIR"/libcublasLt.so.* | head -1)")")
fi

GENCODE=()
for a in $ARCHS; do GENCODE+=("-gencode=arch=compute_$a,code=sm_$a"); done
# BT_CUDA_WERROR=0 keeps warnings as warnings (a device machine's newer host compiler may add some).
WERROR=(-Werror all-warnings)
[ "${BT_CUDA_WERROR:-1}" = 0 ] && WERROR=()
FLAGS=(-std=c++17 -O3 -Xcompiler -fPIC,-Wall,-Wextra "${WERROR[@]}" -I"$CUDA_HOME/include"
       -I"$CUBLAS_HOME/include" -I"$SRC" -I"$INCLUDE"
       "${GENCODE[@]}" -Xptxas -v)
mkdir -p "$OUT/obj"
echo "build-cuda: $("$NVCC" --version | tail -1); archs: $ARCHS"

SOURCES=(attention_fwd_fp32 attention_fwd_tf32 attention_fwd_bf16 attention_bwd attention_bwd_bf16
         layer_norm pack activation convert_bf16 gemm_lt encoder_layer
         decoder_kernels decode_attention decoder_stack bt_cuda_api)
SOURCES+=(graph_ops bt_cuda_api_graph_ops)
compile() {
  "$NVCC" "${FLAGS[@]}" -c "$SRC/$1.cu" -o "$OUT/obj/$1.o" > "$OUT/obj/$1.ptxas.log" 2>&1 || {
    cat "$OUT/obj/$1.ptxas.log" >&2
    return 1
  }
}
# One compile per core at a time.
jobs_max="$(nproc 2>/dev/null || echo 2)"
pids=()
status=0
for s in "${SOURCES[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do sleep 0.2; done
  compile "$s" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ "$status" = 0 ] || { echo "build-cuda: compilation FAILED" >&2; exit 1; }
cat "$OUT"/obj/*.ptxas.log > "$OUT/ptxas.log"
echo "build-cuda: compiled ${#SOURCES[@]} sources (ptxas report: $OUT/ptxas.log)"
[ "$COMPILE_ONLY" = 1 ] && exit 0

OBJS=()
for s in "${SOURCES[@]}"; do OBJS+=("$OUT/obj/$s.o"); done
# The runtime is linked statically: loading the library needs no libcudart and no driver
# (without one every call returns BT_CUDA_NO_DEVICE); cuBLASLt is found through the rpath.
"$NVCC" -shared "${GENCODE[@]}" -cudart static -o "$OUT/libbt_cuda.so" "${OBJS[@]}" -L"$LIBDIR" \
  -L"$CUBLAS_LIBDIR" "${CUBLASLT[@]}" -Xlinker -rpath,"$CUBLAS_LIBDIR" -Xlinker --no-undefined
echo "build-cuda: linked $OUT/libbt_cuda.so"

cc -std=c11 -Wall -Wextra ${WERROR:+-Werror} -I"$INCLUDE" -o "$OUT/abi_validation_test" "$ROOT/test/cuda/abi_validation_test.c" \
  -L"$OUT" -lbt_cuda -Wl,-rpath,"$OUT"
"$OUT/abi_validation_test"

cc -std=c11 -Wall -Wextra ${WERROR:+-Werror} -I"$INCLUDE" -o "$OUT/graph_ops_abi_test" "$ROOT/test/cuda/graph_ops_abi_test.c" \
  -L"$OUT" -lbt_cuda -Wl,-rpath,"$OUT"
"$OUT/graph_ops_abi_test"
