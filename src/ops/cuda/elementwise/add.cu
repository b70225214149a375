// Additions on activations: a bias broadcast over rows (projections whose GEMM has no bias epilogue)
// and the f32 residual add.
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/elementwise/elementwise_kernels.h"

namespace turbolm::cuda {
namespace {

using namespace elt;

constexpr int kThreads = 128;

// y: Y [rows, ldy]; b: f32 [cols]. grid (column blocks, min(rows, 65535)): each thread owns one 8-element
// chunk of a row and walks down the rows with stride gridDim.y.
template <typename Y>
__global__ void __launch_bounds__(kThreads)
    add_bias_kernel(Y* __restrict__ y, int64_t ldy, const float* __restrict__ b, int64_t rows, int64_t cols) {
    const int64_t col0 = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * kVec;  // this thread's chunk [col0, col0 + 8)
    if (col0 >= cols) return;
    const bool b_vec = cols % kVec == 0 && aligned16(b);
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        Y* v = y + r * ldy + col0;
        if (b_vec && aligned16(v)) {
            float f[kVec], bv[kVec];
            load8(v, f);
            load8(b + col0, bv);
#pragma unroll
            for (int k = 0; k < kVec; ++k) f[k] += bv[k];
            store8(v, f);
        } else {
            for (int64_t k = 0; k < kVec && col0 + k < cols; ++k) v[k] = from_f32<Y>(to_f32(v[k]) + b[col0 + k]);
        }
    }
}

// a, b, y: f32 [n]; chunk j = elements [8j, 8j + 8), grid-stride over chunks. y may alias a or b: each
// element is read and written by one thread, reads first.
__global__ void __launch_bounds__(256) add_kernel(const float* a, const float* b, float* y, int64_t n, bool vec) {
    const int64_t chunks = (n + kVec - 1) / kVec;
    for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < chunks; j += int64_t(gridDim.x) * blockDim.x) {
        const int64_t i0 = j * kVec;
        if (vec && i0 + kVec <= n) {
            float av[kVec], bv[kVec];
            load8(a + i0, av);
            load8(b + i0, bv);
#pragma unroll
            for (int k = 0; k < kVec; ++k) av[k] += bv[k];
            store8(y + i0, av);
        } else {
            for (int64_t i = i0; i < n && i < i0 + kVec; ++i) y[i] = a[i] + b[i];
        }
    }
}

}  // namespace

void launch_add_bias(void* y, DType y_dtype, int64_t ldy, const float* b, int64_t rows, int64_t cols, cudaStream_t s) {
    const char* op = "launch_add_bias";
    dispatch_float(y_dtype, op, [](auto) {});
    if (rows <= 0 || cols <= 0) return;
    const int64_t chunks = (cols + kVec - 1) / kVec;
    const dim3 grid(unsigned((chunks + kThreads - 1) / kThreads), grid_y_rows(rows));
    dispatch_float(y_dtype, op, [&](auto tag) {
        using Y = typename decltype(tag)::type;
        add_bias_kernel<Y><<<grid, kThreads, 0, s>>>(static_cast<Y*>(y), ldy, b, rows, cols);
        TURBOLM_CUDA_CHECK_LAUNCH();
    });
}

void launch_add(const float* a, const float* b, float* y, int64_t n, cudaStream_t s) {
    if (n <= 0) return;
    const bool vec = aligned16(a) && aligned16(b) && aligned16(y);
    add_kernel<<<grid_flat((n + kVec - 1) / kVec, 256), 256, 0, s>>>(a, b, y, n, vec);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

}  // namespace turbolm::cuda
