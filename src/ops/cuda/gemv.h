// Matrix-vector products for the few rows of a decode step: y[m, n] (+)= x[m, k] @ w[n, k]^T with
// m <= 4. Every weight is read once, in 16-byte loads that bypass L1, so a step runs at the speed
// the weights stream from memory; cuBLASLt takes over for larger m.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"

namespace turbolm::cuda {

constexpr int64_t kGemvMaxRows = 4;

// Whether launch_gemv handles this product (m <= kGemvMaxRows, 16-byte aligned rows, k % 8 == 0).
bool gemv_supported(const void* x, int64_t ldx, const void* w, int64_t ldw, int64_t m, int64_t k);
// x: [m, ldx] and w: [n, ldw] in in_dtype (bf16/f16); y: [m, ldy] in out_dtype (f32 or in_dtype);
// beta 0 overwrites y, 1 adds to it.
void launch_gemv(const void* x, int64_t ldx, const void* w, int64_t ldw, DType in_dtype, void* y, int64_t ldy,
                 DType out_dtype, int64_t m, int64_t n, int64_t k, float beta, cudaStream_t stream);

}  // namespace turbolm::cuda
