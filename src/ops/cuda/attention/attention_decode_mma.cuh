// Decode attention on tensor cores. Each warp takes one work item: a sequence, a KV head, a chunk
// of up to 8 of its query heads and one split of the keys (splits only when there are too few
// (sequence, KV head) pairs to fill the GPU; their partial results are merged by the combine kernel
// of attention_decode.cuh). It walks its keys 16 at a time and does the arithmetic with mma.sync
// m16n8k16 instead of per-lane dot products and shuffles:
//
//   S^T (16 keys x 8 heads) = K (16 keys x D) . Q^T (D x 8 heads)
//   O^T (D x 8 heads)      += V^T (D x 16 keys) . P (16 keys x 8 heads)
//
// The query heads of the group are the 8 columns (padded with zeros), so the keys, not the heads,
// fill the 16 rows and nothing is wasted for a group of 8. A dot product does not care in which
// order it visits the dimensions, so lane quad c of the K fragments takes D/4 dimensions of its key
// rows in runs of 16 bytes, run i at 16-byte chunk c + 4i of the row, Q's fragments following the
// same order: the four lanes of a row read 64 consecutive bytes per load, whole 32-byte sectors that
// no later load touches again. Likewise lane g of the V fragments reads D/8 dimensions of four keys,
// run i at chunk g + 8i (eight lanes, 128 consecutive bytes), and the output rows come out in that
// order. The softmax probabilities go from the C layout of S^T to the B layout of P with one
// movmatrix per 8 keys.
//
// A warp on its own needs no block barrier and no shared memory, and one that ends early frees its
// slot for the next, so many short items (a decode batch of a few hundred tokens) keep the memory
// system busy. With kPrefetch the loads of the next 16 keys are issued before the current ones are
// computed. An 8-bit cache (int8 or E4M3 codes) is multiplied in f16, which holds every code exactly
// (one conversion instruction per pair of E4M3 codes); each key's scale multiplies its row of S^T in
// f32, and each value's scale, relative to the largest of its tile, its row of P before P is rounded.
//
// A work item's state and arithmetic (MmaDecodeWarp) are also those of the bulk-fed kernel
// (attention_decode_bulk.cuh), which brings the tiles through shared memory instead of registers.
//
// Included by the attention_decode_mma*.cu files, each of which instantiates one kind of pool.
#pragma once

#include <type_traits>

#include "ops/cuda/attention/attention_decode.cuh"
#include "ops/cuda/attention/attention_mma.cuh"

namespace turbolm::cuda {
namespace {

constexpr int kMmaWarps = 4;  // work items per CTA
constexpr int kMmaThreads = 32 * kMmaWarps;
constexpr int kMmaTileKeys = 16;             // keys per warp per tile
constexpr int kMmaHeads = 8;                 // query heads per work item (the n of the mma)

// T: the type of q and out; KV: the pools' element type; M: the type the tensor cores multiply.
template <typename T, typename KV, int D>
struct MmaDecodeLayout {
    using C = attn::KvCode<KV>;
    static constexpr bool kCodes = C::kQuantized;
    static constexpr int kSteps = D / 16;                   // k-steps of S^T, m-tiles of O^T
    static constexpr int kKWords = D / 4 * sizeof(KV) / 4;  // words of a lane's slice of a K row
    static constexpr int kVWords = D / 8 * sizeof(KV) / 4;  // words of a lane's slice of a V row
    static constexpr int kQWords = D / 8;                   // words of a lane's slice of a q row (16-bit)
    // Elements of a lane's K and V slices per load (16 bytes, or the whole slice when it is shorter),
    // and the loads per slice.
    static constexpr int kKRun = D / 4 * int(sizeof(KV)) < 16 ? D / 4 : 16 / int(sizeof(KV));
    static constexpr int kKRuns = D / 4 / kKRun;
    static constexpr int kVRun = D / 8 * int(sizeof(KV)) < 16 ? D / 8 : 16 / int(sizeof(KV));
    static constexpr int kVRuns = D / 8 / kVRun;
    // The dimension of element e of a lane's V slice (lane group g), and thus of its output rows.
    static __device__ __forceinline__ int v_dim(int g, int e) { return (g + 8 * (e / kVRun)) * kVRun + e % kVRun; }
    static_assert(D == 64 || D == 128, "D = 256 would not fit the registers");
};

// 16 and 8 bytes through the read-only path without allocating in L1: every byte of the pools is
// read by exactly one load, so caching them would only evict what the other warps are about to use
// (H200, 8B shape at batch 1024 and 192 keys: 230 us against 234 for bf16 pools, 135 against 147 for
// FP8 codes).
__device__ __forceinline__ uint4 ld_stream16(const void* p) {
    uint4 x;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\n"
        : "=r"(x.x), "=r"(x.y), "=r"(x.z), "=r"(x.w)
        : "l"(p));
    return x;
}
__device__ __forceinline__ uint2 ld_stream8(const void* p) {
    uint2 x;
    asm("ld.global.nc.L1::no_allocate.v2.u32 {%0, %1}, [%2];\n" : "=r"(x.x), "=r"(x.y) : "l"(p));
    return x;
}

// kRuns runs of kRunWords consecutive 32-bit words, run i from src + i * run_stride (elements of
// E), into w in that order (each run 16-byte aligned when kRunWords % 4 == 0, else 8-byte), or zeros
// without reading when !valid.
template <int kRunWords, int kRuns, typename E, int kWords>
__device__ __forceinline__ void load_runs(const E* src, int64_t run_stride, bool valid, uint32_t (&w)[kWords]) {
    static_assert(kRunWords * kRuns == kWords && kRunWords % 2 == 0, "whole 8- or 16-byte loads");
#pragma unroll
    for (int r = 0; r < kRuns; ++r) {
        const void* run = src + r * run_stride;
        uint32_t* out = w + r * kRunWords;
        if constexpr (kRunWords % 4 == 0) {
#pragma unroll
            for (int i = 0; i < kRunWords / 4; ++i) {
                const uint4 x = valid ? ld_stream16(static_cast<const uint4*>(run) + i) : make_uint4(0, 0, 0, 0);
                out[4 * i] = x.x, out[4 * i + 1] = x.y, out[4 * i + 2] = x.z, out[4 * i + 3] = x.w;
            }
        } else {
#pragma unroll
            for (int i = 0; i < kRunWords / 2; ++i) {
                const uint2 x = valid ? ld_stream8(static_cast<const uint2*>(run) + i) : make_uint2(0, 0);
                out[2 * i] = x.x, out[2 * i + 1] = x.y;
            }
        }
    }
}

__device__ __forceinline__ uint32_t movmatrix_trans(uint32_t x) {
    uint32_t y;
    asm("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
    return y;
}

// Two 8-bit codes (the lower-index one in the low byte of `pair`; the high bytes are ignored) as an
// f16 pair, exactly: one cvt for E4M3; for int8 the byte b + 128 under the f16 exponent of 1024 gives
// 1024 + 128 + b, and one subtraction leaves b.
template <typename KV>
__device__ __forceinline__ uint32_t codes_to_f16x2(uint32_t pair) {
    if constexpr (std::is_same_v<KV, int8_t>) {
        const uint32_t biased = __byte_perm(pair ^ 0x8080u, 0x64646464u, 0x5140);
        const __half2 h =
            __hsub2(*reinterpret_cast<const __half2*>(&biased), __half2(__half(1152.0f), __half(1152.0f)));
        return *reinterpret_cast<const uint32_t*>(&h);
    } else {
        const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(pair & 0xffffu), __NV_E4M3);
        return uint32_t(h.x) | (uint32_t(h.y) << 16);
    }
}

// One warp's 16 keys: the lane's K slices of keys g and g + 8, its V slices of keys 2c, 2c + 1,
// 2c + 8, 2c + 9 (g = lane / 4, c = lane % 4), and for 8-bit codes the scales of keys g and g + 8.
template <typename L>
struct MmaDecodeTile {
    uint32_t k[2][L::kKWords];
    uint32_t v[4][L::kVWords];
    float k_scale[2], v_scale[2];
};

// The state and arithmetic of one warp's work item, whichever way its tiles arrive: the Q^T
// fragments, the online softmax of its (up to 8) heads and the O^T accumulators.
template <typename T, typename KV, int D>
struct MmaDecodeWarp {
    using L = MmaDecodeLayout<T, KV, D>;
    using M = std::conditional_t<L::kCodes, __half, T>;  // the tensor cores' element type
    using Tile = MmaDecodeTile<L>;

    int g, c;  // lane / 4, lane % 4
    // Q^T fragments: head g's dimensions in the order of the lane's K slice (run i at dimension
    // (c + 4i) kKRun); k-step s takes words 2s (b0) and 2s + 1 (b1).
    uint32_t qf[L::kQWords];
    // Per lane: the softmax state of heads 2c and 2c + 1 (m the same across the 8 lanes of a quad
    // column, l this lane's share of the sum) and O^T's fragments: acc[i][0 / 1] = (element i of the
    // lane's V slice, heads 2c / 2c + 1), acc[i][2 / 3] = (element D/16 + i, same heads).
    float m[2], l[2];
    // 8-bit codes: acc is kept in units of v_ref, the largest value scale of the latest tile, so that
    // P times a value's scale over v_ref stays in [0, 1] when rounded to f16 (a scale itself may be
    // far below f16's normal range).
    float v_ref;
    float acc[L::kSteps][4];

    // Query token t, heads [h0, h0 + n_heads).
    __device__ void start(const DecodeParams& p, int lane, int t, int h0, int n_heads) {
        g = lane / 4, c = lane % 4;
        load_runs<L::kKRun / 2, L::kKRuns>(static_cast<const T*>(p.q) + t * p.ldq + int64_t(h0 + g) * D + c * L::kKRun,
                                           4 * L::kKRun, g < n_heads, qf);
        // Over 8-bit codes the tensor cores multiply f16, which holds every code exactly; q goes to
        // f16 already scaled into the base-2 domain (its rounding finer than bf16's, its range ample).
        if constexpr (L::kCodes) {
#pragma unroll
            for (int i = 0; i < L::kQWords; ++i) {
                const float2 f = attn::Elem<T>::unpack(qf[i]);
                qf[i] = attn::Elem<__half>::pack(f.x * p.scale_log2, f.y * p.scale_log2);
            }
        }
        m[0] = m[1] = -INFINITY;
        l[0] = l[1] = 0.0f;
        v_ref = 1.0f;
#pragma unroll
        for (int i = 0; i < L::kSteps; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
    }

    // The 16 keys from `base` (those at k_end and past are masked).
    __device__ void compute(const DecodeParams& p, int base, int k_end, const Tile& tile) {
        // S^T = K Q^T over kSteps k-steps.
        float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int st = 0; st < L::kSteps; ++st) {
            uint32_t a[4];
            if constexpr (L::kCodes) {
                a[0] = codes_to_f16x2<KV>(tile.k[0][st]);
                a[1] = codes_to_f16x2<KV>(tile.k[1][st]);
                a[2] = codes_to_f16x2<KV>(tile.k[0][st] >> 16);
                a[3] = codes_to_f16x2<KV>(tile.k[1][st] >> 16);
            } else {
                a[0] = tile.k[0][2 * st], a[1] = tile.k[1][2 * st];
                a[2] = tile.k[0][2 * st + 1], a[3] = tile.k[1][2 * st + 1];
            }
            attn::mma_16816<M>(s, a, qf[2 * st], qf[2 * st + 1]);
        }
        // s[0 / 1] = (key g, heads 2c / 2c + 1), s[2 / 3] = (key g + 8, same heads), base-2 domain.
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            const bool valid = base + g + 8 * r < k_end;
            const float scale = L::kCodes ? tile.k_scale[r] : p.scale_log2;  // codes: q carries scale_log2
            s[2 * r] = valid ? s[2 * r] * scale : -INFINITY;
            s[2 * r + 1] = valid ? s[2 * r + 1] * scale : -INFINITY;
        }
        // Online softmax per head column: the tile's max over the 16 keys (two per lane, then the
        // eight lanes of the column); one rescale of l and acc per tile.
        float alpha[2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float mx = fmaxf(s[h], s[h + 2]);
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 4));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 8));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 16));
            const float m_new = fmaxf(m[h], mx);
            const float ref = m_new == -INFINITY ? 0.0f : m_new;  // no key seen yet: no -inf - -inf
            alpha[h] = attn::fast_exp2(m[h] - ref);
            m[h] = m_new;
            s[h] = attn::fast_exp2(s[h] - ref);
            s[h + 2] = attn::fast_exp2(s[h + 2] - ref);
            l[h] = l[h] * alpha[h] + s[h] + s[h + 2];
        }
        if constexpr (L::kCodes) {
            // This tile's v_ref: the largest value scale of its 16 keys (1 when all are 0 or tiny,
            // so that the ratio below stays finite).
            float vm = fmaxf(tile.v_scale[0], tile.v_scale[1]);
            vm = fmaxf(vm, __shfl_xor_sync(0xffffffffu, vm, 4));
            vm = fmaxf(vm, __shfl_xor_sync(0xffffffffu, vm, 8));
            vm = fmaxf(vm, __shfl_xor_sync(0xffffffffu, vm, 16));
            const float ref = vm > 1e-30f ? vm : 1.0f;
            alpha[0] *= v_ref / ref, alpha[1] *= v_ref / ref;
            v_ref = ref;
            const float inv = 1.0f / ref;
            s[0] *= tile.v_scale[0] * inv, s[1] *= tile.v_scale[0] * inv;
            s[2] *= tile.v_scale[1] * inv, s[3] *= tile.v_scale[1] * inv;
        }
#pragma unroll
        for (int i = 0; i < L::kSteps; ++i) {
            acc[i][0] *= alpha[0], acc[i][2] *= alpha[0];
            acc[i][1] *= alpha[1], acc[i][3] *= alpha[1];
        }
        // P in the B layout: (keys 2c, 2c + 1 / 2c + 8, 2c + 9; head g).
        const uint32_t b0 = movmatrix_trans(attn::Elem<M>::pack(s[0], s[1]));
        const uint32_t b1 = movmatrix_trans(attn::Elem<M>::pack(s[2], s[3]));
        // O^T += V^T P: m-tile i takes dimensions g D/8 + i (rows g) and g D/8 + D/16 + i (rows g + 8)
        // of keys 2c, 2c + 1 (a0, a1) and 2c + 8, 2c + 9 (a2, a3).
#pragma unroll
        for (int i = 0; i < L::kSteps; ++i) {
            uint32_t a[4];
#pragma unroll
            for (int half = 0; half < 2; ++half) {  // a0 / a1: rows g / g + 8
#pragma unroll
                for (int kp = 0; kp < 2; ++kp) {        // keys 2c, 2c + 1 / 2c + 8, 2c + 9
                    const int d = half * (D / 16) + i;  // dimension within the lane's slice
                    const uint32_t* lo = tile.v[2 * kp];
                    const uint32_t* hi = tile.v[2 * kp + 1];
                    uint32_t pair;
                    if constexpr (L::kCodes) {
                        // Bytes d of both keys side by side, then converted.
                        const uint32_t w = __byte_perm(lo[d / 4], hi[d / 4], 0x40 + (d % 4) * 0x11);
                        pair = codes_to_f16x2<KV>(w);
                    } else {
                        pair = __byte_perm(lo[d / 2], hi[d / 2], d % 2 ? 0x7632 : 0x5410);
                    }
                    a[half + 2 * kp] = pair;
                }
            }
            attn::mma_16816<M>(acc[i], a, b0, b1);
        }
    }

    // The output (a single split) or this split's partial result, of sequence seq's token t.
    __device__ void store(const DecodeParams& p, int seq, int t, int h0, int n_heads, int split) {
        // Each head column's sum over its eight lanes; then the output (a single split) or this split's
        // partial result. Lane (g, c) holds heads 2c, 2c + 1 at the dimensions of its V slice's elements
        // [0, D/16) (acc[.][h]) and [D/16, D/8) (acc[.][h + 2]).
    #pragma unroll
        for (int h = 0; h < 2; ++h) {
            l[h] += __shfl_xor_sync(0xffffffffu, l[h], 4);
            l[h] += __shfl_xor_sync(0xffffffffu, l[h], 8);
            l[h] += __shfl_xor_sync(0xffffffffu, l[h], 16);
        }
    #pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int head = 2 * c + h;
            if (head >= n_heads) continue;
            if (p.n_splits == 1) {
                const float inv = l[h] > 0.0f ? v_ref / l[h] : 0.0f;  // no visible key: zeros
                T* out = static_cast<T*>(p.out) + t * p.ldo + int64_t(h0 + head) * D;
    #pragma unroll
                for (int i = 0; i < L::kSteps; ++i) {
                    out[L::v_dim(g, i)] = attn::Elem<T>::from_float(acc[i][h] * inv);
                    out[L::v_dim(g, D / 16 + i)] = attn::Elem<T>::from_float(acc[i][h + 2] * inv);
                }
            } else {
                const int64_t part = (int64_t(seq) * p.n_head + h0 + head) * p.n_splits + split;
                float* pa = p.part_acc + part * D;
    #pragma unroll
                for (int i = 0; i < L::kSteps; ++i) {
                    pa[L::v_dim(g, i)] = acc[i][h] * v_ref;
                    pa[L::v_dim(g, D / 16 + i)] = acc[i][h + 2] * v_ref;
                }
                if (g == 0) p.part_ml[part] = make_float2(m[h], l[h]);
            }
        }
    }
};

// T: q/out type; KV: pool element type; kPrefetch: two tiles in flight per warp. Grid: one CTA per
// kMmaWarps work items; block: kMmaThreads.
// 8-bit codes without the second tile fit in 128 registers: four CTAs (16 warps) an SM instead of three.
template <typename KV, bool kPrefetch>
constexpr int mma_decode_min_ctas() {
    return attn::KvCode<KV>::kQuantized && !kPrefetch ? 4 : 1;
}

template <typename T, typename KV, int D, bool kPrefetch>
__global__ void __launch_bounds__(kMmaThreads, mma_decode_min_ctas<KV, kPrefetch>())
    decode_attention_mma_kernel(const DecodeParams p) {
    wait_for_previous_grid_and_release_next();  // launched after the previous kernel (programmatic_launch.cuh)
    using L = MmaDecodeLayout<T, KV, D>;
    using Tile = MmaDecodeTile<L>;

    // Work item: ((seq * n_head_kv + kvh) * head_chunks + chunk) * n_splits + split, so that the
    // warps of a CTA share a sequence's block table.
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int item = blockIdx.x * kMmaWarps + warp;
    const int items_per_seq = p.n_head_kv * p.head_chunks * p.n_splits;
    const int seq = item / items_per_seq;
    if (seq >= p.n_seqs) return;  // the same for the whole warp; no block barrier follows
    item %= items_per_seq;
    const int split = item % p.n_splits;
    const int chunk = item / p.n_splits % p.head_chunks;
    const int kvh = item / (p.n_splits * p.head_chunks);
    const int t = p.q_start[seq];
    if (p.q_start[seq + 1] <= t) return;  // no query token: the combine kernel skips it too

    const int g = lane / 4, c = lane % 4;
    MmaDecodeWarp<T, KV, D> w;
    const int h0 = kvh * p.group + chunk * kMmaHeads;  // first query head of this item
    const int n_heads = min(kMmaHeads, p.group - chunk * kMmaHeads);
    const int2 keys = split_keys(p, seq, t, split, kMmaTileKeys);
    const int k_begin = keys.x, k_end = keys.y;

    w.start(p, lane, t, h0, n_heads);

    const int64_t slot_stride = int64_t(p.n_head_kv) * D;  // elements between consecutive slots
    const KV* kbase = static_cast<const KV*>(p.k) + int64_t(kvh) * D + c * L::kKRun;
    const KV* vbase = static_cast<const KV*>(p.v) + int64_t(kvh) * D + g * L::kVRun;
    // Lane i < 16 looks up the slot of key base + i; every lane fetches the slots it needs by shuffle.
    auto lookup = [&](int base) -> int64_t {
        const int key = base + (lane & 15);
        return lane < 16 && key < k_end ? attn::kv_slot(p.block_table, p.max_blocks, p.block_size, seq, key) : 0;
    };
    auto load_tile = [&](int base, int64_t slots, Tile& tile) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {  // K rows g, g + 8
            const int idx = g + 8 * r;
            const int64_t slot = __shfl_sync(0xffffffffu, slots, idx);
            const bool valid = base + idx < k_end;
            load_runs<L::kKWords / L::kKRuns, L::kKRuns>(kbase + slot * slot_stride, 4 * L::kKRun, valid, tile.k[r]);
            if constexpr (L::kCodes) {
                tile.k_scale[r] = valid ? __ldg(p.k_scale + slot * p.n_head_kv + kvh) : 0.0f;
                tile.v_scale[r] = valid ? __ldg(p.v_scale + slot * p.n_head_kv + kvh) : 0.0f;
            }
        }
#pragma unroll
        for (int r = 0; r < 4; ++r) {  // V rows 2c, 2c + 1, 2c + 8, 2c + 9
            const int idx = 2 * c + (r & 1) + 8 * (r >> 1);
            const int64_t slot = __shfl_sync(0xffffffffu, slots, idx);
            load_runs<L::kVWords / L::kVRuns, L::kVRuns>(vbase + slot * slot_stride, 8 * L::kVRun, base + idx < k_end,
                                                         tile.v[r]);
        }
    };

    // The loop bounds are the same for the whole warp, so every shuffle runs with all lanes present.
    int base = k_begin;
    int64_t slots = lookup(base);
    if constexpr (kPrefetch) {
        Tile cur;
        load_tile(base, slots, cur);
        slots = lookup(base + kMmaTileKeys);
        for (; base < k_end; base += kMmaTileKeys) {
            Tile next;
            load_tile(base + kMmaTileKeys, slots, next);  // keys past k_end read nothing
            slots = lookup(base + 2 * kMmaTileKeys);
            w.compute(p, base, k_end, cur);
            cur = next;
        }
    } else {
        for (; base < k_end; base += kMmaTileKeys) {
            Tile cur;
            load_tile(base, slots, cur);
            slots = lookup(base + kMmaTileKeys);
            w.compute(p, base, k_end, cur);
        }
    }

    w.store(p, seq, t, h0, n_heads, split);
}

// The tensor-core decode launch for one kind of pool.
template <typename T, typename KV>
void launch_decode_mma_typed(const AttentionArgs& a, const DecodePlan& plan, cudaStream_t stream) {
    const DecodeParams p = decode_params(a, plan);
    const int n_seqs = int(a.batch.n_seqs);
    const int64_t items = int64_t(n_seqs) * p.n_head_kv * p.head_chunks * p.n_splits;
    const dim3 grid(unsigned((items + kMmaWarps - 1) / kMmaWarps));
    // Two tiles in flight per warp pay off for 16-bit pools (whose second tile costs 64 more
    // registers, hence fewer resident warps) only when the items fill the GPU unsplit (H200: 8B shape
    // at batch 256, 63 vs 69 us; at batch 64, 103 vs 77). For 8-bit codes it is the other way round:
    // filling the GPU, more warps with one tile each win (batch 1024 and 192 keys, 146 vs 160 us;
    // batch 256 and 1,024 keys, 166 vs 236), while split or fewer items keep the second tile (batch 64
    // and 1,024 keys, 58 vs 62; the 70B shape's groups of 8 at batch 64, 68 vs 73).
    const int64_t units = int64_t(n_seqs) * p.n_head_kv * p.head_chunks;
    const bool fills_gpu = p.n_splits == 1 && units >= kMmaDecodeFullUnits;
    const bool prefetch = a.kv.k_scale != nullptr ? !fills_gpu : fills_gpu;
    auto launch = [&](auto head_dim, auto two_tiles) {
        launch_after_previous(decode_attention_mma_kernel<T, KV, decltype(head_dim)::value, decltype(two_tiles)::value>,
                              grid, dim3(kMmaThreads), 0, stream, p);
    };
    using D64 = std::integral_constant<int, 64>;
    using D128 = std::integral_constant<int, 128>;
    if (a.shape.head_dim == 64)
        prefetch ? launch(D64{}, std::true_type{}) : launch(D64{}, std::false_type{});
    else
        prefetch ? launch(D128{}, std::true_type{}) : launch(D128{}, std::false_type{});
    TURBOLM_CUDA_CHECK_LAUNCH();
    launch_decode_combine<T>(p, int(a.shape.head_dim), n_seqs, stream);
}

}  // namespace
}  // namespace turbolm::cuda
