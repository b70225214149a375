#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/gemv.h"
#include "ops/cuda/packed_dot.cuh"
#include "ops/cuda/programmatic_launch.cuh"

namespace turbolm::cuda {
namespace {

constexpr int kWarps = 8;             // output rows per block (one warp each)
constexpr int kVec = 8;               // 16-bit elements per 16-byte load
constexpr int kUnroll = 4;            // loads in flight per lane
constexpr int kWarpSpan = 32 * kVec;  // elements a warp covers with one load per lane

template <typename OutT>
__device__ __forceinline__ float load_out(const OutT* p) {
    return float(*p);
}
template <>
__device__ __forceinline__ float load_out<float>(const float* p) {
    return *p;
}

// One warp per output row n: lane l reads elements [l*8, l*8+8) of every 256-wide span of the row,
// kUnroll spans at a time so several 16-byte loads are in flight, multiplies them with the same
// elements of each of the M input rows (small, read through L1), and the warp sums its lanes.
template <typename T, typename OutT, int M>
__global__ void __launch_bounds__(kWarps * 32)
    gemv_kernel(const T* __restrict__ x, int64_t ldx, const T* __restrict__ w, int64_t ldw, OutT* __restrict__ y,
                int64_t ldy, int64_t n, int64_t k, bool accumulate) {
    wait_for_previous_grid();  // launched after the previous kernel (programmatic_launch.cuh)
    const int lane = threadIdx.x % 32;
    const int64_t row = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
    if (row >= n) return;
    const T* wr = w + row * ldw;
    float acc[M];
#pragma unroll
    for (int m = 0; m < M; ++m) acc[m] = 0.0f;
    int64_t base = int64_t(lane) * kVec;
    for (; base + (kUnroll - 1) * kWarpSpan < k; base += kUnroll * kWarpSpan) {
        uint4 wv[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) wv[u] = __ldcs(reinterpret_cast<const uint4*>(wr + base + u * kWarpSpan));
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
            for (int m = 0; m < M; ++m) {
                const uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + m * ldx + base + u * kWarpSpan));
                acc[m] += dot8<T>(wv[u], xv);
            }
        }
    }
    for (; base < k; base += kWarpSpan) {
        const uint4 wv = __ldcs(reinterpret_cast<const uint4*>(wr + base));
#pragma unroll
        for (int m = 0; m < M; ++m) acc[m] += dot8<T>(wv, __ldg(reinterpret_cast<const uint4*>(x + m * ldx + base)));
    }
#pragma unroll
    for (int m = 0; m < M; ++m) {
        float v = acc[m];
        for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
        if (lane == 0) {
            OutT* out = y + m * ldy + row;
            *out = OutT(accumulate ? v + load_out(out) : v);
        }
    }
}

template <typename T, typename OutT>
void launch_typed(const void* x, int64_t ldx, const void* w, int64_t ldw, void* y, int64_t ldy, int64_t m, int64_t n,
                  int64_t k, bool accumulate, cudaStream_t stream) {
    const dim3 grid(unsigned((n + kWarps - 1) / kWarps)), block(kWarps * 32);
    auto xs = static_cast<const T*>(x);
    auto ws = static_cast<const T*>(w);
    auto ys = static_cast<OutT*>(y);
    auto launch = [&](auto rows) {
        launch_after_previous(gemv_kernel<T, OutT, decltype(rows)::value>, grid, block, 0, stream, xs, ldx, ws, ldw, ys,
                              ldy, n, k, accumulate);
    };
    switch (m) {
        case 1:
            launch(std::integral_constant<int, 1>{});
            break;
        case 2:
            launch(std::integral_constant<int, 2>{});
            break;
        case 3:
            launch(std::integral_constant<int, 3>{});
            break;
        case 4:
            launch(std::integral_constant<int, 4>{});
            break;
        default:
            fail(StatusCode::kInvalidArgument, "gemv: ", m, " rows (at most ", kGemvMaxRows, ")");
    }
    TURBOLM_CUDA_CHECK_LAUNCH();
}

bool aligned16(const void* p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

}  // namespace

bool gemv_supported(const void* x, int64_t ldx, const void* w, int64_t ldw, int64_t m, int64_t k) {
    return m >= 1 && m <= kGemvMaxRows && k % kVec == 0 && ldx % kVec == 0 && ldw % kVec == 0 && aligned16(x) &&
           aligned16(w);
}

void launch_gemv(const void* x, int64_t ldx, const void* w, int64_t ldw, DType in_dtype, void* y, int64_t ldy,
                 DType out_dtype, int64_t m, int64_t n, int64_t k, float beta, cudaStream_t stream) {
    if (n == 0) return;
    TURBOLM_REQUIRE(gemv_supported(x, ldx, w, ldw, m, k), "gemv: unsupported shape or alignment");
    const bool acc = beta != 0.0f;
    if (in_dtype == DType::kBF16) {
        if (out_dtype == DType::kF32)
            return launch_typed<__nv_bfloat16, float>(x, ldx, w, ldw, y, ldy, m, n, k, acc, stream);
        if (out_dtype == DType::kBF16)
            return launch_typed<__nv_bfloat16, __nv_bfloat16>(x, ldx, w, ldw, y, ldy, m, n, k, acc, stream);
    } else if (in_dtype == DType::kF16) {
        if (out_dtype == DType::kF32) return launch_typed<__half, float>(x, ldx, w, ldw, y, ldy, m, n, k, acc, stream);
        if (out_dtype == DType::kF16) return launch_typed<__half, __half>(x, ldx, w, ldw, y, ldy, m, n, k, acc, stream);
    }
    fail(StatusCode::kInvalidArgument, "gemv: ", dtype_name(in_dtype), " -> ", dtype_name(out_dtype));
}

}  // namespace turbolm::cuda
