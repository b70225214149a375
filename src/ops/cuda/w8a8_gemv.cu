// Weight streaming on the tensor cores. The unit of work is one m16n8k32 tile column: 16 output rows
// and 8 tokens over a range of k (the whole of k, or one of `splits` equal parts). A warp owns a unit
// at a time and streams it with the next batch of loads issued before the current batch's mma, so
// every warp keeps kUnroll 16-byte loads per operand in flight for as long as it lives. The grid is
// sized to be resident all at once (blocks per SM from the occupancy calculator, times the SMs); the
// warps take units in a fixed stride. Split k is chosen only when the units of whole rows would leave
// the machine short of warps (small n: the k/v projections, 4096-row outputs at one token); the parts
// of a unit are then summed by whichever warp finishes last, in part order, so the result does not
// depend on timing.
//
// With block scales (DeepSeek's FP8: one per 128 x 128 weight tile, one per token and 128 columns),
// each 128-column half of a batch is summed on its own and added scaled: a unit's 16 rows lie in one
// 128-row block, so one weight scale serves the warp, and each lane's two tokens have their own.
//
// Fragments: lane (g = lane / 4, j = lane % 4) loads 16 consecutive bytes of weight rows g and g + 8
// and of token g per load, and the tile's k-slots are assigned to columns so that these loads are the
// mma fragments as they are: the lane holds slots 4j..4j+3 and 16+4j..16+4j+3 of rows g and g + 8 in A
// and of token g in B, and gives them 8 bytes of the columns it loaded. Any assignment of slots to
// columns sums the same products, as long as A and B agree, which they do because the slots depend
// only on j. Every weight byte is read once per 8 tokens, with no conversion: the tensor cores take
// e4m3 and int8 directly.
#include "ops/cuda/w8a8_gemv.h"

#include <algorithm>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/programmatic_launch.cuh"

namespace turbolm::cuda {
namespace {

constexpr int kWarps = 4;                          // per block; blocks are only a launch granule here
constexpr int kTileRows = 16;                      // the mma's M
constexpr int kTileTokens = int(kGemvW8A8Tokens);  // the mma's N
constexpr int kLaneBytes = 16;                     // one 16-byte load per lane and operand
constexpr int kUnroll = 4;                         // loads per lane and operand in one batch
constexpr int kQuadSpan = 4 * kLaneBytes;          // columns the 4 lanes of a row cover per load
constexpr int kStep = kQuadSpan * kUnroll;         // columns a warp covers per batch
constexpr int kTargetWarpsPerSm = 16;              // enough batches in flight to cover DRAM latency
constexpr int64_t kMinSplitColumns = 512;          // a part of k is at least two batches long
constexpr int64_t kMaxSplitUnits = 1 << 16;        // the arrival counters below

// Arrivals per unit for split k; the last arrival resets its counter, so they are zero between
// launches. Launches on one stream (the backend's) never overlap.
__device__ unsigned int g_arrivals[kMaxSplitUnits];

// d += a . b on one m16n8k32 tile of e4m3 (f32 sums) or int8 (int32 sums). a0, a2: row g; a1, a3:
// row g + 8; a0, a1, b0: slots 4j..4j+3; a2, a3, b1: slots 16+4j..16+4j+3.
__device__ __forceinline__ void mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                    uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
    __trap();  // FP8 tensor cores start with sm_89
#endif
}

__device__ __forceinline__ void mma(int32_t (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                    uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
    __trap();
#endif
}

struct Batch {
    uint4 a[kUnroll], b[kUnroll], x[kUnroll];
};

// Columns [c, c + kStep) of the unit's rows and token, zeros past `end` (a multiple of 16, so a lane's
// 16 bytes are all in or all out).
__device__ __forceinline__ void load_batch(Batch& t, const uint8_t* wa, const uint8_t* wb, const uint8_t* xt,
                                           bool has_token, int64_t c, int64_t end, int j) {
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
        const int64_t col = c + u * kQuadSpan;
        const bool in = col + j * kLaneBytes < end;
        t.a[u] = in ? __ldcs(reinterpret_cast<const uint4*>(wa + col)) : zero;
        t.b[u] = in ? __ldcs(reinterpret_cast<const uint4*>(wb + col)) : zero;
        t.x[u] = in && has_token ? __ldg(reinterpret_cast<const uint4*>(xt + col)) : zero;
    }
}

template <typename Acc>
__device__ __forceinline__ void mma_batch(Acc (&d)[4], const Batch& t) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
        mma(d, t.a[u].x, t.b[u].x, t.a[u].y, t.b[u].y, t.x[u].x, t.x[u].y);  // bytes 0..7 of each lane's 16
        mma(d, t.a[u].z, t.b[u].z, t.a[u].w, t.b[u].w, t.x[u].z, t.x[u].w);  // bytes 8..15
    }
}

// The block-scaled sum of one batch: its two 128-column groups, each from a zero accumulator, added to
// d scaled by the group's weight-block scale times each token's: unit_scales[(group - g0) * 8 + t] for
// the unit's token t (staged in shared memory when the unit starts), g0 the unit's first group.
__device__ __forceinline__ void mma_batch_blocks(float (&d)[4], const Batch& t, int64_t c, int64_t end, int64_t g0,
                                                 const float* unit_scales, int j) {
    constexpr int kGroup = 128, kLoadsPerGroup = kGroup / kQuadSpan;
    static_assert(kUnroll * kQuadSpan == 2 * kGroup, "a batch is two groups of 128 columns");
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int64_t col = c + h * kGroup;
        if (col >= end) break;  // the same for the whole warp
        float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int u = h * kLoadsPerGroup; u < (h + 1) * kLoadsPerGroup; ++u) {
            mma(part, t.a[u].x, t.b[u].x, t.a[u].y, t.b[u].y, t.x[u].x, t.x[u].y);
            mma(part, t.a[u].z, t.b[u].z, t.a[u].w, t.b[u].w, t.x[u].z, t.x[u].w);
        }
        const float* s = unit_scales + (col / kGroup - g0) * kTileTokens + 2 * j;
        const float xa = s[0], xb = s[1];
        d[0] = fmaf(part[0], xa, d[0]);
        d[1] = fmaf(part[1], xb, d[1]);
        d[2] = fmaf(part[2], xa, d[2]);
        d[3] = fmaf(part[3], xb, d[3]);
    }
}

struct Geometry {
    int64_t tiles, groups, splits, split_cols;  // split_cols: a multiple of kQuadSpan (of 128 with blocks)
};

// Block scales of the block-scaled product (kBlock): xscale [k / 128][ldxs], scale [n / 128][lds].
struct BlockScales {
    int64_t ldxs = 0, lds = 0;
    int64_t per_warp = 0;  // floats of shared memory a warp stages its unit's scales in
};

// Acc: float for e4m3, int32_t for int8. partial: [units][splits][32 lanes][4] Acc, when splits > 1.
// At least kTargetWarpsPerSm resident warps (registers capped to fit), so that the split chosen below
// puts every unit on a warp of one wave.
template <typename Acc, typename OutT, bool kBlock = false>
__global__ void __launch_bounds__(kWarps * 32, kTargetWarpsPerSm / kWarps)
    gemv_w8a8_kernel(const uint8_t* __restrict__ xq, int64_t ldx, const float* __restrict__ xscale,
                     const uint8_t* __restrict__ q, int64_t ldq, const float* __restrict__ scale,
                     const float* __restrict__ bias, OutT* __restrict__ y, int64_t ldy, int64_t m, int64_t n, int64_t k,
                     bool accumulate, Geometry geo, Acc* __restrict__ partial, BlockScales blocks) {
    wait_for_previous_grid();  // launched after the previous kernel (programmatic_launch.cuh)
    const int lane = threadIdx.x % 32, g = lane / 4, j = lane % 4;
    const int64_t warps = int64_t(gridDim.x) * kWarps;
    const int64_t units = geo.tiles * geo.groups * geo.splits;
    // The bounds are the same for every lane of the warp, as mma.sync requires.
    for (int64_t u = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32; u < units; u += warps) {
        const int64_t whole = u / geo.splits, part = u % geo.splits;
        const int64_t tile = whole % geo.tiles, group = whole / geo.tiles;
        const int64_t row0 = tile * kTileRows, tok0 = group * kTileTokens;
        const int64_t begin = part * geo.split_cols, end = std::min(k, begin + geo.split_cols);
        // Rows past n read row n - 1 and tokens past m read zeros; their results are dropped.
        const int64_t ra = row0 + g < n ? row0 + g : n - 1, rb = row0 + g + 8 < n ? row0 + g + 8 : n - 1;
        const bool has_token = tok0 + g < m;
        const uint8_t* wa = q + ra * ldq + j * kLaneBytes;
        const uint8_t* wb = q + rb * ldq + j * kLaneBytes;
        const uint8_t* xt = xq + (has_token ? tok0 + g : tok0) * ldx + j * kLaneBytes;
        Acc d[4] = {};
        Batch cur, next;
        load_batch(cur, wa, wb, xt, has_token, begin, end, j);
        // Block scales: the unit's groups times its 8 tokens' scales, each the token's times the weight
        // block's (0 past m), staged once in the warp's slice of shared memory.
        extern __shared__ float block_scales[];
        float* unit_scales = block_scales + (threadIdx.x / 32) * blocks.per_warp;
        const int64_t g0 = begin / 128;
        if constexpr (kBlock) {
            const float* wscale = scale + (row0 / 128) * blocks.lds;
            const int64_t entries = ((end - begin + 127) / 128) * kTileTokens;
            __syncwarp();  // the previous unit's reads are done
            for (int64_t e = lane; e < entries; e += 32) {
                const int64_t grp = g0 + e / kTileTokens, tok = tok0 + e % kTileTokens;
                unit_scales[e] = tok < m ? __ldg(xscale + grp * blocks.ldxs + tok) * __ldg(wscale + grp) : 0.0f;
            }
            __syncwarp();
        }
        for (int64_t c = begin; c < end; c += kStep) {
            const bool more = c + kStep < end;
            if (more) load_batch(next, wa, wb, xt, has_token, c + kStep, end, j);  // in flight during the mma
            if constexpr (kBlock) {
                mma_batch_blocks(d, cur, c, end, g0, unit_scales, j);
            } else {
                mma_batch(d, cur);
            }
            if (more) cur = next;
        }
        if (geo.splits > 1) {
            // Publish this part, then count it; the last part of the unit sums all of them in order.
            Acc* slot = partial + (whole * geo.splits) * 128 + lane * 4;
            Acc* mine = slot + part * 128;
            mine[0] = d[0], mine[1] = d[1], mine[2] = d[2], mine[3] = d[3];
            __threadfence();
            __syncwarp();
            unsigned arrived = 0;
            if (lane == 0) arrived = atomicAdd(&g_arrivals[whole], 1u);
            arrived = __shfl_sync(0xffffffffu, arrived, 0);
            if (arrived + 1 != unsigned(geo.splits)) continue;
            __threadfence();
            d[0] = d[1] = d[2] = d[3] = Acc(0);
            for (int64_t p = 0; p < geo.splits; ++p) {
                const Acc* other = slot + p * 128;
                d[0] += __ldcg(other), d[1] += __ldcg(other + 1), d[2] += __ldcg(other + 2), d[3] += __ldcg(other + 3);
            }
            if (lane == 0) g_arrivals[whole] = 0u;
        }
        // d[0], d[1]: row g, tokens 2j and 2j + 1; d[2], d[3]: row g + 8.
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int64_t row = row0 + g + (i / 2) * 8, tok = tok0 + 2 * j + i % 2;
            if (row >= n || tok >= m) continue;
            const float b = bias ? bias[row] : 0.0f;
            const float v = kBlock ? float(d[i]) + b : float(d[i]) * xscale[tok] * scale[row] + b;
            OutT* out = y + tok * ldy + row;
            *out = elt::from_f32<OutT>(accumulate ? elt::to_f32(*out) + v : v);
        }
    }
}

int sm_count() {
    static const int count = [] {
        int device = 0, sms = 0;
        TURBOLM_CUDA_CHECK(cudaGetDevice(&device));
        TURBOLM_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
        return std::max(sms, 1);
    }();
    return count;
}

// Splits only when the units of whole rows would not give every SM kTargetWarpsPerSm warps. Parts
// are `align` columns apart (block scales: whole groups of 128).
Geometry geometry(int64_t m, int64_t n, int64_t k, bool can_split, int64_t align = kQuadSpan) {
    Geometry geo{(n + kTileRows - 1) / kTileRows, (m + kTileTokens - 1) / kTileTokens, 1, 0};
    const int64_t whole = geo.tiles * geo.groups;
    const int64_t target = int64_t(sm_count()) * kTargetWarpsPerSm;
    if (can_split && whole < target && whole <= kMaxSplitUnits)
        geo.splits = std::max<int64_t>(1, std::min(target / whole, k / kMinSplitColumns));
    const int64_t per_split = (k + geo.splits - 1) / geo.splits;
    geo.split_cols = std::max<int64_t>(align, (per_split + align - 1) / align * align);
    geo.splits = std::max<int64_t>(1, (k + geo.split_cols - 1) / geo.split_cols);  // rounding up may leave fewer
    return geo;
}

template <typename Acc, bool kBlock = false>
void launch_typed(const void* xq, int64_t ldx, const float* xscale, const void* q, int64_t ldq, const float* scale,
                  const float* bias, void* y, int64_t ldy, DType out_dtype, int64_t m, int64_t n, int64_t k,
                  bool accumulate, void* workspace, cudaStream_t stream, BlockScales blocks = {}) {
    const Geometry geo = geometry(m, n, k, workspace != nullptr, kBlock ? 128 : kQuadSpan);
    // A unit's groups times 8 tokens, per warp.
    if (kBlock) blocks.per_warp = (geo.split_cols + 127) / 128 * kTileTokens;
    const size_t smem = kBlock ? size_t(kWarps * blocks.per_warp) * sizeof(float) : 0;
    const int64_t units = geo.tiles * geo.groups * geo.splits;
    const auto* xs = static_cast<const uint8_t*>(xq);
    const auto* qs = static_cast<const uint8_t*>(q);
    elt::dispatch_float(out_dtype, "gemv_w8a8 output", [&](auto tag) {
        using OutT = typename decltype(tag)::type;
        auto* kernel = gemv_w8a8_kernel<Acc, OutT, kBlock>;
        static const int blocks_per_sm = [&] {
            int b = 0;
            TURBOLM_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, kernel, kWarps * 32, 0));
            return std::max(b, 1);
        }();
        const int64_t resident = int64_t(sm_count()) * blocks_per_sm;
        const unsigned grid = unsigned(std::min(resident, (units + kWarps - 1) / kWarps));
        launch_after_previous(kernel, dim3(grid), dim3(kWarps * 32), smem, stream, xs, ldx, xscale, qs, ldq, scale,
                              bias, static_cast<OutT*>(y), ldy, m, n, k, accumulate, geo, static_cast<Acc*>(workspace),
                              blocks);
    });
    check_launch("gemv_w8a8");
}

}  // namespace

bool gemv_w8a8_supported(const void* xq, int64_t ldx, const void* q, int64_t ldq, int64_t k) {
    return k % kLaneBytes == 0 && ldx % kLaneBytes == 0 && ldq % kLaneBytes == 0 && elt::aligned16(xq) &&
           elt::aligned16(q);
}

int64_t gemv_w8a8_workspace_bytes(int64_t m, int64_t n, int64_t k) {
    if (m == 0 || n == 0 || k == 0) return 0;
    const Geometry geo = geometry(m, n, k, true);
    const Geometry blocks = geometry(m, n, k, true, 128);  // the block-scaled product's parts
    const int64_t parts = std::max(geo.splits, blocks.splits);
    return parts > 1 ? geo.tiles * geo.groups * parts * 128 * 4 : 0;  // 4: sizeof f32 and int32
}

void launch_gemv_fp8_block(const void* xq, int64_t ldx, const float* xscale, int64_t ldxs, const void* q, int64_t ldq,
                           const float* scale, int64_t lds, const float* bias, void* y, int64_t ldy, DType out_dtype,
                           int64_t m, int64_t n, int64_t k, bool accumulate, cudaStream_t stream, void* workspace) {
    if (m == 0 || n == 0) return;
    TURBOLM_REQUIRE(gemv_w8a8_supported(xq, ldx, q, ldq, k) && k % 128 == 0 && n % 128 == 0, "gemv_fp8_block: ",
                    n, " x ", k, " weights (multiples of 128, 16-byte aligned rows)");
    TURBOLM_REQUIRE(workspace == nullptr || elt::aligned16(workspace), "gemv_w8a8: workspace must be 16-byte aligned");
    launch_typed<float, true>(xq, ldx, xscale, q, ldq, scale, bias, y, ldy, out_dtype, m, n, k, accumulate, workspace,
                              stream, BlockScales{ldxs, lds});
}

void launch_gemv_w8a8(DType qtype, const void* xq, int64_t ldx, const float* xscale, const void* q, int64_t ldq,
                      const float* scale, const float* bias, void* y, int64_t ldy, DType out_dtype, int64_t m,
                      int64_t n, int64_t k, bool accumulate, cudaStream_t stream, void* workspace) {
    if (m == 0 || n == 0) return;
    TURBOLM_REQUIRE(gemv_w8a8_supported(xq, ldx, q, ldq, k), "gemv_w8a8: k (", k,
                    ") and the row strides must be multiples of 16 bytes, with 16-byte aligned rows");
    TURBOLM_REQUIRE(workspace == nullptr || elt::aligned16(workspace), "gemv_w8a8: workspace must be 16-byte aligned");
    if (qtype == DType::kF8E4M3)
        launch_typed<float>(xq, ldx, xscale, q, ldq, scale, bias, y, ldy, out_dtype, m, n, k, accumulate, workspace,
                            stream);
    else if (qtype == DType::kI8)
        launch_typed<int32_t>(xq, ldx, xscale, q, ldq, scale, bias, y, ldy, out_dtype, m, n, k, accumulate, workspace,
                              stream);
    else
        fail(StatusCode::kInvalidArgument, "gemv_w8a8: 8-bit codes are f8e4m3 or i8, not ", dtype_name(qtype));
}

}  // namespace turbolm::cuda
