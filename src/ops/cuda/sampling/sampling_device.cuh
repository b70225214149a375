// Device pieces shared by the sampling and log-probability kernels.
//
// A row of logits belongs to one thread-block cluster of G CTAs (G in 1, 2, 4, 8, chosen by the launcher from
// the batch size): CTA `rank` of the cluster reads the tiles rank, rank + G, ... of the row, and per-row
// decisions come from block reductions combined across the cluster in rank order, so every thread of every CTA
// of the cluster takes the same branches and may meet at barriers. Whatever decides a token (maxima, counts,
// fixed-point masses, argmaxes) is exact and order-free, so the token does not depend on G.
//
// Finding a threshold over a row: a histogram of each element's distance from the row max gives a cut-off
// below which nothing can be kept; when the elements above it fit in shared memory they are copied into the
// leader CTA ("candidates") and the exact threshold is searched there (by warp 0 alone when they are few);
// otherwise the same search runs over the whole row, split over the cluster (slower, but exact). Both sources give each element as (value, index,
// fixed-point weight) through for_each_item, and the search needs no order among them.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>

#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include "ops/cuda/cuda_check.h"

namespace turbolm::cuda::smp {

namespace cg = cooperative_groups;

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
static_assert(kWarps == 32, "block reductions give each lane of a warp one warp's partial");
constexpr int kMaxCluster = 8;  // CTAs per row at most (the portable cluster size)
constexpr int kVec = 4;         // floats per vector load
constexpr int kChunks = 4;      // vector loads per thread per tile, issued together
constexpr int64_t kTile = int64_t(kThreads) * kVec * kChunks;  // elements per tile: 16384
constexpr int kBins = kThreads;                                // histogram bins, one per thread
constexpr float kHistRange = 64.0f;  // widest raw-logit distance from the max that the histogram resolves
constexpr int kCapacity = 8192;      // candidates held in the leader's shared memory
// Bytes of dynamic shared memory for the candidates: weights (u64), values (f32), indices (i32).
constexpr size_t kCandidateBytes = size_t(kCapacity) * (sizeof(uint64_t) + sizeof(float) + sizeof(int32_t));
// Upper bound of the Gumbel noise: u <= 1 - 2^-24 gives g <= -log(-log(1 - 2^-24)) = 16.64.
constexpr float kGumbelMax = 18.0f;

// ---- values, keys, weights -----------------------------------------------------------------------

__device__ __forceinline__ float sanitize(float x) {
    return x != x ? -INFINITY : x;  // NaN counts as -inf
}

// Order-preserving map of a float onto uint32: a < b implies key(a) < key(b); -0 and +0 share one key.
__device__ __forceinline__ uint32_t order_key(float v) {
    if (v == 0.0f) v = 0.0f;
    const uint32_t b = __float_as_uint(v);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// The CPU sampler's order as one key: larger value first, then lower index. Distinct for distinct indices.
__device__ __forceinline__ uint64_t rank_key(float v, int32_t i) {
    return (uint64_t(order_key(v)) << 32) | uint64_t(0xffffffffu - uint32_t(i));
}

// Probability weight exp(v - top) of a scaled logit v <= top in fixed point (2^40 = 1). Integer sums do not
// depend on the order of the terms, so results do not depend on where candidates land or how the row is split.
// The same float expression as the CPU sampler (std::exp of a float difference).
__device__ __forceinline__ uint64_t mass_fixed(float v, float top) {
    return __float2ull_rn(expf(__fsub_rn(v, top)) * 0x1p40f);
}

// Mass that top-p must reach, in the fixed point of mass_fixed: ceil(top_p * base), within [1, base].
__device__ __forceinline__ uint64_t mass_target(uint64_t base, float top_p) {
    double t = ceil(double(base) * double(top_p));
    if (!(t >= 1.0)) t = 1.0;
    const uint64_t target = t >= double(base) ? base : uint64_t(t);
    return target < 1 ? 1 : target;
}

// ---- the Gumbel noise --------------------------------------------------------------------------------

// SplitMix64's output function: a bijective mix in which every input bit affects every output bit.
__device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Key of one draw: for a fixed seed, distinct steps give distinct keys (mix64 is a bijection).
__device__ __forceinline__ uint64_t noise_key(uint64_t seed, uint64_t step) {
    return mix64(mix64(seed) + step * 0x9e3779b97f4a7c15ull);
}

// Gumbel noise of element i: u in (0, 1) from 23 hashed bits ((m + 0.5) * 2^-23 is exact in f32), then
// -log(-log(u)). The inner log is the accurate logf: for u near 1 its result is tiny and decides the
// largest (winning) noise values.
__device__ __forceinline__ float gumbel(uint64_t key, int32_t i) {
    const uint64_t h = mix64(key + uint64_t(uint32_t(i)) * 0x9e3779b97f4a7c15ull);
    const float u = (float(uint32_t(h >> 41)) + 0.5f) * 0x1p-23f;
    return -__logf(-logf(u));
}

// ---- reduced types -------------------------------------------------------------------------------

struct MaxAt {  // a value and its index: the argmax keeps the lowest index among equal values
    float v;
    int32_t i;
};
__device__ __forceinline__ bool better(const MaxAt& a, const MaxAt& b) {
    return a.v > b.v || (a.v == b.v && a.i < b.i);
}
__device__ __forceinline__ MaxAt pick_better(MaxAt a, MaxAt b) {
    return better(a, b) ? a : b;
}

struct Softmax {  // running log-sum-exp: s = sum of exp(x - m)
    float m;
    float s;
};
__device__ __forceinline__ Softmax softmax_add(Softmax a, float x) {
    if (x == -INFINITY) return a;
    if (x > a.m) {
        a.s = a.s * expf(a.m - x) + 1.0f;  // a.m = -inf: the old sum is 0 and expf(-inf) = 0
        a.m = x;
    } else {
        a.s += expf(x - a.m);
    }
    return a;
}
__device__ __forceinline__ Softmax softmax_merge(Softmax a, Softmax b) {
    const float m = fmaxf(a.m, b.m);
    if (m == -INFINITY) return {m, 0.0f};
    return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

struct Sum3 {  // three sums at once: the weights at three probes of a search
    uint64_t a, b, c;
};
__device__ __forceinline__ Sum3 add3(Sum3 x, Sum3 y) {
    return {x.a + y.a, x.b + y.b, x.c + y.c};
}

__device__ __forceinline__ uint64_t add_u64(uint64_t a, uint64_t b) {
    return a + b;
}
__device__ __forceinline__ int32_t min_i32(int32_t a, int32_t b) {
    return a < b ? a : b;
}
__device__ __forceinline__ int32_t max_i32(int32_t a, int32_t b) {
    return a > b ? a : b;
}

__device__ __forceinline__ float shuffle_xor(float v, int o) {
    return __shfl_xor_sync(0xffffffffu, v, o);
}
__device__ __forceinline__ int32_t shuffle_xor(int32_t v, int o) {
    return __shfl_xor_sync(0xffffffffu, v, o);
}
__device__ __forceinline__ uint64_t shuffle_xor(uint64_t v, int o) {
    return __shfl_xor_sync(0xffffffffu, static_cast<unsigned long long>(v), o);
}
__device__ __forceinline__ MaxAt shuffle_xor(MaxAt a, int o) {
    return {shuffle_xor(a.v, o), shuffle_xor(a.i, o)};
}
__device__ __forceinline__ Softmax shuffle_xor(Softmax a, int o) {
    return {shuffle_xor(a.m, o), shuffle_xor(a.s, o)};
}
__device__ __forceinline__ Sum3 shuffle_xor(Sum3 x, int o) {
    return {shuffle_xor(x.a, o), shuffle_xor(x.b, o), shuffle_xor(x.c, o)};
}

// ---- block and cluster reductions --------------------------------------------------------------------

// Shared memory that reductions pass partials through: one 32-byte slot per warp, and one per cluster rank
// (written by every CTA of the cluster into every other).
struct ReduceScratch {
    alignas(16) unsigned char warp_bytes[kWarps * 32];
    alignas(16) unsigned char rank_bytes[kMaxCluster * 32];
    template <typename T>
    __device__ T* warp_slots() {
        static_assert(sizeof(T) <= 32, "one slot per warp");
        return reinterpret_cast<T*>(warp_bytes);
    }
    template <typename T>
    __device__ T* rank_slots() {
        static_assert(sizeof(T) <= 32, "one slot per rank");
        return reinterpret_cast<T*>(rank_bytes);
    }
};

// Reduces v over the block with op. Exact ops (max, integer sums, argmax) give every thread the same result;
// a float sum (softmax_merge) may differ between lanes in the last bits, so only one thread's result is used.
// Two barriers: the scratch may be reused right after.
template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, ReduceScratch& scratch) {
    T* slot = scratch.warp_slots<T>();
    for (int o = 16; o > 0; o >>= 1) v = op(v, shuffle_xor(v, o));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) slot[warp] = v;
    __syncthreads();
    v = slot[lane];  // lane l of every warp takes warp l's partial
    for (int o = 16; o > 0; o >>= 1) v = op(v, shuffle_xor(v, o));
    __syncthreads();
    return v;
}

// Combines a value that is the same in every thread of a CTA across the CTAs of the cluster, in rank order, so
// every CTA gets the same result. Every thread of every CTA of the cluster must call it.
template <typename T, typename Op>
__device__ T cluster_reduce(T v, Op op, ReduceScratch& scratch) {
    cg::cluster_group cluster = cg::this_cluster();
    const unsigned n = cluster.num_blocks();
    if (n == 1) return v;
    T* slot = scratch.rank_slots<T>();
    if (threadIdx.x == 0)
        for (unsigned r = 0; r < n; ++r) cluster.map_shared_rank(slot, r)[cluster.block_rank()] = v;
    cluster.sync();
    T out = slot[0];
    for (unsigned r = 1; r < n; ++r) out = op(out, slot[r]);
    cluster.sync();  // everyone has read its slots before anyone writes them again
    return out;
}

// Inclusive prefix sum over the block in thread order.
__device__ __forceinline__ uint64_t block_inclusive_scan(uint64_t v, ReduceScratch& scratch) {
    uint64_t* slot = scratch.warp_slots<uint64_t>();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = 1; o < 32; o <<= 1) {
        const uint64_t up = __shfl_up_sync(0xffffffffu, static_cast<unsigned long long>(v), o);
        if (lane >= o) v += up;
    }
    if (lane == 31) slot[warp] = v;
    __syncthreads();
    // Every warp scans the 32 warp totals; lane l then holds the total of warps 0..l.
    const uint64_t total = slot[lane];
    uint64_t upto = total;
    for (int o = 1; o < 32; o <<= 1) {
        const uint64_t up = __shfl_up_sync(0xffffffffu, static_cast<unsigned long long>(upto), o);
        if (lane >= o) upto += up;
    }
    const uint64_t before = __shfl_sync(0xffffffffu, static_cast<unsigned long long>(upto - total), warp);
    __syncthreads();
    return v + before;
}

// ---- passes over a row in global memory ------------------------------------------------------------

// The part of a row one CTA reads: tiles first_tile, first_tile + tile_stride, ...
struct RowSlice {
    const float* row;  // raw logits [n]
    int64_t n;
    bool aligned;  // row is 16-byte aligned (float4 loads)
    int first_tile, tile_stride;
};

// Calls fn(x, i) for the elements i of the slice that this thread owns, in increasing i; x is the raw value,
// -inf for positions past the end (i >= n). Every thread of the block makes the same number of calls, so fn
// may use warp-wide operations. Tile t covers elements [t * kTile, (t + 1) * kTile); in it, thread tid owns the
// kChunks groups of kVec elements starting at t * kTile + (c * kThreads + tid) * kVec, so each vector load of a
// warp reads 512 contiguous bytes.
template <typename Fn>
__device__ __forceinline__ void for_each_row_element(const RowSlice& s, Fn&& fn) {
    for (int64_t base = int64_t(s.first_tile) * kTile; base < s.n; base += int64_t(s.tile_stride) * kTile) {
        float x[kChunks][kVec];
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
            const int64_t i0 = base + (int64_t(c) * kThreads + threadIdx.x) * kVec;
            if (s.aligned && i0 + kVec <= s.n) {
                const float4 q = __ldg(reinterpret_cast<const float4*>(s.row + i0));
                x[c][0] = q.x, x[c][1] = q.y, x[c][2] = q.z, x[c][3] = q.w;
            } else {
#pragma unroll
                for (int e = 0; e < kVec; ++e) x[c][e] = i0 + e < s.n ? __ldg(s.row + i0 + e) : -INFINITY;
            }
        }
#pragma unroll
        for (int c = 0; c < kChunks; ++c)
#pragma unroll
            for (int e = 0; e < kVec; ++e) fn(x[c][e], base + (int64_t(c) * kThreads + threadIdx.x) * kVec + e);
    }
}

struct RowSummary {
    float max;         // largest raw logit (NaN as -inf)
    int32_t arg;       // its lowest index
    float min_finite;  // smallest finite raw logit (+inf when there is none)
    float lse;         // log(sum(exp(x))) over the raw logits; only when asked for
};

// One pass over the cluster's row: max, argmax, smallest finite value and (want_lse) the log-sum-exp of the
// raw logits. The same in every CTA of the cluster (lse: in thread 0).
__device__ __forceinline__ RowSummary summarize_row(const RowSlice& s, bool want_lse, ReduceScratch& scratch) {
    MaxAt best{-INFINITY, INT32_MAX};
    float lo = INFINITY;
    Softmax sm{-INFINITY, 0.0f};
    for_each_row_element(s, [&](float raw, int64_t i) {
        if (i >= s.n) return;
        const float x = sanitize(raw);
        const MaxAt here{x, int32_t(i)};
        if (better(here, best)) best = here;
        if (x > -INFINITY && x < INFINITY) lo = fminf(lo, x);
        if (want_lse) sm = softmax_add(sm, x);
    });
    const auto min_f = [](float a, float b) { return fminf(a, b); };
    RowSummary out;
    const MaxAt top = cluster_reduce(block_reduce(best, pick_better, scratch), pick_better, scratch);
    out.max = top.v;
    out.arg = top.i;
    out.min_finite = cluster_reduce(block_reduce(lo, min_f, scratch), min_f, scratch);
    out.lse = -INFINITY;
    if (want_lse) {
        const Softmax all = cluster_reduce(block_reduce(sm, softmax_merge, scratch), softmax_merge, scratch);
        out.lse = all.m == -INFINITY ? -INFINITY : all.m + logf(all.s);
    }
    return out;
}

// ---- the distance histogram and the cut-off ---------------------------------------------------------

// Bins of the raw distance from the row max: bin b holds distances in about [b, b + 1) / inv_width; kBins is
// the overflow (farther, -inf, or a NaN distance). Larger x never gets a larger bin. The roundings are
// explicit so that every pass computes the same bin for the same element.
__device__ __forceinline__ int hist_bin(float x, float top, float inv_width) {
    const float d = __fmul_rn(__fsub_rn(top, x), inv_width);
    return d < float(kBins) ? int(d) : kBins;
}

// 1 / bin width: the histogram spans the row's range of finite values, at most kHistRange below the max.
__device__ __forceinline__ float hist_inv_width(float max, float min_finite) {
    const float range = fminf(max - min_finite, kHistRange);
    return range > 0.0f ? float(kBins - 1) / range : 0.0f;
}

// Adds w to a 64-bit total kept as two 32-bit words (64-bit shared-memory atomics are compare-and-swap loops):
// the add that wraps the low word carries one into the high word, so high * 2^32 + low is the exact sum.
__device__ __forceinline__ void atomic_add_split(uint32_t* low, uint32_t* high, uint64_t w) {
    const uint32_t w_low = uint32_t(w), w_high = uint32_t(w >> 32);
    const uint32_t old = atomicAdd(low, w_low);
    const uint32_t carry = uint32_t(old + w_low) < old ? 1u : 0u;
    if (w_high + carry != 0) atomicAdd(high, w_high + carry);
}

// Per-CTA histogram in shared memory: count[b], and (when mass_low is not null) the fixed-point mass of bin b
// as mass_high[b] * 2^32 + mass_low[b].
struct Histogram {
    uint32_t* count;
    uint32_t* mass_low;
    uint32_t* mass_high;
};

// Adds each lane's element to its bin (bin == kBins: nothing): one to the count and w to the mass. Warp-wide:
// every lane calls it. When the whole warp falls in one bin (ties, flat rows) one lane adds for all.
__device__ __forceinline__ void histogram_add(const Histogram& h, int bin, uint64_t w) {
    const bool with_mass = h.mass_low != nullptr;
    const int first = __shfl_sync(0xffffffffu, bin, 0);
    if (__all_sync(0xffffffffu, bin == first)) {
        if (with_mass)
            for (int o = 16; o > 0; o >>= 1) w += shuffle_xor(w, o);
        if ((threadIdx.x & 31) == 0 && first < kBins) {
            atomicAdd(&h.count[first], 32u);
            if (with_mass) atomic_add_split(&h.mass_low[first], &h.mass_high[first], w);
        }
    } else if (bin < kBins) {
        atomicAdd(&h.count[bin], 1u);
        if (with_mass) atomic_add_split(&h.mass_low[bin], &h.mass_high[bin], w);
    }
}

// Sums the histograms of the cluster's CTAs: thread t gets the count and mass of bin t over the whole row.
// Every thread of every CTA must call it, after its CTA's histogram is complete.
__device__ __forceinline__ void cluster_histogram_bin(const Histogram& h, uint64_t& count, uint64_t& mass) {
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();  // every CTA's histogram is complete
    uint64_t low = 0, high = 0;
    count = 0;
    for (unsigned r = 0; r < cluster.num_blocks(); ++r) {
        count += cluster.map_shared_rank(h.count, r)[threadIdx.x];
        if (h.mass_low != nullptr) {
            low += cluster.map_shared_rank(h.mass_low, r)[threadIdx.x];
            high += cluster.map_shared_rank(h.mass_high, r)[threadIdx.x];
        }
    }
    mass = (high << 32) + low;
    cluster.sync();  // everyone has read before anything is reused
}

struct Cutoff {
    int bin;        // candidates are the elements with hist_bin <= bin (kBins: all of them)
    int64_t count;  // how many there are
};

// Thread t holds bin t: count = its elements and weight = its share towards `target` (the count itself, or
// its mass). Returns the first bin at which the cumulative weight reaches target, with the number of elements
// up to it; {kBins, n} when no bin does.
__device__ __forceinline__ Cutoff choose_cutoff(uint64_t count, uint64_t weight, uint64_t target, int64_t n,
                                                ReduceScratch& scratch, Cutoff& result) {
    const uint64_t cum_count = block_inclusive_scan(count, scratch);
    const uint64_t cum_weight = block_inclusive_scan(weight, scratch);
    if (threadIdx.x == 0) result = {kBins, n};
    __syncthreads();
    if (cum_weight >= target && cum_weight - weight < target) result = {int(threadIdx.x), int64_t(cum_count)};
    __syncthreads();
    const Cutoff out = result;
    __syncthreads();
    return out;
}

// ---- candidates in the leader's shared memory -------------------------------------------------------

struct Candidates {  // [kCapacity] each, in dynamic shared memory
    uint64_t* w;     // mass_fixed of the value (0 when not needed)
    float* v;        // value (scaled logit)
    int32_t* idx;    // index in the row
};
__device__ __forceinline__ Candidates carve_candidates(unsigned char* smem) {
    Candidates c;
    c.w = reinterpret_cast<uint64_t*>(smem);
    c.v = reinterpret_cast<float*>(smem + size_t(kCapacity) * sizeof(uint64_t));
    c.idx = reinterpret_cast<int32_t*>(smem + size_t(kCapacity) * (sizeof(uint64_t) + sizeof(float)));
    return c;
}
// The same arrays (and counter) in the shared memory of CTA `rank` of the cluster.
__device__ __forceinline__ Candidates candidates_of_rank(const Candidates& c, unsigned rank) {
    cg::cluster_group cluster = cg::this_cluster();
    return {cluster.map_shared_rank(c.w, rank), cluster.map_shared_rank(c.v, rank),
            cluster.map_shared_rank(c.idx, rank)};
}

// Appends the elements of the slice with hist_bin <= cut_bin to `to` (possibly another CTA's shared memory),
// unordered, as (x * scale, index, mass_fixed(x * scale, mass_top) when with_mass); *counter (next to `to`) is
// the number appended so far. The caller has checked, from the histogram, that they fit, and synchronizes.
__device__ __forceinline__ void compact_candidates(const RowSlice& s, float top, float inv_width, int cut_bin,
                                                   float scale, float mass_top, bool with_mass, const Candidates& to,
                                                   int* counter) {
    const int lane = threadIdx.x & 31;
    for_each_row_element(s, [&](float raw, int64_t i) {
        const float x = sanitize(raw);
        const bool take = i < s.n && hist_bin(x, top, inv_width) <= cut_bin;
        // One atomic per warp reserves the slots of all its taking lanes, in lane order.
        const unsigned ballot = __ballot_sync(0xffffffffu, take);
        int base = 0;
        if (lane == 0 && ballot != 0) base = atomicAdd(counter, __popc(ballot));
        base = __shfl_sync(0xffffffffu, base, 0);
        if (take) {
            const int slot = base + __popc(ballot & ((1u << lane) - 1u));
            if (slot < kCapacity) {
                const float v = __fmul_rn(x, scale);
                to.w[slot] = with_mass ? mass_fixed(v, mass_top) : 0;
                to.v[slot] = v;
                to.idx[slot] = int32_t(i);
            }
        }
    });
}

// ---- item sources: candidates in the leader's shared memory, or the row ------------------------------

struct CandidateItems {
    Candidates c;
    int n;
};
template <typename Fn>
__device__ __forceinline__ void for_each_item(const CandidateItems& items, Fn&& fn) {
    for (int j = threadIdx.x; j < items.n; j += kThreads) fn(items.c.v[j], items.c.idx[j], items.c.w[j]);
}
// Candidates live in one CTA: a block reduction covers them all.
template <typename T, typename Op>
__device__ __forceinline__ T reduce_items(const CandidateItems&, T v, Op op, ReduceScratch& scratch) {
    return block_reduce(v, op, scratch);
}

// Few candidates, searched by warp 0 alone: its reductions are shuffles, with no barrier.
constexpr int kWarpSearchMax = 1024;
struct WarpCandidateItems {
    Candidates c;
    int n;
};
template <typename Fn>
__device__ __forceinline__ void for_each_item(const WarpCandidateItems& items, Fn&& fn) {
    for (int j = threadIdx.x & 31; j < items.n; j += 32) fn(items.c.v[j], items.c.idx[j], items.c.w[j]);
}
// The butterfly leaves the same result in every lane for the exact ops used here.
template <typename T, typename Op>
__device__ __forceinline__ T reduce_items(const WarpCandidateItems&, T v, Op op, ReduceScratch&) {
    for (int o = 16; o > 0; o >>= 1) v = op(v, shuffle_xor(v, o));
    return v;
}

struct RowItems {
    RowSlice slice;
    float scale;        // value = sanitize(raw) * scale
    float mass_top;     // weights are mass_fixed(value, mass_top) ...
    bool with_mass;     // ... when asked for (an exp per element), else 0
    bool cluster_wide;  // the slices of all the cluster's CTAs make the row: reductions span the cluster
};
template <typename Fn>
__device__ __forceinline__ void for_each_item(const RowItems& items, Fn&& fn) {
    for_each_row_element(items.slice, [&](float raw, int64_t i) {
        if (i >= items.slice.n) return;
        const float v = __fmul_rn(sanitize(raw), items.scale);
        fn(v, int32_t(i), items.with_mass ? mass_fixed(v, items.mass_top) : uint64_t(0));
    });
}
template <typename T, typename Op>
__device__ __forceinline__ T reduce_items(const RowItems& items, T v, Op op, ReduceScratch& scratch) {
    v = block_reduce(v, op, scratch);
    return items.cluster_wide ? cluster_reduce(v, op, scratch) : v;
}

// The same items, with (by_mass) or without the weights: only the row needs an exp per element for them.
__device__ __forceinline__ const CandidateItems& weighted(const CandidateItems& items, bool) {
    return items;
}
__device__ __forceinline__ const WarpCandidateItems& weighted(const WarpCandidateItems& items, bool) {
    return items;
}
__device__ __forceinline__ RowItems weighted(RowItems items, bool by_mass) {
    items.with_mass = by_mass;
    return items;
}

// ---- threshold search ------------------------------------------------------------------------------

// Total weight (the item's mass, or 1 per item) of the items whose key_of(value, index) >= k.
template <typename Items, typename KeyOf>
__device__ uint64_t weight_from(const Items& items, KeyOf key_of, bool by_mass, uint64_t k, ReduceScratch& scratch) {
    uint64_t local = 0;
    for_each_item(weighted(items, by_mass), [&](float v, int32_t i, uint64_t w) {
        if (key_of(v, i) >= k) local += by_mass ? w : 1;
    });
    return reduce_items(items, local, add_u64, scratch);
}

// The largest key K in [lo, hi] such that weight_from(K) >= target (weight_from does not grow with K).
// Requires weight_from(lo) >= target and hi - lo < 2^60. Each step weighs three probes at the quarters of
// [lo, hi] in one pass and keeps the quarter where the answer lies. The result is the key of an item.
template <typename Items, typename KeyOf>
__device__ uint64_t largest_key_reaching(const Items& items, KeyOf key_of, bool by_mass, uint64_t lo, uint64_t hi,
                                         uint64_t target, ReduceScratch& scratch) {
    while (lo < hi) {
        const uint64_t d = hi - lo;
        // lo < q1 <= q2 <= q3 <= hi.
        const uint64_t q1 = lo + (d + 3) / 4, q2 = lo + (2 * d + 3) / 4, q3 = lo + (3 * d + 3) / 4;
        Sum3 local{0, 0, 0};
        for_each_item(weighted(items, by_mass), [&](float v, int32_t i, uint64_t w) {
            const uint64_t k = key_of(v, i), add = by_mass ? w : 1;
            local.a += k >= q1 ? add : 0;
            local.b += k >= q2 ? add : 0;
            local.c += k >= q3 ? add : 0;
        });
        const Sum3 at = reduce_items(items, local, add3, scratch);
        if (at.c >= target) {
            lo = q3;
        } else if (at.b >= target) {
            lo = q2, hi = q3 - 1;
        } else if (at.a >= target) {
            lo = q1, hi = q2 - 1;
        } else {
            hi = q1 - 1;
        }
    }
    return lo;
}

// The smallest order_key among the items: every rank_key is at least (it << 32), a start for the searches
// that is closer to the answer than 0.
template <typename Items>
__device__ uint64_t lowest_rank_bound(const Items& items, ReduceScratch& scratch) {
    uint64_t low = ~uint64_t(0);
    for_each_item(items, [&](float v, int32_t, uint64_t) {
        const uint64_t k = order_key(v);
        low = k < low ? k : low;
    });
    low = reduce_items(items, low, [](uint64_t a, uint64_t b) { return a < b ? a : b; }, scratch);
    return low == ~uint64_t(0) ? 0 : low << 32;
}

// The largest rank_key K with weight_from(K) >= target: the last item of the shortest prefix, in the order
// (value descending, index ascending) the CPU sampler sorts by, whose weight reaches target. Requires
// weight_from(lo) >= target; top_key is the order_key of the largest value. First the value (search over
// order keys), then, among the items of that value, the index: the range of their indices comes from one
// pass, so without ties there is nothing left to search.
template <typename Items>
__device__ uint64_t rank_threshold(const Items& items, bool by_mass, uint64_t lo, uint32_t top_key, uint64_t target,
                                   ReduceScratch& scratch) {
    const auto value_key = [](float v, int32_t) { return uint64_t(order_key(v)); };
    const auto full_key = [](float v, int32_t i) { return rank_key(v, i); };
    // weight_from(value >= lo's value) >= weight_from(rank >= lo) >= target, so lo >> 32 is a valid start.
    const uint64_t vk = largest_key_reaching(items, value_key, by_mass, lo >> 32, top_key, target, scratch);
    int32_t first = INT32_MAX, last = -1;  // lowest and highest index of the items of value vk
    for_each_item(items, [&](float v, int32_t i, uint64_t) {
        if (order_key(v) != vk) return;
        first = min_i32(first, i);
        last = max_i32(last, i);
    });
    first = reduce_items(items, first, min_i32, scratch);
    last = reduce_items(items, last, max_i32, scratch);
    // Everything above value vk weighs less than target, so the answer is at most rank (vk, first); the whole
    // of value vk and above reaches it, so it is at least rank (vk, last), and at least lo.
    const uint64_t hi_rank = (vk << 32) | uint64_t(0xffffffffu - uint32_t(first));
    uint64_t lo_rank = (vk << 32) | uint64_t(0xffffffffu - uint32_t(last));
    if (lo_rank < lo) lo_rank = lo;
    return largest_key_reaching(items, full_key, by_mass, lo_rank, hi_rank, target, scratch);
}

// Gumbel-max draw over the items for which kept(value, index) holds: the index maximizing
// value + gumbel(key, index), the lowest index among equal sums. Items whose value + kGumbelMax is below the
// best sum so far cannot win and skip the noise. INT32_MAX when no item is kept.
template <typename Items, typename Kept>
__device__ int32_t gumbel_argmax(const Items& items, Kept kept, uint64_t key, ReduceScratch& scratch) {
    MaxAt best{-INFINITY, INT32_MAX};
    for_each_item(items, [&](float v, int32_t i, uint64_t) {
        if (!kept(v, i) || v + kGumbelMax < best.v) return;
        const MaxAt here{v + gumbel(key, i), i};
        if (better(here, best)) best = here;
    });
    return reduce_items(items, best, pick_better, scratch).i;
}

// ---- launching -------------------------------------------------------------------------------------

// CTAs per row: enough to fill the GPU's ~132 SMs with small batches, never more than the row has tiles.
// Tokens do not depend on it.
inline unsigned row_cluster_size(int64_t rows, int64_t vocab) {
    const int64_t tiles = (vocab + kTile - 1) / kTile;
    unsigned g = rows <= 16 ? 8u : rows <= 33 ? 4u : rows <= 66 ? 2u : 1u;
    while (g > 1 && int64_t(g) > tiles) g /= 2;
    return g;
}

// Launches kernel(args...) with one cluster of row_cluster_size CTAs per row, kThreads threads each and the
// candidates' dynamic shared memory; the caller checks the launch. The kernel's shared memory limit is raised
// once per device (done_devices: one bit per device, owned by the caller); setting it is not a stream
// operation, so the launch stays capturable.
template <typename... Params, typename... Args>
void launch_row_clusters(void (*kernel)(Params...), std::atomic<uint64_t>& done_devices, int64_t rows,
                         int64_t vocab, cudaStream_t s, Args... args) {
    int device = 0;
    TURBOLM_CUDA_CHECK(cudaGetDevice(&device));
    const uint64_t bit = device < 64 ? uint64_t(1) << device : 0;
    if (bit == 0 || (done_devices.load() & bit) == 0) {
        TURBOLM_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                                cudaFuncAttributeMaxDynamicSharedMemorySize, int(kCandidateBytes)));
        done_devices.fetch_or(bit);
    }
    const unsigned g = row_cluster_size(rows, vocab);
    cudaLaunchAttribute cluster_dim;
    cluster_dim.id = cudaLaunchAttributeClusterDimension;
    cluster_dim.val.clusterDim.x = g;
    cluster_dim.val.clusterDim.y = 1;
    cluster_dim.val.clusterDim.z = 1;
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(unsigned(rows) * g);
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = kCandidateBytes;
    config.stream = s;
    config.attrs = &cluster_dim;
    config.numAttrs = 1;
    TURBOLM_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, args...));
}

}  // namespace turbolm::cuda::smp
