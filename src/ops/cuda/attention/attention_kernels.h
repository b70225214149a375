// Causal attention over a paged KV cache on the GPU, for bf16 and f16 (the cache may instead hold
// int8 or FP8 codes with per-head scales, dequantized as they are read). One entry point picks the
// kernel: split-K decode when every sequence has one query token, tensor-core tiles otherwise, and a
// plain one-warp-per-head kernel for shapes the fast paths do not cover (or everywhere when
// TURBOLM_ATTENTION=simple is set). Raw device pointers with their shapes in comments; the
// dispatch layer above builds these views from tensors.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"

namespace turbolm::cuda {

// Keys and values of all sequences live in one pool of slots; slot = block * block_size + offset.
struct PagedKvView {
    const void* k = nullptr;  // [n_slots, n_head_kv, head_dim] in `dtype` (or 8-bit codes, below), contiguous
    const void* v = nullptr;  // [n_slots, n_head_kv, head_dim]
    // An 8-bit cache: k and v hold codes of code_dtype (kI8 or kF8E4M3), and head h of slot s stands
    // for k[s, h, :] * k_scale[s, h] (v likewise). Null scales: k and v are in the launch's dtype.
    const float* k_scale = nullptr;  // [n_slots, n_head_kv]
    const float* v_scale = nullptr;  // [n_slots, n_head_kv]
    DType code_dtype = DType::kI8;
    const int32_t* block_table =
        nullptr;             // device [n_seqs, max_blocks]: block of each sequence's i-th block_size positions
    int64_t max_blocks = 0;  // row stride of block_table
    int64_t block_size = 0;  // positions per block (any value >= 1; a single-sequence cache uses one block of its whole
                             // capacity, e.g. 4096 or 33)
};

// Which query tokens belong to which sequence. All pointers are device memory, so that a captured
// CUDA graph can be replayed with new contents; the host values are bounds fixed at capture.
struct AttentionBatch {
    int64_t n_seqs = 0;
    int64_t n_tokens = 0;              // T: rows of q and out
    const int32_t* q_start = nullptr;  // [n_seqs + 1]: sequence s owns q rows [q_start[s], q_start[s+1])
    const int32_t* kv_len =
        nullptr;  // [n_seqs]: keys at positions [0, kv_len[s]) are valid (this step's keys already written)
    const int32_t* q_pos = nullptr;  // [T]: position of each query token
    int64_t max_q_len = 0;           // host bound on q_start[s+1] - q_start[s]
    int64_t max_kv_len = 0;          // host bound on kv_len[s]
    // Sequences [0, n_decode_seqs) have exactly one query token each (host value; 0 when unknown).
    // A mixed batch then runs them through the decode kernel and only the rest through the prefill
    // kernel, whose tiles of 64 query rows a single token would fill a sixteenth of.
    int64_t n_decode_seqs = 0;
};

struct AttentionShape {
    int64_t n_head = 0, n_head_kv = 0, head_dim = 0;  // n_head % n_head_kv == 0 (MHA, GQA, MQA)
    float scale = 1.0f;                               // applied to q·k
    int64_t window = 0;                               // sliding window in tokens; 0 = unlimited
};

// Scratch the launch needs (split-K partial results); may be 0. Depends only on the host values of
// batch and shape (and the device's multiprocessor count), so one allocation serves every replay.
size_t attention_workspace_bytes(const AttentionBatch& batch, const AttentionShape& shape);

// out[t, h, :] = softmax_p(scale * q[t,h,:]·k[p,h/group,:]) v[p,h/group,:] over the keys p of t's
// sequence with p <= q_pos[t] and (window == 0 or p > q_pos[t] - window).
// q: [T, n_head, head_dim] (token stride ldq elements); out: [T, n_head, head_dim] (token stride ldo).
// dtype: kBF16 or kF16 for q and out, and for k and v unless they are 8-bit codes (kv.k_scale set).
// Math in f32. Rows of a query with no visible key are zeros.
// Rows outside [q_start[0], q_start[n_seqs]) belong to no sequence and are not written.
// The grid depends only on host values, so the launch can be captured in a CUDA graph and replayed
// with new device contents as long as the bounds max_q_len and max_kv_len still hold.
void launch_attention(const void* q, int64_t ldq, const PagedKvView& kv, const AttentionBatch& batch,
                      const AttentionShape& shape, DType dtype, void* out, int64_t ldo, void* workspace,
                      size_t workspace_bytes, cudaStream_t stream);

}  // namespace turbolm::cuda
