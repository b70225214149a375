// 8-bit KV cache entries on the CPU: each head vector of a token's key or value is stored as int8 or
// FP8 (E4M3) codes with one f32 scale, symmetric, so that the vector is codes * scale.
//   scale = max|x| / 127 (int8) or max|x| / 448 (e4m3); 1 when that is 0 (an all-zero vector)
//   int8: code = clamp(rint(x / scale), -127, 127), rint rounding half to even
//   e4m3: code = e4m3(x / scale), rounded to nearest even and saturating at +-448
// The division is a true f32 division on both backends so that the GPU writes the same codes.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace turbolm::cpu {

constexpr float kKvInt8Max = 127.0f;
constexpr float kKvFp8Max = 448.0f;  // the largest finite E4M3 (fn) value

// (f32 -> E4M3 is turbolm::f32_to_f8e4m3 of core/half.h: nearest even, saturating, CUDA's codes.)
// E4M3 -> f32 (exact), through a table.
float e4m3_to_f32(uint8_t code);

// The scale of one vector as described above.               x: [n]
float kv_scale_of(const float* x, int64_t n, DType code_dtype);

// Quantizes `rows` vectors of n elements.     x: f32 [rows, n] (row stride ldx);
// codes: [rows, n] of code_dtype (kI8 or kF8E4M3), row stride ldc; scale: f32 [rows]
void quantize_kv_rows(const float* x, int64_t ldx, int64_t rows, int64_t n, DType code_dtype, void* codes,
                      int64_t ldc, float* scale);
// out[r, :] = codes[r, :] * scale[r]     codes: [rows, n] (row stride ldc); scale: [rows]; out: f32 [rows, n] (ldo)
void dequantize_kv_rows(const void* codes, int64_t ldc, DType code_dtype, const float* scale, int64_t rows, int64_t n,
                        float* out, int64_t ldo);

}  // namespace turbolm::cpu
