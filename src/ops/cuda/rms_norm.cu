// RMSNorm: one block per row; each thread sums squares over a strided slice with float4 loads
// when the row allows, then a warp-shuffle and shared-memory reduction.
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_kernels.h"

namespace turbolm::cuda {
namespace {

constexpr int kThreads = 256;

__device__ float block_sum(float v) {
    __shared__ float warp_sums[kThreads / 32];
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    v = threadIdx.x < kThreads / 32 ? warp_sums[threadIdx.x] : 0.0f;
    if (warp == 0)
        for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    __shared__ float total;
    if (threadIdx.x == 0) total = v;
    __syncthreads();
    return total;
}

__global__ void rms_norm_kernel(const float* __restrict__ x, int64_t ldx, const float* __restrict__ w, float eps,
                                float* __restrict__ y, int64_t ldy, int64_t cols) {
    const float* xr = x + blockIdx.x * ldx;
    float* yr = y + blockIdx.x * ldy;
    // float4 path only when the row start is 16-byte aligned and cols is a multiple of 4.
    const bool vec = cols % 4 == 0 && (reinterpret_cast<uintptr_t>(xr) % 16 == 0) &&
                     (reinterpret_cast<uintptr_t>(yr) % 16 == 0) && (reinterpret_cast<uintptr_t>(w) % 16 == 0);
    float sum = 0.0f;
    if (vec) {
        for (int64_t i = threadIdx.x; i < cols / 4; i += kThreads) {
            float4 v = reinterpret_cast<const float4*>(xr)[i];
            sum += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
    } else {
        for (int64_t i = threadIdx.x; i < cols; i += kThreads) sum += xr[i] * xr[i];
    }
    const float inv = rsqrtf(block_sum(sum) / float(cols) + eps);
    if (vec) {
        for (int64_t i = threadIdx.x; i < cols / 4; i += kThreads) {
            float4 v = reinterpret_cast<const float4*>(xr)[i];
            float4 g = reinterpret_cast<const float4*>(w)[i];
            reinterpret_cast<float4*>(yr)[i] = make_float4(g.x * (v.x * inv), g.y * (v.y * inv), g.z * (v.z * inv),
                                                           g.w * (v.w * inv));
        }
    } else {
        for (int64_t i = threadIdx.x; i < cols; i += kThreads) yr[i] = w[i] * (xr[i] * inv);
    }
}

}  // namespace

void launch_rms_norm(const float* x, int64_t ldx, const float* w, float eps, float* y, int64_t ldy, int64_t rows,
                     int64_t cols, cudaStream_t stream) {
    if (rows == 0) return;
    rms_norm_kernel<<<unsigned(rows), kThreads, 0, stream>>>(x, ldx, w, eps, y, ldy, cols);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

}  // namespace turbolm::cuda
