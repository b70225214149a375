// Per-row quantization to 8 bits on the GPU: the activations of the W8A8 products (one scale per
// token, every call) and FP8 weights at load. The arithmetic is the CPU's (cpu/cpu_w8a8.cpp): an f32
// division by the row's scale, then the rounding, so both backends produce the same bits.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"
#include "ops/cpu/cpu_kernels.h"

namespace turbolm::cuda {

// Per row: s = max|x[r, :]| / 448, q[r, :] = e4m3(x[r, :] * (1 / s)) (nearest even, saturating), scale[r] = s.
// A row with s == 0 gets q = 0 and scale[r] = zero_scale (1 for weights, 0 for activations).
// x: [rows, ldx] in dtype (f32/bf16/f16); q: e4m3 bytes [rows, cols] contiguous; scale: f32 [rows]
void launch_quantize_rows_fp8(const void* x, DType dtype, int64_t ldx, uint8_t* q, float* scale, int64_t rows,
                              int64_t cols, float zero_scale, cudaStream_t stream);

// Per token and 128 columns (the activations of the block-scaled FP8 product): each group of a row
// quantized as launch_quantize_rows_fp8 quantizes a row (zero_scale 0). Rows [rows, rows_padded) get
// codes 0 and scale 0, so that a product over the padded rows gives them zeros.
// x: [rows, ldx] in dtype (f32/bf16/f16), cols % 128 == 0; q: e4m3 bytes [rows_padded, cols] contiguous;
// scale: f32 [cols / 128][rows_padded], the token fastest (how cuBLASLt's VEC128_32F scales are laid out)
void launch_quantize_groups_fp8(const void* x, DType dtype, int64_t ldx, uint8_t* q, float* scale, int64_t rows,
                                int64_t rows_padded, int64_t cols, cudaStream_t stream);

// Per 128 x 128 tile of weights: s = max|tile| / 448 (1 for a zero tile), q = e4m3(w * (1 / s)), as the
// CPU's quantize_blocks_fp8. w: [rows, ldw] in dtype (f32/bf16/f16), rows and cols multiples of 128;
// q: e4m3 [rows, cols] contiguous; scale: f32 [rows / 128, cols / 128]
void launch_quantize_blocks_fp8(const void* w, DType dtype, int64_t ldw, uint8_t* q, float* scale, int64_t rows,
                                int64_t cols, cudaStream_t stream);

// Per row: x' = x * inv_smooth (null: 1), s = max|x'[r, :]| / 127, q[r, :] = rint(x' / s) clamped to
// +-127 (0 when s == 0), scale[r] = s.
// x: [rows, ldx] in dtype (f32/bf16/f16); inv_smooth: f32 [cols] or null; q: int8 [rows, cols] contiguous
void launch_quantize_rows_int8_smooth(const void* x, DType dtype, int64_t ldx, const float* inv_smooth, int8_t* q,
                                      float* scale, int64_t rows, int64_t cols, cudaStream_t stream);

// FP8 activations quantized by the kernel that computes them, so that the 16-bit rows are never
// written or read back: the codes and scales (as launch_quantize_rows_fp8 with zero_scale 0) of
//   rms_norm: y = w * (x * rsqrt(mean(x^2) + eps)) rounded to dtype, as launch_rms_norm computes it;
//   act_mul:  act(gate) * up rounded to dtype (that of gate and up), as launch_act_mul computes it.
// Each returns false, having queued nothing, where the row is not fused: more than 16384 long, not
// a multiple of 8, or its rows not 16-byte aligned; the caller then runs the op and quantizes.
// x: f32 [rows, ldx]; w: f32 [cols] or null; gate, up: dtype [rows, ldg / ldu]; dtype bf16 or f16;
// q: e4m3 bytes [rows, cols] contiguous; scale: f32 [rows]
bool launch_rms_norm_fp8(const float* x, int64_t ldx, const float* w, float eps, DType dtype, uint8_t* q,
                         float* scale, int64_t rows, int64_t cols, cudaStream_t stream);
bool launch_act_mul_fp8(cpu::Activation act, const void* gate, int64_t ldg, const void* up, int64_t ldu, DType dtype,
                        uint8_t* q, float* scale, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace turbolm::cuda
