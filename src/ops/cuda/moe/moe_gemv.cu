// Expert products of a mixture-of-experts layer for the few tokens of a decode step. Like launch_gemv, the time
// goes into streaming the weights from memory, so the kernel is built around reading each expert's weights as
// few times as it can: the pairs routed to one expert are multiplied together, kMoeGemvGroup at a time.
#include <algorithm>
#include <climits>
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/packed_dot.cuh"
#include "ops/cuda/moe/moe_kernels.h"

namespace turbolm::cuda {
namespace {

constexpr int kWarps = 8;             // output rows per block (one warp each)
constexpr int kVec = 8;               // 16-bit elements per 16-byte load
constexpr int kUnroll = 4;            // weight loads in flight per lane
constexpr int kWarpSpan = 32 * kVec;  // elements a warp covers with one load per lane
constexpr int kGroup = int(kMoeGemvGroup);
// Blocks per (expert, column block). Slice s of an expert takes its groups s, s + slices, s + 2 * slices, ...:
// a few slices spread an expert with many pairs over more blocks, and the cap keeps the blocks that find no
// group (most of them when max_pairs is large) few. A block's later groups reread rows it has just read, which
// are then likely still in L2.
constexpr int64_t kMaxSlices = 4;


template <typename OutT>
__device__ __forceinline__ OutT to_out(float v);
template <>
__device__ __forceinline__ float to_out<float>(float v) {
    return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 to_out<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half to_out<__half>(float v) {
    return __float2half_rn(v);
}

// One warp computes output column `row` for the M pairs pairs[0 .. M): lane l reads elements [l*8, l*8+8) of
// every 256-wide span of the weight row, kUnroll spans at a time so several 16-byte loads are in flight, multiplies
// them with the same elements of each pair's input row (small and shared by the block's warps, so read through
// L1), and the warp sums its lanes. M is a template argument so that acc and the row pointers stay in registers.
template <typename T, typename OutT, int M>
__device__ __forceinline__ void group_rows(const T* __restrict__ x, int64_t ldx, int64_t div, const T* __restrict__ wr,
                                           const int32_t* __restrict__ pairs, OutT* __restrict__ y, int64_t ldy,
                                           int64_t row, int64_t K, int lane) {
    int64_t p[M];    // pair index: its output is y[p, :]
    const T* xr[M];  // its input row, x[p / div, :]   [K]
#pragma unroll
    for (int m = 0; m < M; ++m) {
        p[m] = __ldg(pairs + m);
        xr[m] = x + (p[m] / div) * ldx;
    }
    float acc[M];
#pragma unroll
    for (int m = 0; m < M; ++m) acc[m] = 0.0f;
    int64_t base = int64_t(lane) * kVec;
    for (; base + (kUnroll - 1) * kWarpSpan < K; base += kUnroll * kWarpSpan) {
        uint4 wv[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) wv[u] = __ldcs(reinterpret_cast<const uint4*>(wr + base + u * kWarpSpan));
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
            for (int m = 0; m < M; ++m) {
                const uint4 xv = __ldg(reinterpret_cast<const uint4*>(xr[m] + base + u * kWarpSpan));
                acc[m] += dot8<T>(wv[u], xv);
            }
        }
    }
    // The last spans, fewer than kUnroll; K % 8 == 0 keeps every load inside the row.
    for (; base < K; base += kWarpSpan) {
        const uint4 wv = __ldcs(reinterpret_cast<const uint4*>(wr + base));
#pragma unroll
        for (int m = 0; m < M; ++m) acc[m] += dot8<T>(wv, __ldg(reinterpret_cast<const uint4*>(xr[m] + base)));
    }
#pragma unroll
    for (int m = 0; m < M; ++m) {
        float v = acc[m];
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
        if (lane == 0) y[p[m] * ldy + row] = to_out<OutT>(v);
    }
}

// blockIdx.x picks kWarps output columns (one per warp), blockIdx.y = e * slices + s picks expert e and its slice s.
// Expert e's pairs are order[offsets[e] .. offsets[e+1]); its groups of up to kGroup consecutive ones start at
// offsets[e] + g * kGroup, and this block takes g = s, s + slices, ... A block whose expert has no such group
// returns at once.
template <typename T, typename OutT>
__global__ void __launch_bounds__(kWarps * 32)
    moe_gemv_kernel(const T* __restrict__ x, int64_t ldx, int64_t div, const T* __restrict__ w, int64_t expert_stride,
                    int64_t ldw, const int32_t* __restrict__ order, const int32_t* __restrict__ offsets, int slices,
                    OutT* __restrict__ y, int64_t ldy, int64_t N, int64_t K) {
    const int lane = threadIdx.x % 32;
    const int64_t row = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
    if (row >= N) return;  // the whole warp leaves together
    const int e = int(blockIdx.y) / slices, slice = int(blockIdx.y) % slices;
    const int begin = __ldg(offsets + e), end = __ldg(offsets + e + 1);
    const T* wr = w + e * expert_stride + row * ldw;  // weight row `row` of expert e   [K]
    for (int start = begin + slice * kGroup; start < end; start += slices * kGroup) {
        const int count = min(end - start, kGroup);
        switch (count) {
            case 1:
                group_rows<T, OutT, 1>(x, ldx, div, wr, order + start, y, ldy, row, K, lane);
                break;
            case 2:
                group_rows<T, OutT, 2>(x, ldx, div, wr, order + start, y, ldy, row, K, lane);
                break;
            case 3:
                group_rows<T, OutT, 3>(x, ldx, div, wr, order + start, y, ldy, row, K, lane);
                break;
            default:
                group_rows<T, OutT, 4>(x, ldx, div, wr, order + start, y, ldy, row, K, lane);
                break;
        }
    }
}

template <typename T, typename OutT>
void launch_typed(const void* x, int64_t ldx, int64_t div, const void* w, int64_t expert_stride, int64_t ldw,
                  const int32_t* order, const int32_t* offsets, dim3 grid, int slices, void* y, int64_t ldy, int64_t N,
                  int64_t K, cudaStream_t s) {
    moe_gemv_kernel<T, OutT><<<grid, kWarps * 32, 0, s>>>(static_cast<const T*>(x), ldx, div, static_cast<const T*>(w),
                                                          expert_stride, ldw, order, offsets, slices,
                                                          static_cast<OutT*>(y), ldy, N, K);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

bool aligned16(const void* p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

}  // namespace

void launch_moe_gemv(const void* x, int64_t ldx, int64_t x_rows_per_pair_div, const void* w, int64_t expert_stride,
                     int64_t ldw, DType dtype, const int32_t* order, const int32_t* offsets, const int32_t* ids,
                     int64_t P, int64_t E, int64_t max_pairs, void* y, int64_t ldy, DType out_dtype, int64_t N,
                     int64_t K, cudaStream_t s) {
    (void)ids;  // the grouping in order/offsets already names each pair's expert
    TURBOLM_REQUIRE(E >= 1 && E <= kMoeMaxExperts, "moe_gemv: ", E, " experts (1 to ", kMoeMaxExperts, ")");
    TURBOLM_REQUIRE(P >= 0 && P <= max_pairs && max_pairs <= INT_MAX - 2 * kMaxSlices * kGroup, "moe_gemv: ", P,
                    " pairs with max_pairs ", max_pairs);
    TURBOLM_REQUIRE(N >= 0 && N <= int64_t(INT_MAX) * kWarps, "moe_gemv: N = ", N);
    TURBOLM_REQUIRE(K > 0 && K % kVec == 0, "moe_gemv: K = ", K, " (a positive multiple of 8)");
    TURBOLM_REQUIRE(
        ldx >= K && ldx % kVec == 0 && ldw >= K && ldw % kVec == 0 && expert_stride >= 0 && expert_stride % kVec == 0,
        "moe_gemv: strides ldx ", ldx, ", ldw ", ldw, ", expert_stride ", expert_stride,
        " (each a multiple of 8, rows of at least K = ", K, ")");
    TURBOLM_REQUIRE(ldy >= N, "moe_gemv: ldy ", ldy, " < N = ", N);
    TURBOLM_REQUIRE(x_rows_per_pair_div >= 1, "moe_gemv: x_rows_per_pair_div = ", x_rows_per_pair_div);
    TURBOLM_REQUIRE(aligned16(x) && aligned16(w), "moe_gemv: x and w must be 16-byte aligned");
    const bool out_ok = out_dtype == DType::kF32 || out_dtype == dtype;
    TURBOLM_REQUIRE((dtype == DType::kBF16 || dtype == DType::kF16) && out_ok, "moe_gemv: ", dtype_name(dtype), " -> ",
                    dtype_name(out_dtype), " (bf16 or f16 in, f32 or the same type out)");
    if (P == 0 || N == 0) return;

    const int64_t slices = std::min((max_pairs + kGroup - 1) / kGroup, kMaxSlices);
    const dim3 grid(unsigned((N + kWarps - 1) / kWarps), unsigned(E * slices));  // E * slices <= 1024
    const bool f32_out = out_dtype == DType::kF32;
    if (dtype == DType::kBF16) {
        if (f32_out)
            launch_typed<__nv_bfloat16, float>(x, ldx, x_rows_per_pair_div, w, expert_stride, ldw, order, offsets, grid,
                                               int(slices), y, ldy, N, K, s);
        else
            launch_typed<__nv_bfloat16, __nv_bfloat16>(x, ldx, x_rows_per_pair_div, w, expert_stride, ldw, order,
                                                       offsets, grid, int(slices), y, ldy, N, K, s);
    } else {
        if (f32_out)
            launch_typed<__half, float>(x, ldx, x_rows_per_pair_div, w, expert_stride, ldw, order, offsets, grid,
                                        int(slices), y, ldy, N, K, s);
        else
            launch_typed<__half, __half>(x, ldx, x_rows_per_pair_div, w, expert_stride, ldw, order, offsets, grid,
                                         int(slices), y, ldy, N, K, s);
    }
}

}  // namespace turbolm::cuda
