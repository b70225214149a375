// Decode attention over a 16-bit pool fed by the copy engine, for batches whose (sequence, KV head)
// pairs fill the GPU without splitting the keys. A CTA takes one sequence and `heads` consecutive KV
// heads of it: one warp per KV head computes exactly as the tensor-core decode kernel's work items do
// (MmaDecodeWarp), and one more warp only fetches. For each 16-key tile its lanes look up the keys'
// slots and issue one bulk copy per key and pool (the `heads` KV heads of a slot are one contiguous
// run) into a ring of `stages` shared-memory stages, each completing on an mbarrier; the compute
// warps read their fragments from the stage and release it on a second mbarrier.
//
// The register-fed kernel can only have in flight what its registers hold (two tiles a warp, eight
// warps an SM); here a CTA keeps up to `stages` tiles of all its heads in flight however far the
// computing warps lag, with no registers held while the bytes travel.
//
// Included by attention_decode_mma.cu, which instantiates it for bf16 and f16 pools.
#pragma once

#include <algorithm>
#include <type_traits>

#include "ops/cuda/attention/attention_decode_mma.cuh"
#include "ops/cuda/dynamic_smem.h"
#include "ops/cuda/mbarrier.cuh"

namespace turbolm::cuda {
namespace {

// KV heads a CTA takes (the largest divisor of n_head_kv up to 4) and stages of its ring. H200, 8B
// shape (dev/kernels/decode_attention): 4 heads and 3 stages (96 KB, two CTAs an SM) at batch 1024
// and 192 keys 215.7 us against 228.3 for the register-fed kernel; 8 heads and 3 stages (one CTA)
// 224.6; 4 heads and 4 stages (one CTA) 312.4; 2 heads and 4 stages 233.4; 4 heads and 2 stages 216.3.
constexpr int kBulkHeads = 4, kBulkStages = 3;
constexpr int kBulkMaxThreads = 32 * (kBulkHeads + 1);
// The most dynamic shared memory a CTA takes: head_dim 128, 16-bit elements (96 KB).
constexpr size_t kBulkMaxSmem = size_t(kBulkStages) * 2 * kMmaTileKeys * kBulkHeads * 128 * 2;

// kRuns runs of kRunWords 32-bit words from shared memory (16-byte runs, `run_stride` bytes apart),
// or zeros when !valid.
template <int kRunWords, int kRuns, int kWords>
__device__ __forceinline__ void load_shared_runs(const unsigned char* src, int run_stride, bool valid,
                                                 uint32_t (&w)[kWords]) {
    static_assert(kRunWords * kRuns == kWords && kRunWords % 4 == 0, "whole 16-byte loads");
#pragma unroll
    for (int r = 0; r < kRuns; ++r) {
        const uint4* run = reinterpret_cast<const uint4*>(src + r * run_stride);
#pragma unroll
        for (int i = 0; i < kRunWords / 4; ++i) {
            const uint4 x = valid ? run[i] : make_uint4(0, 0, 0, 0);
            w[r * kRunWords + 4 * i] = x.x, w[r * kRunWords + 4 * i + 1] = x.y;
            w[r * kRunWords + 4 * i + 2] = x.z, w[r * kRunWords + 4 * i + 3] = x.w;
        }
    }
}

// Grid: n_seqs * (n_head_kv / heads) CTAs; block: 32 * (heads + 1) threads; dynamic shared memory:
// stages * 2 * 16 * heads * D * sizeof(T) bytes (K then V of each stage, a key's rows `heads * D`
// elements apart). Requires n_splits == 1 and group <= 8.
template <typename T, int D>
__global__ void __launch_bounds__(kBulkMaxThreads) decode_attention_bulk_kernel(const DecodeParams p, int heads,
                                                                                int stages) {
    using L = MmaDecodeLayout<T, T, D>;
    using Tile = MmaDecodeTile<L>;
    extern __shared__ __align__(128) unsigned char stage_mem[];
    __shared__ uint64_t full[kBulkStages], empty[kBulkStages];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int groups = p.n_head_kv / heads;
    const int seq = blockIdx.x / groups, kv0 = blockIdx.x % groups * heads;
    const int row_bytes = heads * D * int(sizeof(T));  // one slot's rows of this CTA's heads
    const int pool_bytes = kMmaTileKeys * row_bytes;   // a stage's K (then V)
    if (threadIdx.x == 0) {
        for (int s = 0; s < stages; ++s) {
            mbar_init(&full[s], 1);
            mbar_init(&empty[s], 32 * heads);
        }
        mbar_init_fence();
    }
    __syncthreads();  // the only block barrier
    wait_for_previous_grid_and_release_next();  // launched after the previous kernel (programmatic_launch.cuh)
    const int t = p.q_start[seq];
    if (p.q_start[seq + 1] <= t) return;  // no query token
    const int2 keys = split_keys(p, seq, t, 0, kMmaTileKeys);
    const int k_begin = keys.x, k_end = keys.y;

    if (warp == heads) {  // the fetching warp: lane i < 16 copies key base + i's K rows, lane 16 + i its V rows
        int j = 0;
        for (int base = k_begin; base < k_end; base += kMmaTileKeys, ++j) {
            const int s = j % stages;
            if (j >= stages) mbar_wait(&empty[s], uint32_t(j / stages - 1) & 1u);  // its last tile was read
            const int key = base + (lane & 15);
            const bool valid = key < k_end;
            const int64_t slot = valid ? attn::kv_slot(p.block_table, p.max_blocks, p.block_size, seq, key) : 0;
            if (lane == 0) mbar_arrive_expect_bytes(&full[s], 2u * uint32_t(min(kMmaTileKeys, k_end - base) * row_bytes));
            __syncwarp();
            if (valid) {
                const T* pool = static_cast<const T*>(lane < 16 ? p.k : p.v);
                unsigned char* dst = stage_mem + (2 * s + (lane >= 16)) * pool_bytes + (lane & 15) * row_bytes;
                bulk_copy_to_shared(dst, pool + (slot * p.n_head_kv + kv0) * D, uint32_t(row_bytes), &full[s]);
            }
        }
        return;
    }

    const int kvh = kv0 + warp;
    const int h0 = kvh * p.group;
    MmaDecodeWarp<T, T, D> w;
    w.start(p, lane, t, h0, p.group);
    const int g = w.g, c = w.c;
    int j = 0;
    for (int base = k_begin; base < k_end; base += kMmaTileKeys, ++j) {
        const int s = j % stages;
        mbar_wait(&full[s], uint32_t(j / stages) & 1u);
        const unsigned char* kst = stage_mem + 2 * s * pool_bytes + warp * D * int(sizeof(T));
        const unsigned char* vst = kst + pool_bytes;
        Tile tile;
#pragma unroll
        for (int r = 0; r < 2; ++r) {  // K rows g, g + 8
            const int idx = g + 8 * r;
            load_shared_runs<L::kKWords / L::kKRuns, L::kKRuns>(kst + idx * row_bytes + c * L::kKRun * int(sizeof(T)),
                                                                4 * L::kKRun * int(sizeof(T)), base + idx < k_end,
                                                                tile.k[r]);
        }
#pragma unroll
        for (int r = 0; r < 4; ++r) {  // V rows 2c, 2c + 1, 2c + 8, 2c + 9
            const int idx = 2 * c + (r & 1) + 8 * (r >> 1);
            load_shared_runs<L::kVWords / L::kVRuns, L::kVRuns>(vst + idx * row_bytes + g * L::kVRun * int(sizeof(T)),
                                                                8 * L::kVRun * int(sizeof(T)), base + idx < k_end,
                                                                tile.v[r]);
        }
        mbar_arrive(&empty[s]);  // this lane's reads of the stage are done
        w.compute(p, base, k_end, tile);
    }
    w.store(p, seq, t, h0, p.group, 0);
}

inline int bulk_decode_heads(int64_t n_head_kv) {
    int h = int(std::min<int64_t>(n_head_kv, kBulkHeads));
    while (n_head_kv % h != 0) --h;
    return h;
}

template <typename T>
void launch_decode_bulk_typed(const AttentionArgs& a, const DecodePlan& plan, cudaStream_t stream) {
    const DecodeParams p = decode_params(a, plan);
    const int heads = bulk_decode_heads(a.shape.n_head_kv);
    const int d = int(a.shape.head_dim);
    const size_t stage_bytes = 2 * kMmaTileKeys * size_t(heads) * size_t(d) * sizeof(T);
    const int stages = kBulkStages;
    const size_t smem = size_t(stages) * stage_bytes;
    const dim3 grid(unsigned(a.batch.n_seqs * (a.shape.n_head_kv / heads)));
    auto launch = [&](auto head_dim) {
        constexpr int D = decltype(head_dim)::value;
        allow_dynamic_smem<decode_attention_bulk_kernel<T, D>>(int(kBulkMaxSmem));
        launch_after_previous(decode_attention_bulk_kernel<T, D>, grid, dim3(32 * (heads + 1)), smem, stream, p, heads,
                              stages);
    };
    if (d == 64)
        launch(std::integral_constant<int, 64>{});
    else
        launch(std::integral_constant<int, 128>{});
    TURBOLM_CUDA_CHECK_LAUNCH();
}

}  // namespace
}  // namespace turbolm::cuda
