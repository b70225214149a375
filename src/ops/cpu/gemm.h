// The CPU matrix multiply behind every linear layer: f32 activations times weights kept in their stored
// dtype (f32, bf16 or f16). Small m (decode) streams the weights once and is bound by memory bandwidth;
// larger m (prefill) packs panels and runs register-blocked micro-kernels. The instruction set is picked
// at run time (see cpu_features.h).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace turbolm::cpu {

// How activations meet 16-bit weights.
//   kF32        activations stay f32 and weights are widened to f32 (the oracle: agrees with a float64
//               reference to ~1e-6 relative).
//   kWeightType activations are rounded (to nearest even) to the weight's 16-bit type first and multiplied
//               with f32 accumulation, as PyTorch's bf16 matmul and llama.cpp do; faster where the CPU has
//               bf16 dot products. For f32 weights it is the same as kF32. With f16 weights, activations
//               beyond the f16 range become infinite, as they would in PyTorch.
enum class MatmulPrecision : uint8_t { kF32, kWeightType };

// y[i, j] (+)= sum_k x[i, k] * w[j, k] + (bias ? bias[j] : 0), for i < m, j < n.
// x: f32 [m, k], row i at x + i*ldx.
// w: [n, k] row-major in w_dtype (kF32, kBF16 or kF16), row j at w + j*ldw elements.
// bias: f32 [n] or null.
// y: f32 [m, n], row i at y + i*ldy; accumulate=true adds into y (used to fuse the residual add).
// Uses num_threads() threads via parallel_for. y must not overlap x, w or bias.
void gemm(const float* x, int64_t ldx, const void* w, DType w_dtype, int64_t ldw, const float* bias, float* y,
          int64_t ldy, int64_t m, int64_t n, int64_t k, bool accumulate, MatmulPrecision precision);

}  // namespace turbolm::cpu
