// The operations model code is written in. Each takes tensors, checks shapes and dtypes, and
// dispatches on the tensors' device to a kernel (src/ops/cpu today; src/ops/cuda with the CUDA
// backend). Model code calls only these and never names a backend.
#pragma once

#include <span>

#include "core/tensor.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/gemm.h"

namespace turbolm::ops {

using cpu::Activation;
using cpu::MatmulPrecision;

// y[t, :] (+)= x[t, :] @ w^T + b.   x: f32 [T, in]; w: [out, in] in f32/bf16/f16; b: f32 [out] or undefined;
// y: f32 [T, out]. With accumulate, y must already hold the residual that is added to.
void linear(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, MatmulPrecision precision,
            bool accumulate = false);

// x, y: f32 [rows, cols] (last axis contiguous; y may alias x); w, b: f32 [cols].
void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y);
void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y);

// Rotates the first rot_dim dims of every head in place.   x: f32 [T, heads, head_dim]; pos: i32 [T]
void rope(Tensor& x, const Tensor& pos, const Tensor& inv_freq, int64_t rot_dim, float attention_scale);

// out = act(gate) * up, all f32 [T, n].  act_inplace: x = act(x).
void act_mul(Activation act, const Tensor& gate, const Tensor& up, Tensor& out);
void act_inplace(Activation act, Tensor& x);

// out: f32 [T, n_embd] = rows of table (any float dtype) [vocab, n_embd] picked by ids i32 [T].
void embedding(const Tensor& ids, const Tensor& table, Tensor& out);

struct AttentionParams {
    float scale = 1.0f;
    int64_t window = 0;  // sliding window in tokens; 0 = unlimited
};
// q, out: f32 [T, n_head, head_dim]; k_cache, v_cache: f32 [capacity, n_head_kv, head_dim] of which
// the first n_kv positions are valid; q_pos: i32 [T] (each token attends causally up to its position).
void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t n_kv, const Tensor& q_pos,
               const AttentionParams& params, Tensor& out);

// Mixture-of-experts routing: softmax over each row of logits f32 [T, E], then the k most probable
// experts (ties to the lower index) into ids i32 [T, k] and their probabilities into weights f32 [T, k],
// rescaled to sum to 1 when renormalize is set.
void moe_route(const Tensor& logits, int64_t k, bool renormalize, Tensor& ids, Tensor& weights);
// dst[i, :] = src[rows[i], :]                      src, dst: f32 [*, D]; rows: i32 [n]
void gather_rows(const Tensor& src, const Tensor& rows, Tensor& dst);
// dst[rows[i], :] += weights[i] * src[i, :]        src: f32 [n, D]; rows: i32 [n]; weights: f32 [n]
void scatter_add_rows(const Tensor& src, const Tensor& rows, const Tensor& weights, Tensor& dst);

// y = a + b, all f32 of one shape.
void add(const Tensor& a, const Tensor& b, Tensor& y);

}  // namespace turbolm::ops
