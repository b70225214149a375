// W8A8 products that stream the 8-bit weights once per 8 tokens on the tensor cores (mma.sync on
// FP8 or INT8 fragments): the decode step's product, where at most 8 tokens share one pass over the
// weights, and the fallback for any product cuBLASLt declines. The activations come already quantized
// (w8a8_quant.h), so the result is the GEMM's function at every batch size.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"

namespace turbolm::cuda {

// Tokens that share one pass over the weights.
constexpr int64_t kGemvW8A8Tokens = 8;

// Whether launch_gemv_w8a8 handles these operands: k % 16 == 0, rows 16-byte aligned.
bool gemv_w8a8_supported(const void* xq, int64_t ldx, const void* q, int64_t ldq, int64_t k);

// Scratch bytes that launch_gemv_w8a8 can use to split k across warps (0: it would not split). Small:
// 512 bytes per 16 rows, 8 tokens and part.
int64_t gemv_w8a8_workspace_bytes(int64_t m, int64_t n, int64_t k);

// The block-scaled FP8 product (as gemm_fp8_block): y[t, r] (+)= sum_g (xq[t, g] . q[r, g]) * xscale[g *
// ldxs + t] * scale[(r / 128) * lds + g] + bias[r] over the 128-column groups g, each group's sum in f32
// from zero. n and k multiples of 128; workspace as for launch_gemv_w8a8 (the same byte count covers it).
void launch_gemv_fp8_block(const void* xq, int64_t ldx, const float* xscale, int64_t ldxs, const void* q, int64_t ldq,
                           const float* scale, int64_t lds, const float* bias, void* y, int64_t ldy, DType out_dtype,
                           int64_t m, int64_t n, int64_t k, bool accumulate, cudaStream_t stream,
                           void* workspace = nullptr);

// y[t, r] (+)= (sum_c xq[t, c] * q[r, c]) * xscale[t] * scale[r] + bias[r], the sums in f32 (FP8) or
// int32 (INT8). Any m; the weights are read ceil(m / 8) times.
// xq, q: qtype (f8e4m3 or i8) [m, ldx] and [n, ldq]; xscale: f32 [m]; scale, bias: f32 [n] (bias may be
// null); y: [m, ldy] in out_dtype (f32/bf16/f16); workspace: 16-byte aligned, at least
// gemv_w8a8_workspace_bytes(m, n, k), or null (no split k: one warp per 16 rows and 8 tokens).
// The sums are the same for every launch of the same operands, whatever order the warps run in.
void launch_gemv_w8a8(DType qtype, const void* xq, int64_t ldx, const float* xscale, const void* q, int64_t ldq,
                      const float* scale, const float* bias, void* y, int64_t ldy, DType out_dtype, int64_t m,
                      int64_t n, int64_t k, bool accumulate, cudaStream_t stream, void* workspace = nullptr);

}  // namespace turbolm::cuda
