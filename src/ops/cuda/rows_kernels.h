// Row gathers and weighted scatter-adds: how mixture-of-experts layers move tokens to their experts
// and back.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace turbolm::cuda {

// dst[i, :] = src[rows[i], :] as raw bytes.   src: [*, lds] rows of row_bytes; dst: [n, ldd]; rows: i32 [n]
void launch_gather_rows(const void* src, int64_t lds_bytes, const int32_t* rows, int64_t n, int64_t row_bytes,
                        void* dst, int64_t ldd_bytes, cudaStream_t stream);
// dst[rows[i], :] += weights[i] * src[i, :] in the order i = 0..n-1 (one thread per column, so the
// sum is deterministic).   src: f32 [n, lds]; dst: f32 [*, ldd]; rows: i32 [n]; weights: f32 [n]
void launch_scatter_add_rows(const float* src, int64_t lds, const int32_t* rows, const float* weights, int64_t n,
                             int64_t cols, float* dst, int64_t ldd, cudaStream_t stream);

}  // namespace turbolm::cuda
