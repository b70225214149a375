// Framework-free CPU kernels on raw pointers, with the shape of every pointer in a comment. The
// dispatch layer (src/ops/*.h) validates tensors and calls these; model code never calls them.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace turbolm::cpu {

// y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w            x, y: [rows, cols] (row strides ldx, ldy); w: [cols]
void rms_norm(const float* x, int64_t ldx, const float* w, float eps, float* y, int64_t ldy, int64_t rows,
              int64_t cols);
// y = (x - mean) / sqrt(var + eps) * w + b                      b may be null
void layer_norm(const float* x, int64_t ldx, const float* w, const float* b, float eps, float* y, int64_t ldy,
                int64_t rows, int64_t cols);

// Rotates pairs (i, i + rot_dim/2) of each head, as HF's rotate_half does.
// x: [tokens, heads, head_dim] (token stride ldx); pos: [tokens]; inv_freq: [rot_dim / 2]
void rope_neox(float* x, int64_t ldx, int64_t tokens, int64_t heads, int64_t head_dim, int64_t rot_dim,
               const int32_t* pos, const float* inv_freq, float attention_scale);

enum class Activation : uint8_t { kSilu, kGeluErf, kGeluTanh, kRelu };
// out[r, i] = act(gate[r, i]) * up[r, i]                        gate, up, out: [rows, cols] with row strides
void act_mul(Activation act, const float* gate, int64_t ldg, const float* up, int64_t ldu, float* out, int64_t ldo,
             int64_t rows, int64_t cols);
// x = act(x) in place                                           x: [rows, cols] with row stride
void act_inplace(Activation act, float* x, int64_t ldx, int64_t rows, int64_t cols);

// out[t, :] = table[ids[t], :] widened to f32                  table: [vocab, cols] in `dtype`; out: [tokens, cols]
void embedding(const int32_t* ids, int64_t tokens, const void* table, DType dtype, int64_t cols, float* out,
               int64_t ldo);

// Causal attention of `tokens` queries over one sequence's contiguous key/value cache.
// q, out: [tokens, n_head, head_dim] (token strides ldq, ldo); k, v: [n_kv, n_head_kv, head_dim] (position stride ldk, ldv)
// q_pos: [tokens]; token t sees keys at positions p with p <= q_pos[t] and (window == 0 or p > q_pos[t] - window).
void attention(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
               const int32_t* q_pos, int64_t tokens, int64_t n_kv, int64_t n_head, int64_t n_head_kv,
               int64_t head_dim, float scale, int64_t window, float* out, int64_t ldo);

// y[i] = a[i] + b[i]
void add(const float* a, const float* b, float* y, int64_t n);
// In-place softmax of each row.                                  x: [rows, cols]
void softmax_rows(float* x, int64_t rows, int64_t cols);

// For each row, the k largest entries (ties to the lower index, as torch.topk) and their values,
// rescaled to sum to 1 when renormalize.     x: [rows, cols]; ids (i32), values: [rows, k]
void top_k_rows(const float* x, int64_t rows, int64_t cols, int64_t k, bool renormalize, int32_t* ids, float* values);

// Weight-only INT8 (see ops::linear_int8): each int8 row is widened once and dotted with every x row.
void linear_int8(const float* x, int64_t ldx, const int8_t* q, int64_t ldq, const float* scale, const float* bias,
                 float* y, int64_t ldy, int64_t m, int64_t n, int64_t k, bool accumulate);
void quantize_rows_int8(const void* w, DType dtype, int64_t ldw, int8_t* q, float* scale, int64_t rows, int64_t cols);

}  // namespace turbolm::cpu
