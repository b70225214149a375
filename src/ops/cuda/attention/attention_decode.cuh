// Decode attention (one query token per sequence) as split-K "flash decoding". Decode reads every
// key and value once and does little arithmetic per byte, so the kernel is shaped around memory:
// each CTA takes one (sequence, KV head, split of the keys) and computes all the query heads that
// share that KV head (up to GC of them), so each K/V row is read from memory once; rows are read
// with 16-byte loads, several keys in flight per thread. Each CTA leaves a partial result (running
// max, sum of exponentials, unnormalized output) that a second small kernel combines across splits;
// with a single split the first kernel writes the output itself.
//
// An 8-bit cache is read with 8-byte loads of codes; the key's scale multiplies its score and the
// value's scale its softmax weight, so dequantization costs two multiplies per key and head.
//
// Included by attention_decode*.cu, each of which instantiates the kernels for one kind of pool.
#pragma once

#include <cmath>

#include "ops/cuda/attention/attention_device.cuh"
#include "ops/cuda/attention/attention_paths.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/programmatic_launch.cuh"

namespace turbolm::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kCombineThreads = 256;
static_assert(kDecodeMaxSplits <= kCombineThreads, "the combine kernel reads one split's (max, sum) per thread");

struct DecodeParams {
    const void* q;  // [T, n_head, head_dim], token stride ldq
    int64_t ldq;
    const void* k;               // [n_slots, n_head_kv, head_dim]
    const void* v;               // [n_slots, n_head_kv, head_dim]
    const float* k_scale;        // [n_slots, n_head_kv] for 8-bit codes, else null
    const float* v_scale;        // [n_slots, n_head_kv] for 8-bit codes, else null
    const int32_t* block_table;  // [n_seqs, max_blocks]
    int64_t max_blocks;
    int32_t block_size;
    const int32_t* q_start;  // [n_seqs + 1]; every sequence has 0 or 1 query token
    const int32_t* kv_len;   // [n_seqs]
    const int32_t* q_pos;    // [T]
    int32_t n_seqs, n_head, n_head_kv, group, head_chunks;
    float scale_log2;  // scale * log2(e)
    int32_t window;
    int32_t n_splits;
    void* out;  // [T, n_head, head_dim], token stride ldo (written directly when n_splits == 1)
    int64_t ldo;
    float* part_acc;  // [n_seqs, n_head, n_splits, head_dim]: unnormalized output of each split
    float2* part_ml;  // [n_seqs, n_head, n_splits]: (max, sum of 2^(s - max)) of each split, base-2 scores
};

constexpr int pow2_at_least(int n) {
    int p = 1;
    while (p < n) p *= 2;
    return p;
}

// Work layout of one CTA, for head size D and GC query heads per CTA.
template <int D, int GC>
struct DecodeLayout {
    static constexpr int kVecs = D / 8;                         // vectors of 8 elements per K/V row
    static constexpr int kLanes = pow2_at_least(kVecs);         // lanes per key: lane j holds vector j (j < kVecs)
    static constexpr int kGroupsPerWarp = 32 / kLanes;          // keys a warp reads side by side
    static constexpr int kUnroll = GC >= 8 ? 2 : 4;             // keys per lane group per step (loads in flight)
    static constexpr int kWarpKeys = kGroupsPerWarp * kUnroll;  // keys per warp per step
    static constexpr int kStepKeys = kWarps * kWarpKeys;        // keys per CTA per step
    static constexpr int kStates = kWarps * kGroupsPerWarp;     // independent softmax states to merge
    static_assert(D % 8 == 0 && kVecs <= 32, "head_dim must be a multiple of 8, at most 256");
    static_assert(kWarpKeys <= 32, "one lane looks up the slot of each key of a warp step");
};

// The keys [x, y) that split `split` of token t (of sequence seq) attends to. The splits divide the
// visible keys evenly at run time, so the work stays balanced whatever kv_len is now (the grid was
// fixed by max_kv_len); a split rounds up to whole steps of step_keys.
__device__ __forceinline__ int2 split_keys(const DecodeParams& p, int seq, int t, int split, int step_keys) {
    const int pos = p.q_pos[t];
    const int hi = min(pos, p.kv_len[seq] - 1);
    const int lo = p.window > 0 ? max(0, pos - p.window + 1) : 0;
    const int n_keys = max(0, hi - lo + 1);
    const int per_split = (n_keys + p.n_splits - 1) / p.n_splits;
    const int span = (per_split + step_keys - 1) / step_keys * step_keys;
    const int64_t k_first = int64_t(lo) + int64_t(split) * span, k_cap = int64_t(hi) + 1;
    return make_int2(int(k_first < k_cap ? k_first : k_cap), int(k_first + span < k_cap ? k_first + span : k_cap));
}

// The softmax states a CTA leaves in shared memory before merging them: per state and query head the
// running max, the sum of exponentials and the unnormalized output row.
template <int D, int GC, int kStates>
struct DecodeStates {
    float m[kStates][GC], l[kStates][GC], w[kStates][GC];
    float acc[kStates][GC][D];
    float max[GC], sum[GC];
};

// Merges a CTA's states (written, then a block barrier) and writes the n_heads query heads from h0 of
// token t: the output itself with a single split, else this split's partial result for the combine
// kernel. Every thread of the CTA calls it.
template <typename T, int D, int GC, int kStates>
__device__ __forceinline__ void finish_decode(DecodeStates<D, GC, kStates>& s, const DecodeParams& p, int seq, int t,
                                              int h0, int n_heads, int split) {
    if (threadIdx.x < GC) {
        const int g = threadIdx.x;
        float mx = -INFINITY;
        for (int i = 0; i < kStates; ++i) mx = fmaxf(mx, s.m[i][g]);
        const float ref = mx == -INFINITY ? 0.0f : mx;
        float sum = 0.0f;
        for (int i = 0; i < kStates; ++i) {
            s.w[i][g] = attn::fast_exp2(s.m[i][g] - ref);  // 0 for a state that saw no key
            sum += s.l[i][g] * s.w[i][g];
        }
        s.max[g] = mx;
        s.sum[g] = sum;
    }
    __syncthreads();

    // Element idx = g * D + d of this CTA's heads.
    for (int idx = threadIdx.x; idx < n_heads * D; idx += blockDim.x) {
        const int g = idx / D, d = idx % D;
        float a = 0.0f;
#pragma unroll
        for (int i = 0; i < kStates; ++i) a = fmaf(s.acc[i][g][d], s.w[i][g], a);
        if (p.n_splits == 1) {
            const float inv = s.sum[g] > 0.0f ? 1.0f / s.sum[g] : 0.0f;  // no visible key: zeros
            static_cast<T*>(p.out)[t * p.ldo + int64_t(h0 + g) * D + d] = attn::Elem<T>::from_float(a * inv);
        } else {
            const int64_t part = (int64_t(seq) * p.n_head + h0 + g) * p.n_splits + split;
            p.part_acc[part * D + d] = a;
        }
    }
    if (p.n_splits > 1 && threadIdx.x < n_heads) {
        const int g = threadIdx.x;
        const int64_t part = (int64_t(seq) * p.n_head + h0 + g) * p.n_splits + split;
        p.part_ml[part] = make_float2(s.max[g], s.sum[g]);
    }
}

// Grid: x = split, y = kv_head * head_chunks + chunk, z = sequence. Block: kThreads.
// Lane roles: warp w, lane group kg = lane / kLanes (keys side by side), j = lane % kLanes (which
// 8-element vector of a row, idle when j >= kVecs). In a step the warp reads keys base .. base +
// kWarpKeys - 1, group kg the kUnroll consecutive ones starting at base + kg * kUnroll.
// T: the type of q and out; KV: the pools' element type (T, int8_t or __nv_fp8_e4m3).
template <typename T, typename KV, int D, int GC>
__global__ void __launch_bounds__(kThreads) decode_attention_kernel(const DecodeParams p) {
    wait_for_previous_grid_and_release_next();  // launched after the previous kernel (programmatic_launch.cuh)
    using L = DecodeLayout<D, GC>;
    using C = attn::KvCode<KV>;
    using Vec = typename C::Vec8;
    const int split = blockIdx.x;
    const int kvh = blockIdx.y / p.head_chunks, chunk = blockIdx.y % p.head_chunks;
    const int seq = blockIdx.z;
    const int t = p.q_start[seq];
    if (p.q_start[seq + 1] <= t) return;  // no query token: the combine kernel skips it too

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int kg = lane / L::kLanes, j = lane % L::kLanes;
    const bool has_vec = j < L::kVecs;
    const int h0 = kvh * p.group + chunk * GC;          // first query head of this CTA
    const int n_heads = min(GC, p.group - chunk * GC);  // query heads of this CTA that exist

    const int2 keys = split_keys(p, seq, t, split, L::kStepKeys);
    const int k_begin = keys.x, k_end = keys.y;

    // This lane's slice of each query head, pre-scaled into the base-2 domain. Heads past n_heads are zero.
    float q[GC][8];
    {
        const T* qrow = static_cast<const T*>(p.q) + t * p.ldq + int64_t(h0) * D + j * 8;
#pragma unroll
        for (int g = 0; g < GC; ++g) {
            uint4 raw = make_uint4(0, 0, 0, 0);
            if (g < n_heads && has_vec) raw = *reinterpret_cast<const uint4*>(qrow + g * D);
            attn::unpack8<T>(raw, q[g]);
#pragma unroll
            for (int e = 0; e < 8; ++e) q[g][e] *= p.scale_log2;
        }
    }

    float m[GC], l[GC], acc[GC][8];  // per head: running max, sum of 2^(s - m), unnormalized output slice
#pragma unroll
    for (int g = 0; g < GC; ++g) {
        m[g] = -INFINITY;
        l[g] = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[g][e] = 0.0f;
    }

    const KV* kbase = static_cast<const KV*>(p.k) + int64_t(kvh) * D + j * 8;
    const KV* vbase = static_cast<const KV*>(p.v) + int64_t(kvh) * D + j * 8;
    const int64_t slot_stride = int64_t(p.n_head_kv) * D;  // elements between consecutive slots
    // Lane i looks up the slot of key step_base + i (one lookup per key; the lane groups fetch theirs
    // by shuffle). Keys at or past k_end are never looked up.
    auto lookup = [&](int step_base) -> int64_t {
        const int key = step_base + lane;
        return lane < L::kWarpKeys && key < k_end ? attn::kv_slot(p.block_table, p.max_blocks, p.block_size, seq, key)
                                                  : 0;
    };
    // Issues the K and V loads of this lane for the step at step_base (and, for 8-bit codes, the
    // keys' scales); keys past k_end read nothing and stay zero. Every lane must call it (it shuffles).
    auto load_step = [&](int step_base, int64_t slots, Vec(&kr)[L::kUnroll], Vec(&vr)[L::kUnroll],
                         float(&ks)[L::kUnroll], float(&vs)[L::kUnroll]) {
#pragma unroll
        for (int u = 0; u < L::kUnroll; ++u) {
            const int idx = kg * L::kUnroll + u;  // key step_base + idx
            const int64_t slot = __shfl_sync(0xffffffffu, slots, idx);
            kr[u] = vr[u] = Vec{};
            ks[u] = vs[u] = 0.0f;
            if (step_base + idx < k_end) {
                if (has_vec) {
                    kr[u] = __ldg(reinterpret_cast<const Vec*>(kbase + slot * slot_stride));
                    vr[u] = __ldg(reinterpret_cast<const Vec*>(vbase + slot * slot_stride));
                }
                if constexpr (C::kQuantized) {
                    ks[u] = __ldg(p.k_scale + slot * p.n_head_kv + kvh);
                    vs[u] = __ldg(p.v_scale + slot * p.n_head_kv + kvh);
                }
            }
        }
    };

    // This warp's steps start at base, base + kStepKeys, ...; `base` is the same for the whole warp, so
    // every shuffle runs with all lanes present. The slots of the next step are looked up while the
    // current one computes, so each step waits for one memory round trip (K/V), not two.
    int base = k_begin + warp * L::kWarpKeys;
    int64_t slots = lookup(base);
    for (; base < k_end; base += L::kStepKeys) {
        Vec kraw[L::kUnroll], vraw[L::kUnroll];
        float kscale[L::kUnroll], vscale[L::kUnroll];  // 8-bit codes only
        load_step(base, slots, kraw, vraw, kscale, vscale);
        slots = lookup(base + L::kStepKeys);
        // Scores: partial dot products over this lane's 8 dimensions, summed over the kLanes lanes of
        // the group (xor offsets below kLanes stay inside the aligned group).
        float s[GC][L::kUnroll];
#pragma unroll
        for (int u = 0; u < L::kUnroll; ++u) {
            float kf[8];
            C::unpack8(kraw[u], kf);
#pragma unroll
            for (int g = 0; g < GC; ++g) {
                float d = 0.0f;
#pragma unroll
                for (int e = 0; e < 8; ++e) d = fmaf(q[g][e], kf[e], d);
                s[g][u] = d;
            }
        }
#pragma unroll
        for (int off = L::kLanes / 2; off > 0; off /= 2)
#pragma unroll
            for (int g = 0; g < GC; ++g)
#pragma unroll
                for (int u = 0; u < L::kUnroll; ++u) s[g][u] += __shfl_xor_sync(0xffffffffu, s[g][u], off);
        if constexpr (C::kQuantized) {
#pragma unroll
            for (int g = 0; g < GC; ++g)
#pragma unroll
                for (int u = 0; u < L::kUnroll; ++u) s[g][u] *= kscale[u];
        }
#pragma unroll
        for (int u = 0; u < L::kUnroll; ++u) {
            if (base + kg * L::kUnroll + u >= k_end) {
#pragma unroll
                for (int g = 0; g < GC; ++g) s[g][u] = -INFINITY;
            }
        }

        // Online softmax, one rescale per step: m only grows; exp2(-inf) = 0 covers the first step
        // and keys past k_end. `ref` is 0 while a head has seen no key, so no -inf - -inf occurs.
#pragma unroll
        for (int g = 0; g < GC; ++g) {
            float m_new = m[g];
#pragma unroll
            for (int u = 0; u < L::kUnroll; ++u) m_new = fmaxf(m_new, s[g][u]);
            const float ref = m_new == -INFINITY ? 0.0f : m_new;
            const float alpha = attn::fast_exp2(m[g] - ref);
            m[g] = m_new;
            l[g] *= alpha;
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[g][e] *= alpha;
#pragma unroll
            for (int u = 0; u < L::kUnroll; ++u) s[g][u] = attn::fast_exp2(s[g][u] - ref);
        }
#pragma unroll
        for (int u = 0; u < L::kUnroll; ++u) {
            float vf[8];
            C::unpack8(vraw[u], vf);
#pragma unroll
            for (int g = 0; g < GC; ++g) {
                l[g] += s[g][u];
                const float w = C::kQuantized ? s[g][u] * vscale[u] : s[g][u];
#pragma unroll
                for (int e = 0; e < 8; ++e) acc[g][e] = fmaf(w, vf[e], acc[g][e]);
            }
        }
    }

    // Merge the kStates lane groups of the CTA. State st = warp * kGroupsPerWarp + kg; within a group
    // m and l are the same in every lane (the scores were summed across the group), acc is per lane.
    __shared__ DecodeStates<D, GC, L::kStates> states;
    const int st = warp * L::kGroupsPerWarp + kg;
#pragma unroll
    for (int g = 0; g < GC; ++g) {
        if (j == 0) {
            states.m[st][g] = m[g];
            states.l[st][g] = l[g];
        }
        if (has_vec)
#pragma unroll
            for (int e = 0; e < 8; ++e) states.acc[st][g][j * 8 + e] = acc[g][e];
    }
    __syncthreads();
    finish_decode<T>(states, p, seq, t, h0, n_heads, split);
}

// Grid: x = query head, y = sequence. Block: kCombineThreads. Merges the n_splits partial results of
// out[t, h, :] in two phases, each one round of independent loads:
//   1. thread i < n_splits reads split i's (max, sum); block reductions give the largest max, then
//      the weights 2^(m_i - max) go to shared memory with the total sum.
//   2. thread tid = slice * D + d (slice < n_slices) sums the weighted partial outputs of dimension
//      d over splits slice, slice + n_slices, ...; the slices are added up through shared memory.
template <typename T>
__global__ void __launch_bounds__(kCombineThreads) decode_combine_kernel(const DecodeParams p, int D) {
    wait_for_previous_grid_and_release_next();  // launched after the previous kernel (programmatic_launch.cuh)
    __shared__ float s_w[kDecodeMaxSplits];
    __shared__ float s_red[kCombineThreads / 32];
    __shared__ float s_part[kCombineThreads];
    const int h = blockIdx.x, seq = blockIdx.y;
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int64_t part0 = (int64_t(seq) * p.n_head + h) * p.n_splits;
    const float2 ml = tid < p.n_splits ? p.part_ml[part0 + tid] : make_float2(-INFINITY, 0.0f);
    const int t = p.q_start[seq];
    if (p.q_start[seq + 1] <= t) return;  // the same for the whole CTA

    float mx = ml.x;
    for (int off = 16; off > 0; off /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    if (lane == 0) s_red[warp] = mx;
    __syncthreads();
    mx = s_red[0];
#pragma unroll
    for (int w = 1; w < kCombineThreads / 32; ++w) mx = fmaxf(mx, s_red[w]);
    const float ref = mx == -INFINITY ? 0.0f : mx;  // all splits empty: every weight is 0
    const float w = attn::fast_exp2(ml.x - ref);    // 0 for an empty split and for tid >= n_splits
    if (tid < p.n_splits) s_w[tid] = w;
    float sum = ml.y * w;
    for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    __syncthreads();  // everyone has read s_red (the max) before it is reused for the sums
    if (lane == 0) s_red[warp] = sum;
    __syncthreads();
    sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kCombineThreads / 32; ++i) sum += s_red[i];
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;  // no visible key: zeros

    const int n_slices = max(1, kCombineThreads / D);
    const int slice = tid / D, d = tid % D;
    const float* acc = p.part_acc + part0 * D;
    if (slice < n_slices) {
        float a = 0.0f;
#pragma unroll 16
        for (int i = slice; i < p.n_splits; i += n_slices) a = fmaf(acc[int64_t(i) * D + d], s_w[i], a);
        s_part[tid] = a;
    }
    __syncthreads();
    T* out = static_cast<T*>(p.out) + t * p.ldo + int64_t(h) * D;
    for (int e = tid; e < D; e += kCombineThreads) {  // D > kCombineThreads: one slice, several dims each
        float a = 0.0f;
        if (D <= kCombineThreads) {
            for (int sl = 0; sl < n_slices; ++sl) a += s_part[sl * D + e];
        } else {
            for (int i = 0; i < p.n_splits; ++i) a = fmaf(acc[int64_t(i) * D + e], s_w[i], a);
        }
        out[e] = attn::Elem<T>::from_float(a * inv);
    }
}

// Merges the splits' partial results into the output (nothing to do with a single split).
template <typename T>
void launch_decode_combine(const DecodeParams& p, int head_dim, int n_seqs, cudaStream_t stream) {
    if (p.n_splits <= 1) return;
    launch_after_previous(decode_combine_kernel<T>, dim3(unsigned(p.n_head), unsigned(n_seqs)), dim3(kCombineThreads),
                          0, stream, p, head_dim);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

// The grid of the CUDA-core decode kernel: x = split, y = kv_head * head_chunks + chunk, z = sequence.
inline dim3 decode_grid(const DecodeParams& p, int n_seqs) {
    return dim3(unsigned(p.n_splits), unsigned(p.n_head_kv * p.head_chunks), unsigned(n_seqs));
}

template <typename T, typename KV, int D, int GC>
void launch_decode_kernels(const DecodeParams& p, int n_seqs, cudaStream_t stream) {
    launch_after_previous(decode_attention_kernel<T, KV, D, GC>, decode_grid(p, n_seqs), dim3(kThreads), 0, stream, p);
    TURBOLM_CUDA_CHECK_LAUNCH();
    launch_decode_combine<T>(p, D, n_seqs, stream);
}

template <typename T, typename KV, int D>
void launch_decode_dim(const DecodeParams& p, int head_chunk, int n_seqs, cudaStream_t stream) {
    switch (head_chunk) {
        case 1:
            return launch_decode_kernels<T, KV, D, 1>(p, n_seqs, stream);
        case 2:
            return launch_decode_kernels<T, KV, D, 2>(p, n_seqs, stream);
        case 4:
            return launch_decode_kernels<T, KV, D, 4>(p, n_seqs, stream);
        default:
            return launch_decode_kernels<T, KV, D, 8>(p, n_seqs, stream);
    }
}

template <typename T, typename KV>
void launch_decode_typed(const DecodeParams& p, int head_dim, int head_chunk, int n_seqs, cudaStream_t stream) {
    switch (head_dim) {
        case 64:
            return launch_decode_dim<T, KV, 64>(p, head_chunk, n_seqs, stream);
        case 80:
            return launch_decode_dim<T, KV, 80>(p, head_chunk, n_seqs, stream);
        case 96:
            return launch_decode_dim<T, KV, 96>(p, head_chunk, n_seqs, stream);
        case 128:
            return launch_decode_dim<T, KV, 128>(p, head_chunk, n_seqs, stream);
        default:
            return launch_decode_dim<T, KV, 256>(p, head_chunk, n_seqs, stream);
    }
}

// The kernels' parameters for a validated launch.
inline DecodeParams decode_params(const AttentionArgs& a, const DecodePlan& plan) {
    DecodeParams p;
    p.q = a.q;
    p.ldq = a.ldq;
    p.k = a.kv.k;
    p.v = a.kv.v;
    p.k_scale = a.kv.k_scale;
    p.v_scale = a.kv.v_scale;
    p.block_table = a.kv.block_table;
    p.max_blocks = a.kv.max_blocks;
    p.block_size = int32_t(a.kv.block_size);
    p.q_start = a.batch.q_start;
    p.kv_len = a.batch.kv_len;
    p.q_pos = a.batch.q_pos;
    p.n_seqs = int32_t(a.batch.n_seqs);
    p.n_head = int32_t(a.shape.n_head);
    p.n_head_kv = int32_t(a.shape.n_head_kv);
    p.group = int32_t(a.shape.n_head / a.shape.n_head_kv);
    p.head_chunks = plan.head_chunks;
    p.scale_log2 = a.shape.scale * attn::kLog2e;
    p.window = int32_t(a.shape.window);
    p.n_splits = plan.n_splits;
    p.out = a.out;
    p.ldo = a.ldo;
    // Workspace layout (see plan_decode): part_acc, then part_ml at the next 256-byte boundary.
    const size_t n_parts = size_t(a.batch.n_seqs) * a.shape.n_head * plan.n_splits;
    const size_t acc_bytes = (n_parts * a.shape.head_dim * sizeof(float) + 255) / 256 * 256;
    p.part_acc = plan.n_splits > 1 ? static_cast<float*>(a.workspace) : nullptr;
    p.part_ml = plan.n_splits > 1 ? reinterpret_cast<float2*>(static_cast<char*>(a.workspace) + acc_bytes) : nullptr;
    return p;
}

// The decode launch over 8-bit codes KV (int8_t or __nv_fp8_e4m3), for either 16-bit q/out type.
template <typename KV>
void launch_decode_codes(const AttentionArgs& a, const DecodePlan& plan, cudaStream_t stream) {
    const DecodeParams p = decode_params(a, plan);
    const int head_dim = int(a.shape.head_dim), n_seqs = int(a.batch.n_seqs);
    if (a.dtype == DType::kBF16)
        launch_decode_typed<__nv_bfloat16, KV>(p, head_dim, plan.head_chunk, n_seqs, stream);
    else
        launch_decode_typed<__half, KV>(p, head_dim, plan.head_chunk, n_seqs, stream);
}

}  // namespace
}  // namespace turbolm::cuda
