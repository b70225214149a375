// Quantize-then-dequantize in f32 ("fake" quantization): what a quantized matrix stands for, so that
// a search can measure the error of a candidate scaling with ordinary f32 products. Each function
// follows the arithmetic of the op that quantizes for real (see ops.h).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace turbolm::quant {

// w f32 [rows, cols] -> f32 of the same shape, every group of `group` columns through
// ops::quantize_groups_int4's rounding.
Tensor fake_quantize_int4(const Tensor& w, int64_t group);
// Symmetric int8 per row (ops::quantize_rows_int8 for weights; the per-token activation quantization
// of ops::linear_w8a8_int8 for activations).
Tensor fake_quantize_rows_int8(const Tensor& w);
// Sum of squared differences of two f32 tensors of one shape, in double.
double squared_error(const Tensor& a, const Tensor& b);
// y = x @ w^T in f32 on the CPU.   x [n, in], w [out, in].
Tensor matmul_nt(const Tensor& x, const Tensor& w);
// An f32 copy (never a view) of a CPU matrix of any float dtype, for a search to modify.
Tensor to_f32(const Tensor& w);

}  // namespace turbolm::quant
