// cuBLASLt is column-major: a row-major y[rows, n] = x[rows, k]·w[k, n] is the
// column-major yᵀ (n × rows) = wᵀ (n × k) · xᵀ (k × rows), with each matrix's
// row stride as its leading dimension and no transposes. The bias then runs
// along yᵀ's rows, which is what cuBLASLt's bias epilogues expect. A weight
// stored [n, k] (w_transposed) is the column-major k × n matrix, used with
// TRANSA = T.
#include "gemm_lt.h"

#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

namespace btc {

class GemmAlgoCache {
 public:
  struct Key {
    int64_t rows, n, k, ldx, ldy;
    int32_t epilogue, operands, compute;
    uint32_t align_a, align_b, align_c, align_d;
    uint8_t has_bias, has_residual, w_transposed, reserved;
    bool operator==(const Key& o) const { return std::memcmp(this, &o, sizeof(Key)) == 0; }
  };
  struct Hash {
    size_t operator()(const Key& key) const {
      // FNV-1a over the key's bytes (the key is zero-initialised, padding included).
      const auto* bytes = reinterpret_cast<const unsigned char*>(&key);
      uint64_t h = 1469598103934665603ull;
      for (size_t i = 0; i < sizeof(Key); ++i) h = (h ^ bytes[i]) * 1099511628211ull;
      return static_cast<size_t>(h);
    }
  };

  bool Find(const Key& key, cublasLtMatmulAlgo_t* algo) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = map_.find(key);
    if (it == map_.end()) return false;
    *algo = it->second;
    return true;
  }
  void Put(const Key& key, const cublasLtMatmulAlgo_t& algo) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (map_.size() >= kMaxEntries) map_.clear();  // many distinct shapes: start over rather than grow
    try {
      map_[key] = algo;
    } catch (const std::bad_alloc&) {
      // Out of host memory: the cache is only a shortcut, the next call asks the heuristic again.
    }
  }

 private:
  static constexpr size_t kMaxEntries = 4096;
  std::mutex mutex_;
  std::unordered_map<Key, cublasLtMatmulAlgo_t, Hash> map_;
};

std::shared_ptr<GemmAlgoCache> NewGemmAlgoCache() { return std::make_shared<GemmAlgoCache>(); }

namespace {

// Releases the descriptors of one call on every path.
struct LtCall {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtCall() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

// Largest power of two (up to 256) dividing the address.
uint32_t Alignment(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && a % align != 0) align /= 2;
  return align;
}

// One GEMM: x and w of element type `operands` (fp32, or bf16 copies), bias / residual / y fp32.
cublasStatus_t Gemm(const GemmLt& lt, int64_t rows, int64_t n, int64_t k, const void* x, int64_t ldx, const void* w,
                    const float* bias, const float* residual, float* y, int64_t ldy, GemmEpilogue epilogue,
                    cudaDataType_t operands, cublasComputeType_t compute, cudaStream_t stream,
                    std::string* error, bool w_transposed) {
  if (rows == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  LtCall call;
  cublasStatus_t st;
#define BT_LT(expr)                                   \
  do {                                                \
    st = (expr);                                      \
    if (st != CUBLAS_STATUS_SUCCESS) {                \
      *error = std::string(#expr).substr(0, 40);      \
      return st;                                      \
    }                                                 \
  } while (0)
  BT_LT(cublasLtMatmulDescCreate(&call.op, compute, CUDA_R_32F));
  const bool has_bias = bias != nullptr;
  const cublasLtEpilogue_t ep =
      epilogue == GemmEpilogue::kBiasRelu       ? (has_bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU)
      : epilogue == GemmEpilogue::kBiasGeluTanh ? (has_bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU)
                                                : (has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT);
  BT_LT(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof(ep)));
  if (has_bias) {
    BT_LT(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    const cudaDataType_t bias_type = CUDA_R_32F;  // fp32 whatever the operands' type
    BT_LT(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type)));
  }
  if (w_transposed) {
    const cublasOperation_t transa = CUBLAS_OP_T;
    BT_LT(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa)));
    BT_LT(cublasLtMatrixLayoutCreate(&call.a, operands, static_cast<uint64_t>(k), static_cast<uint64_t>(n), k));
  } else {
    BT_LT(cublasLtMatrixLayoutCreate(&call.a, operands, static_cast<uint64_t>(n), static_cast<uint64_t>(k), n));
  }
  BT_LT(cublasLtMatrixLayoutCreate(&call.b, operands, static_cast<uint64_t>(k), static_cast<uint64_t>(rows), ldx));
  BT_LT(cublasLtMatrixLayoutCreate(&call.c, CUDA_R_32F, static_cast<uint64_t>(n), static_cast<uint64_t>(rows), ldy));
  BT_LT(cublasLtMatmulPreferenceCreate(&call.pref));
  const uint64_t ws = lt.workspace_bytes;
  BT_LT(cublasLtMatmulPreferenceSetAttribute(call.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  // The heuristic assumes 256-byte aligned matrices unless told otherwise; column blocks of a
  // [T, 3E] buffer (separate Q/K/V weights) can be less aligned.
  const uint32_t align_a = Alignment(w), align_b = Alignment(x), align_d = Alignment(y);
  const uint32_t align_c = residual ? Alignment(residual) : align_d;
  BT_LT(cublasLtMatmulPreferenceSetAttribute(call.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                             sizeof(align_a)));
  BT_LT(cublasLtMatmulPreferenceSetAttribute(call.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                             sizeof(align_b)));
  BT_LT(cublasLtMatmulPreferenceSetAttribute(call.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c,
                                             sizeof(align_c)));
  BT_LT(cublasLtMatmulPreferenceSetAttribute(call.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d,
                                             sizeof(align_d)));
  GemmAlgoCache::Key key;
  std::memset(&key, 0, sizeof key);
  key.rows = rows; key.n = n; key.k = k; key.ldx = ldx; key.ldy = ldy;
  key.epilogue = static_cast<int32_t>(epilogue);
  key.operands = static_cast<int32_t>(operands); key.compute = static_cast<int32_t>(compute);
  key.align_a = align_a; key.align_b = align_b; key.align_c = align_c; key.align_d = align_d;
  key.has_bias = has_bias; key.has_residual = residual != nullptr; key.w_transposed = w_transposed;
  cublasLtMatmulAlgo_t algo;
  if (!lt.algos || !lt.algos->Find(key, &algo)) {
    cublasLtMatmulHeuristicResult_t heuristic{};
    int found = 0;
    BT_LT(cublasLtMatmulAlgoGetHeuristic(lt.handle, call.op, call.a, call.b, call.c, call.c, call.pref, 1, &heuristic,
                                         &found));
    if (found == 0) {
      *error = "cublasLtMatmulAlgoGetHeuristic found no algorithm";
      return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    algo = heuristic.algo;
    if (lt.algos) lt.algos->Put(key, algo);
  }
  const float alpha = 1.f, beta = residual ? 1.f : 0.f;
  BT_LT(cublasLtMatmul(lt.handle, call.op, &alpha, w, call.a, x, call.b, &beta, residual ? residual : y, call.c, y,
                       call.c, &algo, lt.workspace, lt.workspace_bytes, stream));
#undef BT_LT
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

cublasStatus_t GemmRowMajor(const GemmLt& lt, int64_t rows, int64_t n, int64_t k, const float* x, int64_t ldx,
                            const float* w, const float* bias, const float* residual, float* y, int64_t ldy,
                            GemmEpilogue epilogue, GemmMath math, cudaStream_t stream, std::string* error,
                            bool w_transposed) {
  const cublasComputeType_t compute = math == GemmMath::kBf16   ? CUBLAS_COMPUTE_32F_FAST_16BF
                                      : math == GemmMath::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                : CUBLAS_COMPUTE_32F;
  return Gemm(lt, rows, n, k, x, ldx, w, bias, residual, y, ldy, epilogue, CUDA_R_32F, compute, stream, error,
              w_transposed);
}

cublasStatus_t GemmRowMajorBf16Operands(const GemmLt& lt, int64_t rows, int64_t n, int64_t k, const __nv_bfloat16* x,
                                        int64_t ldx, const __nv_bfloat16* w, const float* bias, const float* residual,
                                        float* y, int64_t ldy, GemmEpilogue epilogue, cudaStream_t stream,
                                        std::string* error) {
  return Gemm(lt, rows, n, k, x, ldx, w, bias, residual, y, ldy, epilogue, CUDA_R_16BF, CUBLAS_COMPUTE_32F, stream,
              error, false);
}

}  // namespace btc
