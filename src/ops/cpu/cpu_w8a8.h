// W8A8 products on the CPU (ops::linear_fp8, ops::linear_w8a8_int8): the activations are quantized
// per token exactly as the GPU quantizes them, so both backends multiply the same 8-bit values and
// differ only in the order of the sums. The reference the CUDA kernels are tested against.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace turbolm::cpu {

// Per row: s = max|x[r, :]| / 448, q[r, :] = e4m3(x[r, :] * (1 / s)) rounded to nearest even and
// saturating, scale[r] = s. A row with s == 0 (or 1 / s infinite: largest magnitude below ~1e-36) gets
// q = 0 and scale[r] = zero_scale (1 for weights, 0 for activations).
// x: [rows, cols] in dtype (f32/bf16/f16), row stride ldx; q: e4m3 bytes [rows, cols] contiguous; scale: [rows]
void quantize_rows_fp8(const void* x, DType dtype, int64_t ldx, uint8_t* q, float* scale, int64_t rows, int64_t cols,
                       float zero_scale);

// Per row: x' = x * inv_smooth (null: 1), s = max|x'[r, :]| / 127, q[r, :] = rint(x' / s) (half to even,
// clamped to +-127), scale[r] = s; a row with s == 0 gets q = 0.
// x: [rows, cols] (row stride ldx); inv_smooth: [cols] or null; q: [rows, cols] contiguous; scale: [rows]
void quantize_rows_int8_smooth(const float* x, int64_t ldx, const float* inv_smooth, int8_t* q, float* scale,
                               int64_t rows, int64_t cols);

// y[t, r] (+)= (sum_c xq[t, c] * q[r, c]) * xscale[t] * scale[r] + bias[r], xq the e4m3 codes of x
// (quantize_rows_fp8), the products of the decoded values in f32.
// x: [m, k] (row stride ldx); q: e4m3 [n, k] (row stride ldq); scale: [n]; bias: [n] or null; y: [m, n] (ldy)
void linear_fp8(const float* x, int64_t ldx, const uint8_t* q, int64_t ldq, const float* scale, const float* bias,
                float* y, int64_t ldy, int64_t m, int64_t n, int64_t k, bool accumulate);

// linear_fp8 with x already quantized: xq e4m3 [m, k] contiguous, xscale [m].
void linear_fp8_codes(const uint8_t* xq, const float* xscale, const uint8_t* q, int64_t ldq, const float* scale,
                      const float* bias, float* y, int64_t ldy, int64_t m, int64_t n, int64_t k, bool accumulate);

// y[t, r] (+)= sum_g (sum_{c in g} xq[t, c] * q[r, c]) * xscale[t, g] * scale[r / block, g] + bias[r]:
// each group of `block` columns of a token quantized as quantize_rows_fp8 quantizes a row, the f32
// sum of a group's products scaled, the groups added in order.
// x: [m, k] (ldx); q: e4m3 [n, k] (ldq); scale: [n / block, k / block]; bias: [n] or null; y: [m, n] (ldy)
// Per block x block tile of w: s = max|tile| / 448, q = e4m3(w * (1 / s)), scale[i, j] = s (1 for a
// zero tile). w: [rows, cols] in dtype (ldw), both multiples of block; q: [rows, cols] contiguous;
// scale: [rows / block, cols / block]
void quantize_blocks_fp8(const void* w, DType dtype, int64_t ldw, uint8_t* q, float* scale, int64_t rows,
                         int64_t cols, int64_t block);

void linear_fp8_block(const float* x, int64_t ldx, const uint8_t* q, int64_t ldq, const float* scale,
                      const float* bias, float* y, int64_t ldy, int64_t m, int64_t n, int64_t k, int64_t block,
                      bool accumulate);

// y[t, r] (+)= acc[t, r] * xscale[t] * scale[r] + bias[r] with acc the exact int32 sum of the products of
// quantize_rows_int8_smooth(x) and q.   shapes as linear_fp8; q: int8 [n, k]; inv_smooth: [k] or null
void linear_w8a8_int8(const float* x, int64_t ldx, const float* inv_smooth, const int8_t* q, int64_t ldq,
                      const float* scale, const float* bias, float* y, int64_t ldy, int64_t m, int64_t n, int64_t k,
                      bool accumulate);

}  // namespace turbolm::cpu
