// Internal to the attention kernels: the arguments of one launch in one struct, the three kernel
// paths, and the split-K plan of the decode path. Tests use launch_attention_path to run a chosen
// path on the same inputs; everything else calls launch_attention.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "ops/cuda/attention/attention_kernels.h"

namespace turbolm::cuda {

// The arguments of launch_attention, already validated.
struct AttentionArgs {
    const void* q = nullptr;  // [T, n_head, head_dim], token stride ldq
    int64_t ldq = 0;
    PagedKvView kv;
    AttentionBatch batch;
    AttentionShape shape;
    DType dtype = DType::kBF16;
    void* out = nullptr;  // [T, n_head, head_dim], token stride ldo
    int64_t ldo = 0;
    void* workspace = nullptr;
    size_t workspace_bytes = 0;
};

enum class AttentionPath {
    kAuto,       // what launch_attention does: decode or prefill when supported, else simple
    kSimple,     // one warp per (token, head); any head_dim multiple of 8
    kDecode,     // split-K over keys on CUDA cores; requires max_q_len == 1 and a fast-path shape
    kDecodeMma,  // split-K over keys on tensor cores; requires max_q_len == 1 and mma_decode_ok
    kDecodeBulk, // tensor cores fed by bulk copies, one sequence a CTA; requires max_q_len == 1 and bulk_decode_ok
    kPrefill,    // tensor-core tiles; any max_q_len, fast-path shape
};

// Validates like launch_attention, then runs `path` (kDecode, kDecodeMma and kPrefill fail with
// kInvalidArgument when the shape or alignment does not allow them).
void launch_attention_path(AttentionPath path, const AttentionArgs& args, cudaStream_t stream);

// The path kAuto resolves to for these arguments (after TURBOLM_ATTENTION is taken into account).
AttentionPath choose_attention_path(const AttentionArgs& args);

// How a decode kernel splits its work. Each CTA (each warp for the tensor-core kernel) takes one
// sequence, one KV head, up to head_chunk of that head's query heads and one of n_splits ranges of
// its keys.
struct DecodePlan {
    int head_chunk = 1;   // query heads per CTA: 1, 2, 4 or 8 (a template parameter of the kernel)
    int head_chunks = 1;  // ceil(group / head_chunk)
    int n_splits = 1;     // key ranges per (sequence, query head); 1 = no combine pass
    size_t workspace_bytes = 0;
};
// mma: for the tensor-core kernel, whose work items are single warps with up to 8 query heads each.
DecodePlan plan_decode(const AttentionBatch& batch, const AttentionShape& shape, bool mma);

// (sequence, KV head) pairs that fill an H200 with one warp each: from there the tensor-core decode
// kernel also wins over 16-bit pools and keeps two tiles in flight per warp over them, while over
// 8-bit codes it drops the second tile for more resident warps.
constexpr int64_t kMmaDecodeFullUnits = 1024;

// Whether the prefill kernel (head_dim 64, 96, 128) takes tiles of 32 keys instead of 64: where no
// sequence has more than kPrefillShortKeysMax keys. Its CTAs then need 52 KB of shared memory instead
// of 87 (3 fit an SM, not 2), which is what short prompts, a few tiles per CTA and bound by the
// latency of their loads, run faster with. TURBOLM_PREFILL_SHORT_KEYS=0 / 1 turns it off / on always.
constexpr int64_t kPrefillShortKeysMax = 512;
bool prefill_short_keys(int64_t max_kv_len);

// Most splits a decode launch uses (each combine thread walks all of them).
constexpr int kDecodeMaxSplits = 128;

// Head sizes the decode and prefill kernels are compiled for.
inline bool fast_head_dim(int64_t head_dim) {
    return head_dim == 64 || head_dim == 80 || head_dim == 96 || head_dim == 128 || head_dim == 256;
}

// The tensor-core decode kernel covers head_dim 64 and 128, over every kind of pool.
bool mma_decode_ok(const AttentionArgs& args);

// The bulk-fed decode kernel covers 16-bit pools, head_dim 64 and 128 and groups of up to 8 query
// heads, where the tensor-core plan needs no split of the keys.
bool bulk_decode_ok(const AttentionArgs& args);

// The paths themselves: arguments validated, shape supported by the path.
void launch_attention_simple(const AttentionArgs& args, cudaStream_t stream);
void launch_attention_decode(const AttentionArgs& args, const DecodePlan& plan, cudaStream_t stream);
void launch_attention_decode_mma(const AttentionArgs& args, const DecodePlan& plan, cudaStream_t stream);
void launch_attention_decode_bulk(const AttentionArgs& args, const DecodePlan& plan, cudaStream_t stream);
void launch_attention_prefill(const AttentionArgs& args, cudaStream_t stream);
// The paths per kind of pool, each in its own file so that they compile in parallel: 16-bit pools
// by element type, and 8-bit codes (kv.k_scale set) by code type, for both 16-bit q/out types.
void launch_attention_prefill_bf16(const AttentionArgs& args, cudaStream_t stream);
void launch_attention_prefill_f16(const AttentionArgs& args, cudaStream_t stream);
void launch_attention_prefill_int8(const AttentionArgs& args, cudaStream_t stream);
void launch_attention_prefill_fp8(const AttentionArgs& args, cudaStream_t stream);
void launch_attention_decode_int8(const AttentionArgs& args, const DecodePlan& plan, cudaStream_t stream);
void launch_attention_decode_fp8(const AttentionArgs& args, const DecodePlan& plan, cudaStream_t stream);
void launch_attention_decode_mma_int8(const AttentionArgs& args, const DecodePlan& plan, cudaStream_t stream);
void launch_attention_decode_mma_fp8(const AttentionArgs& args, const DecodePlan& plan, cudaStream_t stream);

}  // namespace turbolm::cuda
