// Element type conversion between f32, bf16 and f16 (weights at load, activations between kernels
// that want different types). Widening is exact; narrowing rounds to nearest even, like the CPU's
// f32_to_bf16 / f32_to_f16.
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/elementwise/elementwise_kernels.h"

namespace turbolm::cuda {
namespace {

using namespace elt;

constexpr int kThreads = 256;

// src: Src [n]; dst: Dst [n]. Chunk j = elements [8j, 8j + 8), grid-stride over chunks; vec: both
// pointers 16-byte aligned, so every full chunk is a vector access (the last, partial one is scalar).
template <typename Src, typename Dst>
__global__ void __launch_bounds__(kThreads)
    convert_kernel(const Src* __restrict__ src, Dst* __restrict__ dst, int64_t n, bool vec) {
    const int64_t chunks = (n + kVec - 1) / kVec;
    for (int64_t j = int64_t(blockIdx.x) * kThreads + threadIdx.x; j < chunks; j += int64_t(gridDim.x) * kThreads) {
        const int64_t i0 = j * kVec;
        if (vec && i0 + kVec <= n) {
            float v[kVec];
            load8(src + i0, v);
            store8(dst + i0, v);
        } else {
            for (int64_t i = i0; i < n && i < i0 + kVec; ++i) dst[i] = from_f32<Dst>(to_f32(src[i]));
        }
    }
}

}  // namespace

void launch_convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n, cudaStream_t s) {
    const char* op = "launch_convert";
    dispatch_float(src_dtype, op, [](auto) {});
    dispatch_float(dst_dtype, op, [](auto) {});
    if (n <= 0) return;
    const bool vec = aligned16(src) && aligned16(dst);
    const unsigned grid = grid_flat((n + kVec - 1) / kVec, kThreads);
    dispatch_float(src_dtype, op, [&](auto src_tag) {
        using Src = typename decltype(src_tag)::type;
        dispatch_float(dst_dtype, op, [&](auto dst_tag) {
            using Dst = typename decltype(dst_tag)::type;
            convert_kernel<Src, Dst>
                <<<grid, kThreads, 0, s>>>(static_cast<const Src*>(src), static_cast<Dst*>(dst), n, vec);
            TURBOLM_CUDA_CHECK_LAUNCH();
        });
    });
}

}  // namespace turbolm::cuda
