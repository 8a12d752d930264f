// Padding removal for the encoder layer: gather the real tokens of [B, S, E]
// into a packed [T, E] buffer, and scatter the packed result back, writing
// exact zeros into padding rows. token_of_row[r] is the packed index of row r
// of the padded tensor, or −1 for padding.
#include "encoder_kernels.h"

namespace btc {
namespace {

__global__ void PackRowsKernel(const float* x, const int* row_of_token, float* packed, int64_t tokens, int width) {
  const int64_t t = blockIdx.x;
  if (t >= tokens) return;
  const float* src = x + static_cast<int64_t>(row_of_token[t]) * width;
  float* dst = packed + t * width;
  for (int c = threadIdx.x; c < width; c += blockDim.x) dst[c] = src[c];
}

__global__ void UnpackRowsKernel(const float* packed, const int* token_of_row, float* y, int64_t rows, int width) {
  const int64_t r = blockIdx.x;
  if (r >= rows) return;
  const int t = token_of_row[r];
  float* dst = y + r * width;
  if (t < 0) {
    for (int c = threadIdx.x; c < width; c += blockDim.x) dst[c] = 0.f;
  } else {
    const float* src = packed + static_cast<int64_t>(t) * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x) dst[c] = src[c];
  }
}

}  // namespace

cudaError_t LaunchPackRows(const float* x, const int* row_of_token, float* packed, int64_t tokens, int width,
                           cudaStream_t stream) {
  if (tokens == 0) return cudaSuccess;
  PackRowsKernel<<<static_cast<unsigned>(tokens), 128, 0, stream>>>(x, row_of_token, packed, tokens, width);
  return cudaGetLastError();
}

cudaError_t LaunchUnpackRows(const float* packed, const int* token_of_row, float* y, int64_t rows, int width,
                             cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  UnpackRowsKernel<<<static_cast<unsigned>(rows), 128, 0, stream>>>(packed, token_of_row, y, rows, width);
  return cudaGetLastError();
}

}  // namespace btc
