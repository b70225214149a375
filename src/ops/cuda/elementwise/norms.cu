// RMSNorm and LayerNorm: one block per row, f32 sums reduced over the block, the same formulas as
// cpu::rms_norm and cpu::layer_norm. The row is read again for the output (and, for LayerNorm, for the
// variance) rather than kept in shared memory: rows are at most a few tens of KB and the re-reads hit
// L1/L2, while the kernel stays the same for every width.
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/elementwise/elementwise_kernels.h"
#include "ops/cuda/programmatic_launch.cuh"

namespace turbolm::cuda {
namespace {

using namespace elt;

constexpr int kThreads = 256;

// Whether a row can use 8-element chunks: every pointer of the row 16-byte aligned and cols % 8 == 0.
// The test is the same for all threads of the block, so the branch does not diverge.
template <typename Y>
__device__ bool row_vectorizable(const float* xr, const float* w, const float* b, const Y* yr, int64_t cols) {
    return cols % kVec == 0 && aligned16(xr) && (w == nullptr || aligned16(w)) && (b == nullptr || aligned16(b)) &&
           aligned16(yr);
}

// The 8 weights of chunk c, or ones without a weight (w * v == v exactly then).
__device__ __forceinline__ void load_weight8(const float* w, int64_t c, float (&g)[kVec]) {
    if (w) {
        load8(w + c * kVec, g);
    } else {
#pragma unroll
        for (int k = 0; k < kVec; ++k) g[k] = 1.0f;
    }
}

// x: f32 [rows, ldx]; w: f32 [cols] or null; y: Y [rows, ldy]; grid.x = rows, block = kThreads
template <typename Y>
__global__ void __launch_bounds__(kThreads)
    rms_norm_kernel(const float* __restrict__ x, int64_t ldx, const float* __restrict__ w, float eps, Y* __restrict__ y,
                    int64_t ldy, int64_t cols) {
    wait_for_previous_grid_and_release_next();        // launched after the previous kernel (programmatic_launch.cuh)
    const float* xr = x + int64_t(blockIdx.x) * ldx;  // this block's row
    Y* yr = y + int64_t(blockIdx.x) * ldy;
    const bool vec = row_vectorizable<Y>(xr, w, nullptr, yr, cols);
    const int64_t chunks = cols / kVec;

    float sum = 0.0f;
    if (vec) {
        for (int64_t c = threadIdx.x; c < chunks; c += kThreads) {  // chunk c = elements [8c, 8c + 8)
            float v[kVec];
            load8(xr + c * kVec, v);
#pragma unroll
            for (int k = 0; k < kVec; ++k) sum += v[k] * v[k];
        }
    } else {
        for (int64_t i = threadIdx.x; i < cols; i += kThreads) sum += xr[i] * xr[i];
    }
    const float inv = 1.0f / sqrtf(block_sum<kThreads>(sum) / float(cols) + eps);

    if (vec) {
        for (int64_t c = threadIdx.x; c < chunks; c += kThreads) {
            float v[kVec], g[kVec];
            load8(xr + c * kVec, v);
            load_weight8(w, c, g);
#pragma unroll
            for (int k = 0; k < kVec; ++k) v[k] = g[k] * (v[k] * inv);
            store8(yr + c * kVec, v);
        }
    } else {
        for (int64_t i = threadIdx.x; i < cols; i += kThreads) yr[i] = from_f32<Y>((w ? w[i] : 1.0f) * (xr[i] * inv));
    }
}

// x: f32 [rows, ldx]; w, b: f32 [cols] or null; y: Y [rows, ldy]; grid.x = rows, block = kThreads
template <typename Y>
__global__ void __launch_bounds__(kThreads)
    layer_norm_kernel(const float* __restrict__ x, int64_t ldx, const float* __restrict__ w,
                      const float* __restrict__ b, float eps, Y* __restrict__ y, int64_t ldy, int64_t cols) {
    wait_for_previous_grid_and_release_next();        // launched after the previous kernel (programmatic_launch.cuh)
    const float* xr = x + int64_t(blockIdx.x) * ldx;  // this block's row
    Y* yr = y + int64_t(blockIdx.x) * ldy;
    const bool vec = row_vectorizable<Y>(xr, w, b, yr, cols);
    const int64_t chunks = cols / kVec;

    // Pass 1: mean.
    float sum = 0.0f;
    if (vec) {
        for (int64_t c = threadIdx.x; c < chunks; c += kThreads) {
            float v[kVec];
            load8(xr + c * kVec, v);
#pragma unroll
            for (int k = 0; k < kVec; ++k) sum += v[k];
        }
    } else {
        for (int64_t i = threadIdx.x; i < cols; i += kThreads) sum += xr[i];
    }
    const float mean = block_sum<kThreads>(sum) / float(cols);

    // Pass 2: variance around the mean (two passes: no cancellation when |mean| >> std).
    float var = 0.0f;
    if (vec) {
        for (int64_t c = threadIdx.x; c < chunks; c += kThreads) {
            float v[kVec];
            load8(xr + c * kVec, v);
#pragma unroll
            for (int k = 0; k < kVec; ++k) var += (v[k] - mean) * (v[k] - mean);
        }
    } else {
        for (int64_t i = threadIdx.x; i < cols; i += kThreads) var += (xr[i] - mean) * (xr[i] - mean);
    }
    const float inv = 1.0f / sqrtf(block_sum<kThreads>(var) / float(cols) + eps);

    // Pass 3: output.
    if (vec) {
        for (int64_t c = threadIdx.x; c < chunks; c += kThreads) {
            float v[kVec], g[kVec], o[kVec] = {};
            load8(xr + c * kVec, v);
            load_weight8(w, c, g);
            if (b) load8(b + c * kVec, o);
#pragma unroll
            for (int k = 0; k < kVec; ++k) v[k] = (v[k] - mean) * inv * g[k] + o[k];
            store8(yr + c * kVec, v);
        }
    } else {
        for (int64_t i = threadIdx.x; i < cols; i += kThreads) {
            const float o = b ? b[i] : 0.0f;
            yr[i] = from_f32<Y>((xr[i] - mean) * inv * (w ? w[i] : 1.0f) + o);
        }
    }
}

}  // namespace

void launch_rms_norm(const float* x, int64_t ldx, const float* w, float eps, void* y, DType y_dtype, int64_t ldy,
                     int64_t rows, int64_t cols, cudaStream_t s) {
    const char* op = "launch_rms_norm";
    dispatch_float(y_dtype, op, [](auto) {});  // rejects a bad dtype even when there is nothing to do
    const unsigned grid = grid_rows(rows, op);
    if (rows == 0 || cols == 0) return;
    dispatch_float(y_dtype, op, [&](auto tag) {
        using Y = typename decltype(tag)::type;
        launch_after_previous(rms_norm_kernel<Y>, dim3(grid), dim3(kThreads), 0, s, x, ldx, w, eps, static_cast<Y*>(y),
                              ldy, cols);
        TURBOLM_CUDA_CHECK_LAUNCH();
    });
}

void launch_layer_norm(const float* x, int64_t ldx, const float* w, const float* b, float eps, void* y, DType y_dtype,
                       int64_t ldy, int64_t rows, int64_t cols, cudaStream_t s) {
    const char* op = "launch_layer_norm";
    dispatch_float(y_dtype, op, [](auto) {});
    const unsigned grid = grid_rows(rows, op);
    if (rows == 0 || cols == 0) return;
    dispatch_float(y_dtype, op, [&](auto tag) {
        using Y = typename decltype(tag)::type;
        launch_after_previous(layer_norm_kernel<Y>, dim3(grid), dim3(kThreads), 0, s, x, ldx, w, b, eps,
                              static_cast<Y*>(y), ldy, cols);
        TURBOLM_CUDA_CHECK_LAUNCH();
    });
}

}  // namespace turbolm::cuda
