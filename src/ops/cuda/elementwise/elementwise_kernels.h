// Framework-free CUDA kernels for everything between the GEMMs and attention: embedding lookup,
// norms, the fused QKV split + norm + RoPE, gated activations, bias, conversions and fills.
// Raw device pointers with their shapes in comments; the dispatch layer validates tensors. Each has a
// CPU counterpart in src/ops/cpu (or a plain reference in the test) that tests/gpu compares with.
//
// Conventions of every launcher here:
//  - "16-bit" means __nv_bfloat16 or __half, chosen by a DType argument (kBF16 or kF16); where kF32 is
//    also allowed the comment says so. Any other dtype fails with kInvalidArgument naming the op.
//  - Math is done in f32; 16-bit results are rounded once, to nearest even.
//  - Launchers only enqueue work on `s`: no allocation, no synchronization, the grid depends on the
//    arguments only, so they can be captured in a CUDA graph. rows == 0 (or n == 0) does nothing.
//  - All pointers are device memory. Row strides (ld*) are in elements.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"
#include "ops/cpu/cpu_kernels.h"

namespace turbolm::cuda {

// out[t, :] = table[ids[t] - first_row, :] widened to f32, or out[t, :] += ... when accumulate; ids
// outside [first_row, first_row + rows) give zeros (add nothing).
// ids: i32 [T]; table: [rows, cols] in table_dtype (f32, bf16 or f16); out: f32 [T, ldo]
void launch_embedding(const int32_t* ids, int64_t T, const void* table, DType table_dtype, int64_t first_row,
                      int64_t rows, int64_t cols, float* out, int64_t ldo, bool accumulate, cudaStream_t s);
// out[r, w * part + j] = parts[w, r, j] for w * part + j < vocab.
// parts: f32 [world, rows, part]; out: f32 [rows, ldo]
void launch_assemble_vocab_parts(const float* parts, int64_t world, int64_t rows, int64_t part, float* out, int64_t ldo,
                                 int64_t vocab, cudaStream_t s);

// y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w, as cpu::rms_norm.
// x: f32 [rows, ldx]; w: f32 [cols] (null: all ones); y: [rows, ldy] in y_dtype (f32, bf16 or f16)
void launch_rms_norm(const float* x, int64_t ldx, const float* w, float eps, void* y, DType y_dtype, int64_t ldy,
                     int64_t rows, int64_t cols, cudaStream_t s);
// y[r, :] = (x[r, :] - mean) / sqrt(var + eps) * w + b, as cpu::layer_norm (two passes over the row).
// x: f32 [rows, ldx]; w: f32 [cols] (null: all ones); b: f32 [cols] or null; y: [rows, ldy] in y_dtype (f32, bf16 or
// f16)
void launch_layer_norm(const float* x, int64_t ldx, const float* w, const float* b, float eps, void* y, DType y_dtype,
                       int64_t ldy, int64_t rows, int64_t cols, cudaStream_t s);

// Splits a fused projection [T, (n_head + 2*n_head_kv) * head_dim] (rows: q heads, then k heads, then v heads) into
// q and the KV cache: adds the bias, applies per-head RMSNorm to q and k heads (Qwen3), rotates the first rot_dim
// dims of each q and k head as HF's rotate_half ("neox") RoPE does with angle pos[t] * inv_freq[i] and cos/sin
// multiplied by rope_scale, then writes q to q_out and k, v to their slot of the cache.
// The angle and its sine and cosine are computed in double, as cpu::rope_neox does, so that positions
// of 100k and more keep full f32 accuracy.
struct QkvRopeParams {
    int64_t n_tokens = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
    int64_t rot_dim = 0;              // even, <= head_dim; 0: no rotation (models with learned positions)
    const int32_t* pos = nullptr;     // [T]
    const float* inv_freq = nullptr;  // [rot_dim / 2]
    float rope_scale = 1.0f;          // attention factor (yarn); 1 otherwise
    const float* bias = nullptr;      // [(n_head + 2*n_head_kv) * head_dim] or null
    const float* q_norm = nullptr;    // [head_dim] or null: RMSNorm scale of each q head
    const float* k_norm = nullptr;    // [head_dim] or null
    float norm_eps = 1e-6f;
    const int64_t* slots = nullptr;  // [T]: slot of token t's key and value in the cache pool; < 0: don't write
    // An 8-bit cache: k_cache and v_cache hold codes of code_dtype (kI8 or kF8E4M3) and each stored
    // (token, kv head) vector x gets scale max|x| / 127 (int8) or / 448 (e4m3), 1 for x = 0, written
    // to k_scale / v_scale [n_slots, n_head_kv]; codes x / scale rounded half to even (int8, clamped
    // to +-127) or to the nearest even E4M3 (saturating), from the f32 values. Null scales: the
    // cache is in `dtype`.
    float* k_scale = nullptr;
    float* v_scale = nullptr;
    DType code_dtype = DType::kI8;
};
// qkv: 16-bit [T, ldqkv]; q_out: 16-bit [T, n_head, head_dim] contiguous;
// k_cache, v_cache: [n_slots, n_head_kv, head_dim], 16-bit or 8-bit codes. head_dim <= 2048; the outputs must not
// overlap qkv.
void launch_qkv_rope(const void* qkv, int64_t ldqkv, const QkvRopeParams& p, DType dtype, void* q_out, void* k_cache,
                     void* v_cache, cudaStream_t s);

// out = act(gate) * up, with the formulas of cpu::act_mul.
// gate: [rows, ldg], up: [rows, ldu], out: [rows, ldo], all 16-bit. out may alias gate (same pointer and stride).
void launch_act_mul(cpu::Activation act, const void* gate, int64_t ldg, const void* up, int64_t ldu, void* out,
                    int64_t ldo, int64_t rows, int64_t cols, DType dtype, cudaStream_t s);
// x = act(x)                                                   x: 16-bit [rows, ldx]
void launch_act_inplace(cpu::Activation act, void* x, int64_t ldx, int64_t rows, int64_t cols, DType dtype,
                        cudaStream_t s);

// y[r, :] += b                                                 y: [rows, ldy] in y_dtype (f32, bf16 or f16); b: f32
// [cols]
void launch_add_bias(void* y, DType y_dtype, int64_t ldy, const float* b, int64_t rows, int64_t cols, cudaStream_t s);

// dst = src converted, any pair of f32/bf16/f16 (round to nearest even).   src, dst: [n] contiguous
void launch_convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n, cudaStream_t s);

// dst[i] = uniform in [lo, hi) from a counter-based hash of (seed, i): deterministic and independent of the
// launch shape. dst: [n] in dtype (f32, bf16 or f16); 16-bit values are the f32 ones rounded to nearest, so
// they may equal hi. Requires lo <= hi, both finite.
void launch_fill_uniform(void* dst, DType dtype, int64_t n, float lo, float hi, uint64_t seed, cudaStream_t s);
// dst[i] = value rounded to dtype                              dst: [n] in dtype (f32, bf16 or f16)
void launch_fill_constant(void* dst, DType dtype, int64_t n, float value, cudaStream_t s);

// y[i] = a[i] + b[i]                                           a, b, y: f32 [n]; y may alias a or b
void launch_add(const float* a, const float* b, float* y, int64_t n, cudaStream_t s);

}  // namespace turbolm::cuda
