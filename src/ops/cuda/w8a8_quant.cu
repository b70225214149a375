// Per-row 8-bit quantization, one block per row. Rows of up to kThreads * 8 * kMaxChunks elements
// (16384: every activation width of the models) are read once: each thread loads its 8-element chunks
// (one 16-byte load each for 16-bit input, all issued before any is used) into registers, the block
// finds the largest magnitude, and the codes are written from the registers, one 8-byte store per
// chunk. Longer rows (weights at load) read the row a second time instead of keeping it. Rows not
// 16-byte aligned or not a multiple of 8 long take the scalar loop.
#include "ops/cuda/w8a8_quant.h"

#include <cuda_fp8.h>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/programmatic_launch.cuh"

namespace turbolm::cuda {
namespace {

using elt::kVec;
constexpr int kThreads = 256;
constexpr int kMaxChunks = 8;  // chunks of 8 a thread keeps in registers: rows up to 16384 in one read

// The largest v over the block; every thread gets it.
__device__ __forceinline__ float block_max(float v) {
    __shared__ float partial[kThreads / 32];
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
    __syncthreads();
    float m = 0.0f;
#pragma unroll
    for (int w = 0; w < kThreads / 32; ++w) m = fmaxf(m, partial[w]);
    return m;
}

// x / s as e4m3 (the hardware conversion, which the CPU's f32_to_f8e4m3 matches bit for bit).
struct Fp8Codes {
    static constexpr float kMax = 448.0f;
    __device__ static uint8_t one(float v, float s) { return __nv_cvt_float_to_fp8(v / s, __NV_SATFINITE, __NV_E4M3); }
    __device__ static uint32_t four(const float* v, float s) {
        const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(v[0] / s, v[1] / s), __NV_SATFINITE, __NV_E4M3);
        const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(v[2] / s, v[3] / s), __NV_SATFINITE, __NV_E4M3);
        return lo | hi << 16;
    }
};

// rint(x / s) clamped to +-127, as a byte.
struct Int8Codes {
    static constexpr float kMax = 127.0f;
    __device__ static uint8_t one(float v, float s) {
        return uint8_t(int8_t(fminf(fmaxf(rintf(v / s), -127.0f), 127.0f)));
    }
    __device__ static uint32_t four(const float* v, float s) {
        return uint32_t(one(v[0], s)) | uint32_t(one(v[1], s)) << 8 | uint32_t(one(v[2], s)) << 16 |
               uint32_t(one(v[3], s)) << 24;
    }
};

// x[c..c+8) times inv_smooth (when given), as f32.
template <typename T>
__device__ __forceinline__ void load_chunk(const T* x, const float* inv_smooth, int64_t c, float (&v)[kVec]) {
    elt::load8(x + c, v);
    if (inv_smooth) {
        float s[kVec];
        elt::load8(inv_smooth + c, s);
#pragma unroll
        for (int i = 0; i < kVec; ++i) v[i] *= s[i];
    }
}

template <typename T>
__device__ __forceinline__ float load_one(const T* x, const float* inv_smooth, int64_t c) {
    const float v = elt::to_f32(x[c]);
    return inv_smooth ? v * inv_smooth[c] : v;
}

template <typename T, typename Codes, bool kVectorized>
__global__ void __launch_bounds__(kThreads)
    quantize_rows_kernel(const T* __restrict__ x, int64_t ldx, const float* __restrict__ inv_smooth,
                         uint8_t* __restrict__ q, float* __restrict__ scale, int64_t cols, float zero_scale) {
    wait_for_previous_grid_and_release_next();  // launched after the previous kernel (programmatic_launch.cuh)
    const int64_t r = blockIdx.x;
    const T* xr = x + r * ldx;
    uint8_t* qr = q + r * cols;
    float m = 0.0f;
    if constexpr (kVectorized) {
        for (int64_t c = int64_t(threadIdx.x) * kVec; c < cols; c += int64_t(kThreads) * kVec) {
            float v[kVec];
            load_chunk(xr, inv_smooth, c, v);
#pragma unroll
            for (int i = 0; i < kVec; ++i) m = fmaxf(m, fabsf(v[i]));
        }
    } else {
        for (int64_t c = threadIdx.x; c < cols; c += kThreads) m = fmaxf(m, fabsf(load_one(xr, inv_smooth, c)));
    }
    const float s = block_max(m) / Codes::kMax;
    // s == 0 also when the largest magnitude is so small that the division underflows.
    const bool nonzero = s > 0.0f;
    if (threadIdx.x == 0) scale[r] = nonzero ? s : zero_scale;
    if constexpr (kVectorized) {
        for (int64_t c = int64_t(threadIdx.x) * kVec; c < cols; c += int64_t(kThreads) * kVec) {
            uint2 codes = make_uint2(0u, 0u);
            if (nonzero) {
                float v[kVec];
                load_chunk(xr, inv_smooth, c, v);
                codes = make_uint2(Codes::four(v, s), Codes::four(v + 4, s));
            }
            *reinterpret_cast<uint2*>(qr + c) = codes;
        }
    } else {
        for (int64_t c = threadIdx.x; c < cols; c += kThreads)
            qr[c] = nonzero ? Codes::one(load_one(xr, inv_smooth, c), s) : uint8_t(0);
    }
}

// The single-read kernel: a thread's chunks are c = (threadIdx.x + i * kThreads) * 8, i < kChunks.
template <typename T, typename Codes, int kChunks>
__global__ void __launch_bounds__(kThreads)
    quantize_rows_kept_kernel(const T* __restrict__ x, int64_t ldx, const float* __restrict__ inv_smooth,
                              uint8_t* __restrict__ q, float* __restrict__ scale, int64_t cols, float zero_scale) {
    wait_for_previous_grid_and_release_next();  // launched after the previous kernel (programmatic_launch.cuh)
    const int64_t r = blockIdx.x;
    const T* xr = x + r * ldx;
    uint8_t* qr = q + r * cols;
    float v[kChunks][kVec];
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
        const int64_t c = (int64_t(threadIdx.x) + int64_t(i) * kThreads) * kVec;
        if (c < cols) {
            load_chunk(xr, inv_smooth, c, v[i]);
        } else {
#pragma unroll
            for (int e = 0; e < kVec; ++e) v[i][e] = 0.0f;
        }
    }
    float m = 0.0f;
#pragma unroll
    for (int i = 0; i < kChunks; ++i)
#pragma unroll
        for (int e = 0; e < kVec; ++e) m = fmaxf(m, fabsf(v[i][e]));
    const float s = block_max(m) / Codes::kMax;
    const bool nonzero = s > 0.0f;  // also when the largest magnitude is so small that the division underflows
    if (threadIdx.x == 0) scale[r] = nonzero ? s : zero_scale;
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
        const int64_t c = (int64_t(threadIdx.x) + int64_t(i) * kThreads) * kVec;
        if (c < cols)
            *reinterpret_cast<uint2*>(qr + c) =
                nonzero ? make_uint2(Codes::four(v[i], s), Codes::four(v[i] + 4, s)) : make_uint2(0u, 0u);
    }
}

template <typename Codes>
void launch(const void* x, DType dtype, int64_t ldx, const float* inv_smooth, uint8_t* q, float* scale, int64_t rows,
            int64_t cols, float zero_scale, const char* op, cudaStream_t stream) {
    if (rows == 0) return;
    const unsigned grid = elt::grid_rows(rows, op);
    // Chunks of 8 stay 16-byte aligned in x (and inv_smooth) and 8-byte aligned in q.
    const bool vectorized = cols % kVec == 0 && ldx % kVec == 0 && elt::aligned16(x) && elt::aligned16(q) &&
                            (inv_smooth == nullptr || elt::aligned16(inv_smooth));
    elt::dispatch_float(dtype, op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* xs = static_cast<const T*>(x);
        const int64_t chunks = (cols / kVec + kThreads - 1) / kThreads;  // per thread
        if (vectorized && chunks <= 2)
            launch_after_previous(quantize_rows_kept_kernel<T, Codes, 2>, dim3(grid), dim3(kThreads), 0, stream, xs,
                                  ldx, inv_smooth, q, scale, cols, zero_scale);
        else if (vectorized && chunks <= kMaxChunks)
            launch_after_previous(quantize_rows_kept_kernel<T, Codes, kMaxChunks>, dim3(grid), dim3(kThreads), 0,
                                  stream, xs, ldx, inv_smooth, q, scale, cols, zero_scale);
        else if (vectorized)
            launch_after_previous(quantize_rows_kernel<T, Codes, true>, dim3(grid), dim3(kThreads), 0, stream, xs, ldx,
                                  inv_smooth, q, scale, cols, zero_scale);
        else
            launch_after_previous(quantize_rows_kernel<T, Codes, false>, dim3(grid), dim3(kThreads), 0, stream, xs, ldx,
                                  inv_smooth, q, scale, cols, zero_scale);
    });
    check_launch(op);
}

}  // namespace

void launch_quantize_rows_fp8(const void* x, DType dtype, int64_t ldx, uint8_t* q, float* scale, int64_t rows,
                              int64_t cols, float zero_scale, cudaStream_t stream) {
    launch<Fp8Codes>(x, dtype, ldx, nullptr, q, scale, rows, cols, zero_scale, "quantize_rows_fp8", stream);
}

void launch_quantize_rows_int8_smooth(const void* x, DType dtype, int64_t ldx, const float* inv_smooth, int8_t* q,
                                      float* scale, int64_t rows, int64_t cols, cudaStream_t stream) {
    launch<Int8Codes>(x, dtype, ldx, inv_smooth, reinterpret_cast<uint8_t*>(q), scale, rows, cols, 0.0f,
                      "quantize_rows_int8_smooth", stream);
}

}  // namespace turbolm::cuda
