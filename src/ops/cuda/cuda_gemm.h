// Matrix products through cuBLASLt: y[M, N] = beta * y + x[M, K] @ w[N, K]^T, row-major, 16-bit
// inputs with f32 accumulation. Plans (descriptors and the chosen algorithm) are cached per shape,
// so a decode step pays no planning cost and the calls can be captured in a CUDA graph.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"

namespace turbolm::cuda {

// x: [M, ldx] in in_dtype (bf16/f16); w: [N, ldw] in in_dtype; y: [M, ldy] in out_dtype (f32 or in_dtype).
// beta is 0 (overwrite) or 1 (add into y: the residual connection).
void gemm(const void* x, int64_t ldx, const void* w, int64_t ldw, DType in_dtype, void* y, int64_t ldy,
          DType out_dtype, int64_t m, int64_t n, int64_t k, float beta, cudaStream_t stream);

// The cuBLASLt handle and workspace behind gemm(), for the other cuBLASLt products (w8a8_gemm.cu):
// all work is queued on one stream, so one workspace serves every product.
struct LtResources {
    void* handle = nullptr;  // cublasLtHandle_t
    void* workspace = nullptr;
    size_t workspace_bytes = 0;
};
LtResources lt_resources();

}  // namespace turbolm::cuda
