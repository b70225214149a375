// Prefill and mixed-batch attention on tensor cores, flash-attention style: a CTA holds 64 query
// rows, streams the keys and values it can see through shared memory in tiles of 64 (double
// buffered with cp.async), computes S = Q K^T and O += P V with mma.sync m16n8k16 in f32, and keeps
// the softmax online in registers, so S never leaves the chip.
//
// Query rows are packed per KV head: row f of a (sequence, KV head) is token f / group and query
// head kvh * group + f % group. The heads of a group share every K/V tile, and a decode or short
// chunk still fills group rows of the tile instead of one.
//
// An 8-bit cache (int8 or E4M3 codes with a scale per key and head) is copied into double-buffered
// staging tiles of codes instead; before a tile is used, one pass converts its codes into the 16-bit
// K and V tiles (a single buffer each) that the tensor cores read. Every int8 and E4M3 code is exact
// in bf16 and f16, so nothing is rounded there: each key's scale multiplies its column of S in f32,
// and with bf16 each value's scale multiplies its column of P before P is packed (one rounding, as
// with a 16-bit cache). With f16, whose small exponent range would flush P times a small scale, the
// V tile holds the codes times their scales rounded to f16 instead.
//
// Included by attention_prefill_<type>.cu, each of which instantiates one kind of pool.
#pragma once

#include <climits>
#include <cmath>
#include <type_traits>

#include "ops/cuda/attention/attention_device.cuh"
#include "ops/cuda/attention/attention_mma.cuh"
#include "ops/cuda/attention/attention_paths.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/dynamic_smem.h"

namespace turbolm::cuda::attn {

constexpr int kPrefillThreads = 128;  // 4 warps, 16 query rows each

struct PrefillParams {
    const void* q;  // [T, n_head, head_dim], token stride ldq
    int64_t ldq;
    const void* k;               // [n_slots, n_head_kv, head_dim]
    const void* v;               // [n_slots, n_head_kv, head_dim]
    const float* k_scale;        // [n_slots, n_head_kv] for 8-bit codes, else null
    const float* v_scale;        // [n_slots, n_head_kv] for 8-bit codes, else null
    const int32_t* block_table;  // [n_seqs, max_blocks]
    int64_t max_blocks;
    int32_t block_size;
    const int32_t* q_start;  // [n_seqs + 1]
    const int32_t* kv_len;   // [n_seqs]
    const int32_t* q_pos;    // [T]
    int32_t n_head_kv, group;
    float scale_log2;  // scale * log2(e)
    int32_t window;
    void* out;  // [T, n_head, head_dim], token stride ldo
    int64_t ldo;
};

// D: head size; kCodes: the pools hold 8-bit codes; kShortKeys: tiles of 32 keys, whose smaller
// shared memory fits more CTAs on an SM (short sequences: few tiles each, latency-bound).
template <int D, bool kCodes, bool kShortKeys>
struct PrefillLayout {
    static constexpr int kRows = 64;  // packed query rows per CTA
    // Keys per K/V tile: fewer for D = 256, whose 16 x 256 f32 output tile already fills the registers.
    static constexpr int kKeys = D > 128 || kShortKeys ? 32 : 64;
    static constexpr int kStride = D + 8;            // shared row stride in elements: the 16-byte pad puts the
                                                     // 8 rows of each ldmatrix phase in distinct banks
    static constexpr int kChunks = D / 8;            // 16-byte chunks per row
    static constexpr bool kQInRegs = D <= 128;       // Q fragments stay in registers (D = 256 would spill)
    static constexpr int kQTile = kRows * kStride;
    static constexpr int kKvTile = kKeys * kStride;
    static constexpr int kKvStages = kCodes ? 1 : 2;   // 16-bit K and V tiles per operand
    static constexpr int kCodeStride = D + 16;         // bytes per staged code row (16-byte aligned)
    static constexpr int kCodeChunks = D / 16;         // 16-byte chunks per code row
    static constexpr int kCodeTile = kKeys * kCodeStride;
    // Q, then K stages, then V stages (16-bit), then for codes the staging tiles K0, K1, V0, V1.
    static constexpr size_t kSmemBytes =
        size_t(kQTile + 2 * kKvStages * kKvTile) * 2 + (kCodes ? 4 * size_t(kCodeTile) : 0);
    static_assert(D % 16 == 0, "the mma k-steps and ldmatrix pairs need head_dim % 16 == 0");
    static_assert(kKeys * kChunks % kPrefillThreads == 0 && kRows * kChunks % kPrefillThreads == 0,
                  "copies split evenly over 128 threads");
};

// Grid: x = row tile (reversed, so the tiles with the most keys start first), y = KV head,
// z = sequence. Block: 4 warps; warp w computes rows 16w..16w+15 of the tile; within a warp lane
// holds rows group and group + 8 (group = lane / 4) of every mma fragment (see attention_mma.cuh).
// T: the type of q and out; KV: the pools' element type (T, int8_t or __nv_fp8_e4m3).
template <typename T, typename KV, int D, bool kShortKeys>
__global__ void __launch_bounds__(kPrefillThreads) prefill_attention_kernel(const PrefillParams p) {
    using C = KvCode<KV>;
    using L = PrefillLayout<D, C::kQuantized, kShortKeys>;
    extern __shared__ __align__(16) unsigned char smem[];
    T* sq = reinterpret_cast<T*>(smem);      // [kRows][kStride]
    T* sk = sq + L::kQTile;                  // [kKvStages][kKeys][kStride]
    T* sv = sk + L::kKvStages * L::kKvTile;  // [kKvStages][kKeys][kStride]
    // Codes only: [2][kKeys][kCodeStride] bytes each.
    unsigned char* ck = reinterpret_cast<unsigned char*>(sv + L::kKvStages * L::kKvTile);
    unsigned char* cv = ck + 2 * L::kCodeTile;
    __shared__ int64_t s_row[2][L::kKeys];  // per stage: element offset of each key's K/V row, -1 past `hi`
    // Codes only: per stage the scale of each key's K and V row (0 past `hi`).
    __shared__ __align__(8) float s_kscale[2][C::kQuantized ? L::kKeys : 1];
    __shared__ __align__(8) float s_vscale[2][C::kQuantized ? L::kKeys : 1];
    // Codes with bf16: the V scales go into P (else into the V tile).
    constexpr bool kScaleP = C::kQuantized && std::is_same_v<T, __nv_bfloat16>;
    __shared__ int s_pos_min[2], s_pos_max[2];

    const int tile = gridDim.x - 1 - blockIdx.x;
    const int kvh = blockIdx.y, seq = blockIdx.z;
    const int q0 = p.q_start[seq];
    const int n_rows = (p.q_start[seq + 1] - q0) * p.group;  // packed rows of this (sequence, KV head)
    const int row0 = tile * L::kRows;
    if (row0 >= n_rows) return;  // the same for the whole CTA
    const int kv_len = p.kv_len[seq];
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int quad = lane % 4;

    // Positions of the tile's valid rows: threads 0..63 read one row each; warps 0 and 1 reduce.
    if (tid < L::kRows) {
        const int f = row0 + tid;
        int pmin = INT_MAX, pmax = INT_MIN;
        if (f < n_rows) pmin = pmax = p.q_pos[q0 + f / p.group];
        pmin = __reduce_min_sync(0xffffffffu, pmin);
        pmax = __reduce_max_sync(0xffffffffu, pmax);
        if (lane == 0) {
            s_pos_min[warp] = pmin;
            s_pos_max[warp] = pmax;
        }
    }
    __syncthreads();
    const int pos_min = min(s_pos_min[0], s_pos_min[1]), pos_max = max(s_pos_max[0], s_pos_max[1]);
    // Keys any row of the tile can see: [lo, hi], walked in tiles of kKeys starting at lo.
    const int hi = min(pos_max, kv_len - 1);
    const int lo = p.window > 0 ? max(0, pos_min - p.window + 1) : 0;
    const int n_tiles = hi >= lo ? (hi - lo) / L::kKeys + 1 : 0;

    // This lane's two rows. A padding row gets position -1: it sees no key in masked tiles, its Q is
    // zero (finite scores) in whole tiles, and it is never stored.
    const int f_a = row0 + warp * 16 + lane / 4, f_b = f_a + 8;
    const int pos_a = f_a < n_rows ? p.q_pos[q0 + f_a / p.group] : -1;
    const int pos_b = f_b < n_rows ? p.q_pos[q0 + f_b / p.group] : -1;

    const KV* kpool = static_cast<const KV*>(p.k);
    const KV* vpool = static_cast<const KV*>(p.v);
    // Threads 0..kKeys-1 look up the pool row of key lo + tile_j * kKeys + tid for stage `stage`.
    auto fill_rows = [&](int tile_j, int stage) {
        if (tid < L::kKeys) {
            const int key = lo + tile_j * L::kKeys + tid;
            s_row[stage][tid] =
                key <= hi ? (kv_slot(p.block_table, p.max_blocks, p.block_size, seq, key) * p.n_head_kv + kvh) * D : -1;
        }
    };
    // Copies the K and V rows listed in s_row[stage] into that stage (for codes: into the staging
    // tiles, with the rows' scales); rows past hi become zeros, so a masked P = 0 never meets a NaN
    // from unwritten memory.
    auto load_kv = [&](int stage) {
        if constexpr (!C::kQuantized) {
            T* dk = sk + stage * L::kKvTile;
            T* dv = sv + stage * L::kKvTile;
#pragma unroll
            for (int i = 0; i < L::kKeys * L::kChunks / kPrefillThreads; ++i) {  // chunk c = tid + 128 i
                const int c = tid + i * kPrefillThreads, r = c / L::kChunks, ch = c % L::kChunks;
                const int64_t off = s_row[stage][r];
                const int64_t src = off >= 0 ? off + ch * 8 : 0;
                cp_async_16(dk + r * L::kStride + ch * 8, kpool + src, off >= 0);
                cp_async_16(dv + r * L::kStride + ch * 8, vpool + src, off >= 0);
            }
        } else {
            unsigned char* dk = ck + stage * L::kCodeTile;
            unsigned char* dv = cv + stage * L::kCodeTile;
            for (int c = tid; c < L::kKeys * L::kCodeChunks; c += kPrefillThreads) {  // 16 codes each
                const int r = c / L::kCodeChunks, ch = c % L::kCodeChunks;
                const int64_t off = s_row[stage][r];
                const int64_t src = off >= 0 ? off + ch * 16 : 0;
                cp_async_16(dk + r * L::kCodeStride + ch * 16, kpool + src, off >= 0);
                cp_async_16(dv + r * L::kCodeStride + ch * 16, vpool + src, off >= 0);
            }
            if (tid < L::kKeys) {
                const int64_t off = s_row[stage][tid];
                const int64_t head = off >= 0 ? off / D : 0;  // slot * n_head_kv + kvh
                cp_async_4(&s_kscale[stage][tid], p.k_scale + head, off >= 0);
                cp_async_4(&s_vscale[stage][tid], p.v_scale + head, off >= 0);
            }
        }
    };
    // Codes only: the staged tile of `stage` into the K and V tiles: the codes themselves (exact in
    // T), and for V without kScaleP the codes times their scales, rounded once to T. Chunk c = 8
    // elements of row c / kChunks.
    auto dequantize_kv = [&](int stage) {
        if constexpr (C::kQuantized) {
            using Vec = typename C::Vec8;
            const unsigned char* k8 = ck + stage * L::kCodeTile;
            const unsigned char* v8 = cv + stage * L::kCodeTile;
#pragma unroll
            for (int i = 0; i < L::kKeys * L::kChunks / kPrefillThreads; ++i) {
                const int c = tid + i * kPrefillThreads, r = c / L::kChunks, ch = c % L::kChunks;
                const float vs = kScaleP ? 1.0f : s_vscale[stage][r];
                float kf[8], vf[8];
                C::unpack8(*reinterpret_cast<const Vec*>(k8 + r * L::kCodeStride + ch * 8), kf);
                C::unpack8(*reinterpret_cast<const Vec*>(v8 + r * L::kCodeStride + ch * 8), vf);
                uint4 ko, vo;
                ko.x = Elem<T>::pack(kf[0], kf[1]), ko.y = Elem<T>::pack(kf[2], kf[3]);
                ko.z = Elem<T>::pack(kf[4], kf[5]), ko.w = Elem<T>::pack(kf[6], kf[7]);
                vo.x = Elem<T>::pack(vf[0] * vs, vf[1] * vs), vo.y = Elem<T>::pack(vf[2] * vs, vf[3] * vs);
                vo.z = Elem<T>::pack(vf[4] * vs, vf[5] * vs), vo.w = Elem<T>::pack(vf[6] * vs, vf[7] * vs);
                *reinterpret_cast<uint4*>(sk + r * L::kStride + ch * 8) = ko;
                *reinterpret_cast<uint4*>(sv + r * L::kStride + ch * 8) = vo;
            }
        }
    };

    float o[D / 8][4];  // output rows (group, group + 8) x dims (8n + 2quad..+1), unnormalized
#pragma unroll
    for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float m_a = -INFINITY, m_b = -INFINITY;  // running row maxima (base-2 scores)
    float l_a = 0.0f, l_b = 0.0f;            // this lane's part of the row sums of 2^(s - m)

    if (n_tiles > 0) {
        fill_rows(0, 0);
        if (n_tiles > 1) fill_rows(1, 1);
        __syncthreads();
        {  // Q tile: padding rows are zero-filled.
            const T* qg = static_cast<const T*>(p.q);
#pragma unroll
            for (int i = 0; i < L::kRows * L::kChunks / kPrefillThreads; ++i) {
                const int c = tid + i * kPrefillThreads, r = c / L::kChunks, ch = c % L::kChunks;
                const int f = row0 + r;
                const bool ok = f < n_rows;
                const int64_t src =
                    ok ? int64_t(q0 + f / p.group) * p.ldq + int64_t(kvh * p.group + f % p.group) * D + ch * 8 : 0;
                cp_async_16(sq + r * L::kStride + ch * 8, qg + src, ok);
            }
        }
        load_kv(0);
        cp_async_commit();  // group 0: Q and tile 0

        uint32_t qf[L::kQInRegs ? D / 16 : 1][4];  // A fragments of this warp's 16 Q rows, per k-step
        // ldmatrix row address of this lane for A-style (and .trans B-style) loads: matrices 0..3 are
        // (rows 0-7, cols 0-7), (rows 8-15, cols 0-7), (rows 0-7, cols 8-15), (rows 8-15, cols 8-15).
        const int a_row = (lane & 7) + ((lane >> 3) & 1) * 8, a_col = (lane >> 4) * 8;
        // ... and for non-transposed B loads from K ([key][dim]): matrices (keys 0-7, dims 0-7),
        // (keys 0-7, dims 8-15), (keys 8-15, dims 0-7), (keys 8-15, dims 8-15).
        const int b_row = (lane & 7) + (lane >> 4) * 8, b_col = ((lane >> 3) & 1) * 8;
        const T* sq_warp = sq + (warp * 16 + a_row) * L::kStride + a_col;

        for (int j = 0; j < n_tiles; ++j) {
            const int stage = j & 1;
            // Stage stage^1 was last read in iteration j - 1, which ended with a barrier.
            if (j + 1 < n_tiles) load_kv(stage ^ 1);
            cp_async_commit();   // possibly empty, so that the count below is the same every iteration
            cp_async_wait<1>();  // this thread's copies of tile j (and Q) have landed...
            __syncthreads();     // ... and everyone else's
            // s_row[stage] was last read when tile j's copies were issued (before the barrier above);
            // the barrier at the end of this iteration publishes it for tile j + 2.
            if (j + 2 < n_tiles) fill_rows(j + 2, stage);
            if constexpr (C::kQuantized) {
                // The 16-bit tiles were last read in iteration j - 1, which ended with a barrier; the
                // staging tile and scales of `stage` are not refilled before iteration j + 1.
                dequantize_kv(stage);
                __syncthreads();
            }
            if constexpr (L::kQInRegs) {
                if (j == 0)
#pragma unroll
                    for (int ks = 0; ks < D / 16; ++ks) ldmatrix_x4(qf[ks], sq_warp + ks * 16);
            }

            // S = Q K^T: 16 rows x 64 keys per warp; s[n] holds keys 8n + 2quad..+1.
            const T* kt = sk + (C::kQuantized ? 0 : stage) * L::kKvTile;
            float s[L::kKeys / 8][4];
#pragma unroll
            for (int n = 0; n < L::kKeys / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
            for (int ks = 0; ks < D / 16; ++ks) {
                uint32_t a[4];
                if constexpr (L::kQInRegs) {
#pragma unroll
                    for (int i = 0; i < 4; ++i) a[i] = qf[ks][i];
                } else {
                    ldmatrix_x4(a, sq_warp + ks * 16);
                }
#pragma unroll
                for (int np = 0; np < L::kKeys / 16; ++np) {
                    uint32_t b[4];
                    ldmatrix_x4(b, kt + (np * 16 + b_row) * L::kStride + ks * 16 + b_col);
                    mma_16816<T>(s[2 * np], a, b[0], b[1]);
                    mma_16816<T>(s[2 * np + 1], a, b[2], b[3]);
                }
            }

            // Scale into the base-2 domain (for codes, times each key's scale) and mask. A tile that every
            // valid row sees whole (below the diagonal, inside the window and the cache) skips the
            // per-element test. The scales of `stage` are not refilled before iteration j + 1.
            const int k0 = lo + j * L::kKeys;
            const int k_last = k0 + L::kKeys - 1;
            const bool whole = k_last <= pos_min && k_last < kv_len && (p.window == 0 || k0 > pos_max - p.window);
#pragma unroll
            for (int n = 0; n < L::kKeys / 8; ++n)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    float x = s[n][e] * p.scale_log2;
                    if constexpr (C::kQuantized) x *= s_kscale[stage][n * 8 + 2 * quad + (e & 1)];
                    if (!whole) {
                        const int key = k0 + n * 8 + 2 * quad + (e & 1);
                        const int pos = e < 2 ? pos_a : pos_b;
                        const bool visible = key <= pos && key < kv_len && (p.window == 0 || key > pos - p.window);
                        if (!visible) x = -INFINITY;
                    }
                    s[n][e] = x;
                }

            // Online softmax per row: the row max is shared by the 4 lanes of a quad (xor 1, 2).
            float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
            for (int n = 0; n < L::kKeys / 8; ++n) {
                mx_a = fmaxf(mx_a, fmaxf(s[n][0], s[n][1]));
                mx_b = fmaxf(mx_b, fmaxf(s[n][2], s[n][3]));
            }
            mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 1));
            mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 2));
            mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 1));
            mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 2));
            const float new_a = fmaxf(m_a, mx_a), new_b = fmaxf(m_b, mx_b);
            // While a row has seen no key its max is -inf; subtracting 0 instead keeps exp2 at 0 rather
            // than NaN (-inf - -inf).
            const float ref_a = new_a == -INFINITY ? 0.0f : new_a;
            const float ref_b = new_b == -INFINITY ? 0.0f : new_b;
            const float alpha_a = fast_exp2(m_a - ref_a), alpha_b = fast_exp2(m_b - ref_b);
            m_a = new_a;
            m_b = new_b;
            l_a *= alpha_a;
            l_b *= alpha_b;
#pragma unroll
            for (int n = 0; n < D / 8; ++n) {
                o[n][0] *= alpha_a;
                o[n][1] *= alpha_a;
                o[n][2] *= alpha_b;
                o[n][3] *= alpha_b;
            }
#pragma unroll
            for (int n = 0; n < L::kKeys / 8; ++n) {
                s[n][0] = fast_exp2(s[n][0] - ref_a);
                s[n][1] = fast_exp2(s[n][1] - ref_a);
                s[n][2] = fast_exp2(s[n][2] - ref_b);
                s[n][3] = fast_exp2(s[n][3] - ref_b);
                l_a += s[n][0] + s[n][1];
                l_b += s[n][2] + s[n][3];
            }

            // O += P V. The f32 S fragments of key tiles 2kk and 2kk+1 are exactly the A fragment of
            // k-step kk once packed to 16 bits; V ([key][dim]) gives B fragments through ldmatrix.trans.
            // With kScaleP, key column 8n + 2quad..+1 of P is multiplied by those keys' V scales first
            // (the row sums above stay unscaled).
            const T* vt = sv + (C::kQuantized ? 0 : stage) * L::kKvTile;
#pragma unroll
            for (int kk = 0; kk < L::kKeys / 16; ++kk) {
                float2 v0 = make_float2(1.0f, 1.0f), v1 = v0;
                if constexpr (kScaleP) {
                    v0 = *reinterpret_cast<const float2*>(&s_vscale[stage][16 * kk + 2 * quad]);
                    v1 = *reinterpret_cast<const float2*>(&s_vscale[stage][16 * kk + 8 + 2 * quad]);
                }
                const uint32_t a[4] = {Elem<T>::pack(s[2 * kk][0] * v0.x, s[2 * kk][1] * v0.y),
                                       Elem<T>::pack(s[2 * kk][2] * v0.x, s[2 * kk][3] * v0.y),
                                       Elem<T>::pack(s[2 * kk + 1][0] * v1.x, s[2 * kk + 1][1] * v1.y),
                                       Elem<T>::pack(s[2 * kk + 1][2] * v1.x, s[2 * kk + 1][3] * v1.y)};
#pragma unroll
                for (int np = 0; np < D / 16; ++np) {
                    uint32_t b[4];
                    ldmatrix_x4_trans(b, vt + (kk * 16 + a_row) * L::kStride + np * 16 + a_col);
                    mma_16816<T>(o[2 * np], a, b[0], b[1]);
                    mma_16816<T>(o[2 * np + 1], a, b[2], b[3]);
                }
            }
            __syncthreads();  // every warp is done with this stage before it is refilled
        }
        cp_async_wait<0>();  // only empty groups can remain; leave none in flight
    }

    // Normalize and store. Each lane writes 2 elements per 8-dim block of rows f_a and f_b.
    l_a += __shfl_xor_sync(0xffffffffu, l_a, 1);
    l_a += __shfl_xor_sync(0xffffffffu, l_a, 2);
    l_b += __shfl_xor_sync(0xffffffffu, l_b, 1);
    l_b += __shfl_xor_sync(0xffffffffu, l_b, 2);
    const float inv_a = l_a > 0.0f ? 1.0f / l_a : 0.0f;  // no visible key: zeros
    const float inv_b = l_b > 0.0f ? 1.0f / l_b : 0.0f;
    T* out = static_cast<T*>(p.out);
    if (f_a < n_rows) {
        T* dst = out + int64_t(q0 + f_a / p.group) * p.ldo + int64_t(kvh * p.group + f_a % p.group) * D + 2 * quad;
#pragma unroll
        for (int n = 0; n < D / 8; ++n)
            *reinterpret_cast<uint32_t*>(dst + n * 8) = Elem<T>::pack(o[n][0] * inv_a, o[n][1] * inv_a);
    }
    if (f_b < n_rows) {
        T* dst = out + int64_t(q0 + f_b / p.group) * p.ldo + int64_t(kvh * p.group + f_b % p.group) * D + 2 * quad;
#pragma unroll
        for (int n = 0; n < D / 8; ++n)
            *reinterpret_cast<uint32_t*>(dst + n * 8) = Elem<T>::pack(o[n][2] * inv_b, o[n][3] * inv_b);
    }
}

template <typename T, typename KV, int D, bool kShortKeys>
void launch_prefill_layout(const PrefillParams& p, const AttentionArgs& a, cudaStream_t stream) {
    using L = PrefillLayout<D, KvCode<KV>::kQuantized, kShortKeys>;
    allow_dynamic_smem<prefill_attention_kernel<T, KV, D, kShortKeys>>(int(L::kSmemBytes));
    const int64_t rows = a.batch.max_q_len * (a.shape.n_head / a.shape.n_head_kv);
    const dim3 grid(unsigned((rows + L::kRows - 1) / L::kRows), unsigned(a.shape.n_head_kv), unsigned(a.batch.n_seqs));
    prefill_attention_kernel<T, KV, D, kShortKeys><<<grid, kPrefillThreads, L::kSmemBytes, stream>>>(p);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

template <typename T, typename KV, int D>
void launch_prefill_kernel(const PrefillParams& p, const AttentionArgs& a, cudaStream_t stream) {
    // Short tiles for the head sizes whose 32-key tiles split evenly over the threads' copies.
    if constexpr (D <= 128 && D % 32 == 0) {
        if (prefill_short_keys(a.batch.max_kv_len)) return launch_prefill_layout<T, KV, D, true>(p, a, stream);
    }
    launch_prefill_layout<T, KV, D, false>(p, a, stream);
}

// T: the type of q and out; KV: the pools' element type (T for 16-bit pools).
template <typename T, typename KV>
void launch_prefill_typed(const AttentionArgs& a, cudaStream_t stream) {
    PrefillParams p;
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
    p.n_head_kv = int32_t(a.shape.n_head_kv);
    p.group = int32_t(a.shape.n_head / a.shape.n_head_kv);
    p.scale_log2 = a.shape.scale * kLog2e;
    p.window = int32_t(a.shape.window);
    p.out = a.out;
    p.ldo = a.ldo;
    switch (a.shape.head_dim) {
        case 64:
            return launch_prefill_kernel<T, KV, 64>(p, a, stream);
        case 80:
            return launch_prefill_kernel<T, KV, 80>(p, a, stream);
        case 96:
            return launch_prefill_kernel<T, KV, 96>(p, a, stream);
        case 128:
            return launch_prefill_kernel<T, KV, 128>(p, a, stream);
        default:
            return launch_prefill_kernel<T, KV, 256>(p, a, stream);
    }
}

}  // namespace turbolm::cuda::attn
