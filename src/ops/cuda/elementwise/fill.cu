// Fills: uniform random values from a counter-based hash (random-weight models: every element is a
// pure function of (seed, index), so the result does not depend on the launch shape and needs no
// generator state), and constants.
#include <cmath>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/elementwise/elementwise_kernels.h"

namespace turbolm::cuda {
namespace {

using namespace elt;

constexpr int kThreads = 256;

// SplitMix64's output function: a bijective mix in which every input bit affects every output bit.
__host__ __device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Uniform f32 in [lo, hi) for element i. key = mix64(seed), so that nearby seeds give unrelated streams;
// the index is spread by the golden-ratio increment before mixing. u takes the top 24 bits, so it is an
// exact f32 in [0, 1); the affine map can still round up to hi, which is pulled back to hi_below (the
// largest f32 below hi).
__device__ __forceinline__ float uniform_at(uint64_t key, int64_t i, float lo, float span, float hi, float hi_below) {
    const uint64_t h = mix64(key + uint64_t(i) * 0x9e3779b97f4a7c15ull);
    const float u = float(h >> 40) * 0x1p-24f;
    const float v = lo + u * span;
    return v < hi ? v : hi_below;
}

// dst: T [n]; chunk j = elements [8j, 8j + 8), grid-stride over chunks; vec: dst 16-byte aligned.
template <typename T>
__global__ void __launch_bounds__(kThreads) fill_uniform_kernel(T* __restrict__ dst, int64_t n, float lo, float span,
                                                                float hi, float hi_below, uint64_t key, bool vec) {
    const int64_t chunks = (n + kVec - 1) / kVec;
    for (int64_t j = int64_t(blockIdx.x) * kThreads + threadIdx.x; j < chunks; j += int64_t(gridDim.x) * kThreads) {
        const int64_t i0 = j * kVec;
        if (vec && i0 + kVec <= n) {
            float v[kVec];
#pragma unroll
            for (int k = 0; k < kVec; ++k) v[k] = uniform_at(key, i0 + k, lo, span, hi, hi_below);
            store8(dst + i0, v);
        } else {
            for (int64_t i = i0; i < n && i < i0 + kVec; ++i)
                dst[i] = from_f32<T>(uniform_at(key, i, lo, span, hi, hi_below));
        }
    }
}

// dst: T [n]; same chunking as above.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    fill_constant_kernel(T* __restrict__ dst, int64_t n, float value, bool vec) {
    const int64_t chunks = (n + kVec - 1) / kVec;
    for (int64_t j = int64_t(blockIdx.x) * kThreads + threadIdx.x; j < chunks; j += int64_t(gridDim.x) * kThreads) {
        const int64_t i0 = j * kVec;
        if (vec && i0 + kVec <= n) {
            float v[kVec];
#pragma unroll
            for (int k = 0; k < kVec; ++k) v[k] = value;
            store8(dst + i0, v);
        } else {
            for (int64_t i = i0; i < n && i < i0 + kVec; ++i) dst[i] = from_f32<T>(value);
        }
    }
}

}  // namespace

void launch_fill_uniform(void* dst, DType dtype, int64_t n, float lo, float hi, uint64_t seed, cudaStream_t s) {
    const char* op = "launch_fill_uniform";
    dispatch_float(dtype, op, [](auto) {});
    check_arg(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, op, "needs finite lo <= hi");
    check_arg(std::isfinite(hi - lo), op, "hi - lo overflows f32");
    if (n <= 0) return;
    const float hi_below = lo < hi ? std::nextafter(hi, lo) : lo;  // lo == hi: every value is lo
    const bool vec = aligned16(dst);
    const unsigned grid = grid_flat((n + kVec - 1) / kVec, kThreads);
    dispatch_float(dtype, op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        fill_uniform_kernel<T>
            <<<grid, kThreads, 0, s>>>(static_cast<T*>(dst), n, lo, hi - lo, hi, hi_below, mix64(seed), vec);
        TURBOLM_CUDA_CHECK_LAUNCH();
    });
}

void launch_fill_constant(void* dst, DType dtype, int64_t n, float value, cudaStream_t s) {
    const char* op = "launch_fill_constant";
    dispatch_float(dtype, op, [](auto) {});
    if (n <= 0) return;
    const bool vec = aligned16(dst);
    const unsigned grid = grid_flat((n + kVec - 1) / kVec, kThreads);
    dispatch_float(dtype, op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        fill_constant_kernel<T><<<grid, kThreads, 0, s>>>(static_cast<T*>(dst), n, value, vec);
        TURBOLM_CUDA_CHECK_LAUNCH();
    });
}

}  // namespace turbolm::cuda
