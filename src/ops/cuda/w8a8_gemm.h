// W8A8 matrix products through cuBLASLt, for steps of more than a few tokens: FP8 (e4m3 x e4m3, f32
// sums) and INT8 (int8 x int8, int32 sums), both in the "TN" layout the 8-bit tensor-core kernels take
// (activations [m, k] and weights [n, k], both row-major). Plans are cached per shape, so calls cost
// no planning once warm and can be captured in a CUDA graph. Each returns false, having queued
// nothing, when cuBLASLt offers no algorithm for the product; the caller then takes another path.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"

namespace turbolm::cuda {

// y[t, r] (+)= (xq[t, :] . q[r, :]) * xscale[t] * scale[r] + bias[r] in one cuBLASLt call, the scales
// applied by its outer-vector scaling (Hopper only) and the bias by its epilogue (where cuBLASLt takes
// that combination; otherwise the bias is a second pass). Fast accumulation unless
// TURBOLM_FP8_FAST_ACCUM=0 (see w8a8_gemm.cu for its error).
// xq: e4m3 [m, ldx]; q: e4m3 [n, ldq]; xscale: f32 [m]; scale: f32 [n]; bias: f32 [n] or null;
// y: [m, ldy] in out_dtype (f32/bf16/f16)
bool gemm_fp8_scaled(const void* xq, int64_t ldx, const float* xscale, const void* q, int64_t ldq, const float* scale,
                     const float* bias, void* y, int64_t ldy, DType out_dtype, int64_t m, int64_t n, int64_t k,
                     bool accumulate, cudaStream_t stream);

// The block-scaled FP8 product (DeepSeek's recipe): y[t, r] (+)= sum_g (xq[t, g] . q[r, g]) *
// xscale[g][t] * scale[r / 128][g] over the 128-column groups g, the sums promoted to f32 per group.
// cuBLASLt has it on Hopper for m a multiple of 4 (the caller pads the tokens).
// xq: e4m3 [m, k] contiguous; xscale: f32 [k / 128][m]; q: e4m3 [n, ldq]; scale: f32 [n / 128][ld], ld
// = k / 128 rounded up to a multiple of 4;
// y: [m, ldy] in out_dtype (f32/bf16/f16). n and k multiples of 128.
bool gemm_fp8_block(const void* xq, const float* xscale, const void* q, int64_t ldq, const float* scale, void* y,
                    int64_t ldy, DType out_dtype, int64_t m, int64_t n, int64_t k, bool accumulate,
                    cudaStream_t stream);

// p[t, r] = xq[t, :] . q[r, :], unscaled: f32 for e4m3 codes, int32 (exact) for int8 codes.
// xq: qtype [m, ldx]; q: qtype [n, ldq]; p: [m, ldp]
bool gemm_8bit(DType qtype, const void* xq, int64_t ldx, const void* q, int64_t ldq, void* p, int64_t ldp, int64_t m,
               int64_t n, int64_t k, cudaStream_t stream);

// The FP8 product split along k for shapes of few output tiles (w8a8_gemm_split.cu): the parts of
// p[s, t, r] = xq[t, ks] . q[r, ks] over the s-th k/parts-wide slice ks, as one strided-batched
// cuBLASLt call. cuBLASLt's workspace after its first `reserved` bytes (a multiple of 256) serves the
// product, so p may lie in those bytes. k % (16 * parts) == 0 and, for parts > 1, k / parts % 256 == 0.
// xq: e4m3 [m, ldx]; q: e4m3 [n, ldq]; p: f32 [parts, m, ldp], parts `slice` elements apart
bool gemm_fp8_parts(const void* xq, int64_t ldx, const void* q, int64_t ldq, float* p, int64_t ldp, int64_t slice,
                    int parts, int64_t m, int64_t n, int64_t k, size_t reserved, cudaStream_t stream);

// How gemm_fp8_scaled computes an m x n x k product: 0 through cuBLASLt's outer-vector scaling,
// otherwise through gemm_fp8_parts with this many parts and an epilogue that sums them in order and
// applies the scales, the bias and the accumulation (few output tiles: cuBLASLt's outer-vector-scaled
// kernels are slow there, its unscaled ones are not). TURBOLM_FP8_SPLIT=0 turns the split off.
int fp8_split_parts(int64_t m, int64_t n, int64_t k);

// gemm_fp8_scaled through the split; false (nothing queued) where fp8_split_parts says 0, the scratch
// does not fit cuBLASLt's workspace, or cuBLASLt declines the product.
bool gemm_fp8_split(const void* xq, int64_t ldx, const float* xscale, const void* q, int64_t ldq, const float* scale,
                    const float* bias, void* y, int64_t ldy, DType out_dtype, int64_t m, int64_t n, int64_t k,
                    bool accumulate, cudaStream_t stream);

// The scales of gemm_8bit's product: y[t, r] (+)= p[t, r] * xscale[t] * scale[r] + bias[r].
// p: f32 (qtype f8e4m3) or int32 (qtype i8) [m, ldp]; bias: f32 [n] or null; y: [m, ldy] in out_dtype
void launch_w8a8_epilogue(DType qtype, const void* p, int64_t ldp, const float* xscale, const float* scale,
                          const float* bias, void* y, int64_t ldy, DType out_dtype, int64_t m, int64_t n,
                          bool accumulate, cudaStream_t stream);

}  // namespace turbolm::cuda
