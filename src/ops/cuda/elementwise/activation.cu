// Gated activations (SwiGLU / GeGLU: act(gate) * up) and plain in-place activations on 16-bit
// activations; the functions are in activation_functions.cuh.
//
// Shape: grid (column blocks, min(rows, 65535)); each thread owns one 8-element chunk of a row and
// walks down the rows with stride gridDim.y.
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/elementwise/activation_functions.cuh"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/elementwise/elementwise_kernels.h"
#include "ops/cuda/programmatic_launch.cuh"

namespace turbolm::cuda {
namespace {

using namespace elt;

constexpr int kThreads = 128;

// gate: T [rows, ldg]; up: T [rows, ldu]; out: T [rows, ldo]. out may alias gate: each element is read and
// written by the same thread, read first, so no __restrict__ here.
template <typename T, typename Act>
__global__ void __launch_bounds__(kThreads) act_mul_kernel(const T* gate, int64_t ldg, const T* up, int64_t ldu, T* out,
                                                           int64_t ldo, int64_t rows, int64_t cols) {
    wait_for_previous_grid_and_release_next();  // launched after the previous kernel (programmatic_launch.cuh)
    const int64_t col0 = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * kVec;  // this thread's chunk [col0, col0 + 8)
    if (col0 >= cols) return;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const T* g = gate + r * ldg + col0;
        const T* u = up + r * ldu + col0;
        T* o = out + r * ldo + col0;
        if (cols % kVec == 0 && aligned16(g) && aligned16(u) && aligned16(o)) {
            float gv[kVec], uv[kVec];
            load8(g, gv);
            load8(u, uv);
#pragma unroll
            for (int k = 0; k < kVec; ++k) gv[k] = Act::apply(gv[k]) * uv[k];
            store8(o, gv);
        } else {
            for (int64_t k = 0; k < kVec && col0 + k < cols; ++k)
                o[k] = from_f32<T>(Act::apply(to_f32(g[k])) * to_f32(u[k]));
        }
    }
}

// x: T [rows, ldx]
template <typename T, typename Act>
__global__ void __launch_bounds__(kThreads) act_inplace_kernel(T* x, int64_t ldx, int64_t rows, int64_t cols) {
    wait_for_previous_grid_and_release_next();  // launched after the previous kernel (programmatic_launch.cuh)
    const int64_t col0 = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * kVec;  // this thread's chunk [col0, col0 + 8)
    if (col0 >= cols) return;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        T* v = x + r * ldx + col0;
        if (cols % kVec == 0 && aligned16(v)) {
            float f[kVec];
            load8(v, f);
#pragma unroll
            for (int k = 0; k < kVec; ++k) f[k] = Act::apply(f[k]);
            store8(v, f);
        } else {
            for (int64_t k = 0; k < kVec && col0 + k < cols; ++k) v[k] = from_f32<T>(Act::apply(to_f32(v[k])));
        }
    }
}

dim3 row_grid(int64_t rows, int64_t cols) {
    const int64_t chunks = (cols + kVec - 1) / kVec;
    return dim3(unsigned((chunks + kThreads - 1) / kThreads), grid_y_rows(rows));
}

}  // namespace

void launch_act_mul(cpu::Activation act, const void* gate, int64_t ldg, const void* up, int64_t ldu, void* out,
                    int64_t ldo, int64_t rows, int64_t cols, DType dtype, cudaStream_t s) {
    const char* op = "launch_act_mul";
    dispatch_16bit(dtype, op, [](auto) {});
    dispatch_act(act, op, [](auto) {});
    if (rows <= 0 || cols <= 0) return;
    const dim3 grid = row_grid(rows, cols);
    dispatch_16bit(dtype, op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        dispatch_act(act, op, [&](auto fn) {
            launch_after_previous(act_mul_kernel<T, decltype(fn)>, dim3(grid), dim3(kThreads), 0, s,
                                  static_cast<const T*>(gate), ldg, static_cast<const T*>(up), ldu,
                                  static_cast<T*>(out), ldo, rows, cols);
            TURBOLM_CUDA_CHECK_LAUNCH();
        });
    });
}

void launch_act_inplace(cpu::Activation act, void* x, int64_t ldx, int64_t rows, int64_t cols, DType dtype,
                        cudaStream_t s) {
    const char* op = "launch_act_inplace";
    dispatch_16bit(dtype, op, [](auto) {});
    dispatch_act(act, op, [](auto) {});
    if (rows <= 0 || cols <= 0) return;
    const dim3 grid = row_grid(rows, cols);
    dispatch_16bit(dtype, op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        dispatch_act(act, op, [&](auto fn) {
            launch_after_previous(act_inplace_kernel<T, decltype(fn)>, dim3(grid), dim3(kThreads), 0, s,
                                  static_cast<T*>(x), ldx, rows, cols);
            TURBOLM_CUDA_CHECK_LAUNCH();
        });
    });
}

}  // namespace turbolm::cuda
