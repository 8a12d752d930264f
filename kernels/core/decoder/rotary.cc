#include "rotary.h"

namespace btk {

bool rotary_is_valid(const btk_rotary& rotary, int64_t head_dim) {
  if (rotary.rotary_dim == 0) return true;
  return rotary.rotary_dim > 0 && rotary.rotary_dim % 2 == 0 && rotary.rotary_dim <= head_dim && rotary.cos &&
         rotary.sin && rotary.table_rows > 0;
}

void rotate_heads(const btk_rotary& rotary, float* x, int64_t heads, int64_t head_stride, int64_t head_dim,
                  int64_t position) {
  (void)head_dim;
  const int64_t half = rotary.rotary_dim / 2;
  if (half == 0) return;
  const float* cos_row = rotary.cos + position * half;
  const float* sin_row = rotary.sin + position * half;
  for (int64_t h = 0; h < heads; ++h) {
    float* head = x + h * head_stride;
    if (rotary.interleaved) {
      for (int64_t i = 0; i < half; ++i) {
        const float a = head[2 * i], b = head[2 * i + 1];
        head[2 * i] = a * cos_row[i] - b * sin_row[i];
        head[2 * i + 1] = b * cos_row[i] + a * sin_row[i];
      }
    } else {
      for (int64_t i = 0; i < half; ++i) {
        const float a = head[i], b = head[i + half];
        head[i] = a * cos_row[i] - b * sin_row[i];
        head[i + half] = b * cos_row[i] + a * sin_row[i];
      }
    }
  }
}

}  // namespace btk
