// Weight-only INT8 on the GPU (ops::linear_int8): a decode step of a few rows streams the int8
// weights once and widens them in registers; larger steps dequantize into a 16-bit matrix for
// cuBLASLt. Also the per-row quantizer used at load time.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"

namespace turbolm::cuda {

constexpr int64_t kGemvInt8MaxRows = 8;

// Whether launch_gemv_int8 handles this product (m <= kGemvInt8MaxRows, k % 16 == 0, 16-byte rows).
bool gemv_int8_supported(const void* x, int64_t ldx, const void* q, int64_t ldq, int64_t m, int64_t k);
// y[m, n] (+)= x[m, k] @ (q[n, k] * scale[n])^T: x in in_dtype (bf16/f16), y in out_dtype (f32 or in_dtype).
void launch_gemv_int8(const void* x, int64_t ldx, const int8_t* q, int64_t ldq, const float* scale, DType in_dtype,
                      void* y, int64_t ldy, DType out_dtype, int64_t m, int64_t n, int64_t k, bool accumulate,
                      cudaStream_t stream);
// w[n, k] = q in out_dtype (bf16/f16, which hold every int8 value exactly), rows ldq / ldw apart.
void launch_widen_int8(const int8_t* q, int64_t ldq, void* w, int64_t ldw, DType out_dtype, int64_t n, int64_t k,
                       cudaStream_t stream);
// y[m, n] (+)= p[m, n] * scale[n] + bias[n] (bias may be null); p f32, y f32 or 16-bit.
void launch_scale_columns(const float* p, int64_t ldp, const float* scale, const float* bias, void* y, int64_t ldy,
                          DType out_dtype, int64_t m, int64_t n, bool accumulate, cudaStream_t stream);
// Per row: scale = max|w| / 127, q = round(w / scale). w in dtype (f32/bf16/f16); q contiguous.
void launch_quantize_rows_int8(const void* w, DType dtype, int64_t ldw, int8_t* q, float* scale, int64_t rows,
                               int64_t cols, cudaStream_t stream);

}  // namespace turbolm::cuda
