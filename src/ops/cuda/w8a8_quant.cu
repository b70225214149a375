// Per-row 8-bit quantization, one block per row. Rows of up to 16384 elements (every activation
// width of the models) are read once: each thread loads its 8-element chunks (one 16-byte load each
// for 16-bit input, all issued before any is used) into registers, the block finds the largest
// magnitude, and the codes are written from the registers, one 8-byte store per chunk. Longer rows
// (weights at load) read the row a second time instead of keeping it. Rows not
// 16-byte aligned or not a multiple of 8 long take the scalar loop.
#include "ops/cuda/w8a8_quant.h"

#include <cuda_fp8.h>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/elementwise/activation_functions.cuh"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/programmatic_launch.cuh"

namespace turbolm::cuda {
namespace {

using elt::kVec;
constexpr int kThreads = 256;

// The largest v over a block of kBlock threads; every thread gets it.
template <int kBlock>
__device__ __forceinline__ float block_max(float v) {
    __shared__ float partial[kBlock / 32];
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
    __syncthreads();
    float m = 0.0f;
#pragma unroll
    for (int w = 0; w < kBlock / 32; ++w) m = fmaxf(m, partial[w]);
    return m;
}

// A row's scale s (its largest magnitude over the codes' largest) and the factor f that its codes
// are made with.
struct RowScale {
    float s, f;
    bool nonzero;  // false for a zero row, and for one so small that s or f leave the f32 range
};

// x * (1 / s) as e4m3 (the hardware conversion, which the CPU's f32_to_f8e4m3 matches bit for bit):
// one reciprocal a row instead of an f32 division an element, as cpu_w8a8.cpp defines it.
struct Fp8Codes {
    static constexpr float kMax = 448.0f;
    __device__ static RowScale row(float absmax) {
        const float s = absmax / kMax, f = 1.0f / s;
        return {s, f, s > 0.0f && f < INFINITY};
    }
    __device__ static uint8_t one(float v, float f) { return __nv_cvt_float_to_fp8(v * f, __NV_SATFINITE, __NV_E4M3); }
    __device__ static uint32_t four(const float* v, float f) {
        const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(v[0] * f, v[1] * f), __NV_SATFINITE, __NV_E4M3);
        const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(v[2] * f, v[3] * f), __NV_SATFINITE, __NV_E4M3);
        return lo | hi << 16;
    }
};

// rint(x / s) clamped to +-127, as a byte (the factor is s itself: SmoothQuant's codes divide).
struct Int8Codes {
    static constexpr float kMax = 127.0f;
    __device__ static RowScale row(float absmax) {
        const float s = absmax / kMax;
        return {s, s, s > 0.0f};
    }
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
    const RowScale rs = Codes::row(block_max<kThreads>(m));
    const bool nonzero = rs.nonzero;
    if (threadIdx.x == 0) scale[r] = nonzero ? rs.s : zero_scale;
    if constexpr (kVectorized) {
        for (int64_t c = int64_t(threadIdx.x) * kVec; c < cols; c += int64_t(kThreads) * kVec) {
            uint2 codes = make_uint2(0u, 0u);
            if (nonzero) {
                float v[kVec];
                load_chunk(xr, inv_smooth, c, v);
                codes = make_uint2(Codes::four(v, rs.f), Codes::four(v + 4, rs.f));
            }
            *reinterpret_cast<uint2*>(qr + c) = codes;
        }
    } else {
        for (int64_t c = threadIdx.x; c < cols; c += kThreads)
            qr[c] = nonzero ? Codes::one(load_one(xr, inv_smooth, c), rs.f) : uint8_t(0);
    }
}

// Where the single-read kernel's rows come from. chunk(r, c, v) gives elements [c, c + 8) of row r
// as f32; finish(cols, v) then turns a thread's chunks (zeros past cols) into the values to quantize,
// and may use block-wide reductions (every thread calls it). The values are exactly those the unfused
// op would have stored (rounded to its 16-bit type), so the codes do not depend on the fusion.

// Rows already in memory, times inv_smooth when given.
template <typename T>
struct StoredRows {
    const T* x;
    int64_t ldx;
    const float* inv_smooth;
    __device__ void chunk(int64_t r, int64_t c, float (&v)[kVec]) const { load_chunk(x + r * ldx, inv_smooth, c, v); }
    template <int kBlock, int kChunks>
    __device__ void finish(int64_t, float (&)[kChunks][kVec]) const {}
};

template <typename Y>
__device__ __forceinline__ float rounded(float v) {
    return elt::to_f32(elt::from_f32<Y>(v));
}

// rms_norm(x) * w as norms.cu computes it (the same sums in the same order), rounded to Y.
template <typename Y>
struct RmsNormedRows {
    const float* x;
    int64_t ldx;
    const float* w;  // [cols] or null
    float eps;
    __device__ void chunk(int64_t r, int64_t c, float (&v)[kVec]) const { elt::load8(x + r * ldx + c, v); }
    template <int kBlock, int kChunks>
    __device__ void finish(int64_t cols, float (&v)[kChunks][kVec]) const {
        // The weights first, so that their loads overlap the block's sum.
        float g[kChunks][kVec];
#pragma unroll
        for (int i = 0; i < kChunks; ++i) {
            const int64_t c = (int64_t(threadIdx.x) + int64_t(i) * kBlock) * kVec;
            if (w && c < cols) {
                elt::load8(w + c, g[i]);
            } else {
#pragma unroll
                for (int e = 0; e < kVec; ++e) g[i][e] = 1.0f;
            }
        }
        float sum = 0.0f;
#pragma unroll
        for (int i = 0; i < kChunks; ++i)
#pragma unroll
            for (int e = 0; e < kVec; ++e) sum += v[i][e] * v[i][e];
        const float inv = 1.0f / sqrtf(elt::block_sum<kBlock>(sum) / float(cols) + eps);
#pragma unroll
        for (int i = 0; i < kChunks; ++i)
#pragma unroll
            for (int e = 0; e < kVec; ++e) v[i][e] = rounded<Y>(g[i][e] * (v[i][e] * inv));
    }
};

// The single-read kernel: a thread's chunks are c = (threadIdx.x + i * kBlock) * 8, i < kChunks.
template <typename Source, typename Codes, int kBlock, int kChunks>
__global__ void __launch_bounds__(kBlock)
    quantize_rows_kept_kernel(Source src, uint8_t* __restrict__ q, float* __restrict__ scale, int64_t cols,
                              float zero_scale) {
    wait_for_previous_grid_and_release_next();  // launched after the previous kernel (programmatic_launch.cuh)
    const int64_t r = blockIdx.x;
    uint8_t* qr = q + r * cols;
    float v[kChunks][kVec];
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
        const int64_t c = (int64_t(threadIdx.x) + int64_t(i) * kBlock) * kVec;
        if (c < cols) {
            src.chunk(r, c, v[i]);
        } else {
#pragma unroll
            for (int e = 0; e < kVec; ++e) v[i][e] = 0.0f;
        }
    }
    src.template finish<kBlock>(cols, v);
    float m = 0.0f;
#pragma unroll
    for (int i = 0; i < kChunks; ++i)
#pragma unroll
        for (int e = 0; e < kVec; ++e) m = fmaxf(m, fabsf(v[i][e]));
    const RowScale rs = Codes::row(block_max<kBlock>(m));
    const bool nonzero = rs.nonzero;
    if (threadIdx.x == 0) scale[r] = nonzero ? rs.s : zero_scale;
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
        const int64_t c = (int64_t(threadIdx.x) + int64_t(i) * kBlock) * kVec;
        if (c < cols)
            *reinterpret_cast<uint2*>(qr + c) =
                nonzero ? make_uint2(Codes::four(v[i], rs.f), Codes::four(v[i] + 4, rs.f)) : make_uint2(0u, 0u);
    }
}

// act(gate) * up as activation.cu computes it, rounded to T, quantized per row (rows of up to
// kBlock * 8 * kChunks). Each thread issues all its loads before using any and keeps its results
// packed in T (they are rounded to T anyway), few enough registers for two blocks an SM, so that one
// block's loads overlap the other's reduction. (H200, 1024 x 14336: 42.5 us, against 45.0 with 1024
// threads of two chunks held to 32 registers; the accurate activation functions and the f32
// divisions keep it as bound by instructions as by memory, about act_mul plus the quantization.)
template <typename T, typename Act, int kBlock, int kChunks>
__global__ void __launch_bounds__(kBlock)
    act_mul_fp8_kernel(const T* __restrict__ gate, int64_t ldg, const T* __restrict__ up, int64_t ldu,
                       uint8_t* __restrict__ q, float* __restrict__ scale, int64_t cols) {
    wait_for_previous_grid_and_release_next();  // launched after the previous kernel (programmatic_launch.cuh)
    const int64_t r = blockIdx.x;
    uint4 g[kChunks], u[kChunks];  // 8 elements of T each; g then holds the results
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
        const int64_t c = (int64_t(threadIdx.x) + int64_t(i) * kBlock) * kVec;
        const bool in = c < cols;
        g[i] = in ? *reinterpret_cast<const uint4*>(gate + r * ldg + c) : make_uint4(0, 0, 0, 0);
        u[i] = in ? *reinterpret_cast<const uint4*>(up + r * ldu + c) : make_uint4(0, 0, 0, 0);
    }
    float m = 0.0f;
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
        float gv[kVec], uv[kVec];
        elt::load8(reinterpret_cast<const T*>(&g[i]), gv);
        elt::load8(reinterpret_cast<const T*>(&u[i]), uv);
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
            gv[e] = rounded<T>(Act::apply(gv[e]) * uv[e]);  // act(0) * 0 = 0 past cols
            m = fmaxf(m, fabsf(gv[e]));
        }
        elt::store8(reinterpret_cast<T*>(&g[i]), gv);  // exact: already rounded
    }
    const RowScale rs = Fp8Codes::row(block_max<kBlock>(m));
    const bool nonzero = rs.nonzero;
    if (threadIdx.x == 0) scale[r] = nonzero ? rs.s : 0.0f;
    uint8_t* qr = q + r * cols;
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
        const int64_t c = (int64_t(threadIdx.x) + int64_t(i) * kBlock) * kVec;
        if (c >= cols) continue;
        float v[kVec];
        elt::load8(reinterpret_cast<const T*>(&g[i]), v);
        *reinterpret_cast<uint2*>(qr + c) =
            nonzero ? make_uint2(Fp8Codes::four(v, rs.f), Fp8Codes::four(v + 4, rs.f)) : make_uint2(0u, 0u);
    }
}

// One warp per (token, group of 128 columns): four values a lane, lane + 32 i, so that each of the
// four loads and stores is coalesced across the warp. Grid: x over the padded tokens' warps, y over groups.
template <typename T>
__global__ void __launch_bounds__(256)
    quantize_groups_fp8_kernel(const T* __restrict__ x, int64_t ldx, uint8_t* __restrict__ q, float* __restrict__ scale,
                               int64_t rows, int64_t rows_padded, int64_t cols) {
    constexpr int kGroup = 128;
    const int64_t t = int64_t(blockIdx.x) * 8 + threadIdx.x / 32;
    const int64_t g = blockIdx.y;
    const int lane = threadIdx.x % 32;
    if (t >= rows_padded) return;
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    float m = 0.0f;
    if (t < rows) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            v[i] = elt::to_f32(x[t * ldx + g * kGroup + lane + 32 * i]);
            m = fmaxf(m, fabsf(v[i]));
        }
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, offset));
    const RowScale rs = Fp8Codes::row(m);
    if (lane == 0) scale[g * rows_padded + t] = rs.nonzero ? rs.s : 0.0f;
    uint8_t* qt = q + t * cols + g * kGroup;
#pragma unroll
    for (int i = 0; i < 4; ++i) qt[lane + 32 * i] = rs.nonzero ? Fp8Codes::one(v[i], rs.f) : uint8_t(0);
}

// One 256-thread block per 128 x 128 tile (weights at load): each thread takes half a row, 64
// values, reads them twice (largest magnitude, then codes).
template <typename T>
__global__ void __launch_bounds__(256)
    quantize_blocks_fp8_kernel(const T* __restrict__ w, int64_t ldw, uint8_t* __restrict__ q, float* __restrict__ scale,
                               int64_t cols) {
    constexpr int kTile = 128;
    const int64_t r = int64_t(blockIdx.y) * kTile + threadIdx.x / 2;
    const int64_t c0 = int64_t(blockIdx.x) * kTile + (threadIdx.x % 2) * 64;
    const T* wr = w + r * ldw + c0;
    float m = 0.0f;
    for (int i = 0; i < 64; ++i) m = fmaxf(m, fabsf(elt::to_f32(wr[i])));
    const RowScale rs = Fp8Codes::row(block_max<256>(m));
    if (threadIdx.x == 0) scale[int64_t(blockIdx.y) * gridDim.x + blockIdx.x] = rs.nonzero ? rs.s : 1.0f;
    uint8_t* qr = q + r * cols + c0;
    for (int i = 0; i < 64; ++i) qr[i] = rs.nonzero ? Fp8Codes::one(elt::to_f32(wr[i]), rs.f) : uint8_t(0);
}

// Launches the single-read kernel (256 threads, whose chunks and sums are those of norms.cu's
// kernel) with the fewest chunks a thread that cover the row: rows up to 16384; false past that.
template <typename Codes, typename Source>
bool launch_kept(const Source& src, uint8_t* q, float* scale, int64_t rows, int64_t cols, float zero_scale,
                 const char* op, cudaStream_t stream) {
    const int64_t chunks = (cols / kVec + kThreads - 1) / kThreads;  // per thread
    const dim3 grid(elt::grid_rows(rows, op));
    if (chunks <= 2)
        launch_after_previous(quantize_rows_kept_kernel<Source, Codes, kThreads, 2>, grid, dim3(kThreads), 0, stream,
                              src, q, scale, cols, zero_scale);
    else if (chunks <= 4)
        launch_after_previous(quantize_rows_kept_kernel<Source, Codes, kThreads, 4>, grid, dim3(kThreads), 0, stream,
                              src, q, scale, cols, zero_scale);
    else if (chunks <= 8)
        launch_after_previous(quantize_rows_kept_kernel<Source, Codes, kThreads, 8>, grid, dim3(kThreads), 0, stream,
                              src, q, scale, cols, zero_scale);
    else
        return false;
    check_launch(op);
    return true;
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
        if (vectorized && launch_kept<Codes>(StoredRows<T>{xs, ldx, inv_smooth}, q, scale, rows, cols, zero_scale, op,
                                             stream))
            return;
        if (vectorized)
            launch_after_previous(quantize_rows_kernel<T, Codes, true>, dim3(grid), dim3(kThreads), 0, stream, xs, ldx,
                                  inv_smooth, q, scale, cols, zero_scale);
        else
            launch_after_previous(quantize_rows_kernel<T, Codes, false>, dim3(grid), dim3(kThreads), 0, stream, xs, ldx,
                                  inv_smooth, q, scale, cols, zero_scale);
        check_launch(op);
    });
}

}  // namespace

void launch_quantize_rows_fp8(const void* x, DType dtype, int64_t ldx, uint8_t* q, float* scale, int64_t rows,
                              int64_t cols, float zero_scale, cudaStream_t stream) {
    launch<Fp8Codes>(x, dtype, ldx, nullptr, q, scale, rows, cols, zero_scale, "quantize_rows_fp8", stream);
}

void launch_quantize_groups_fp8(const void* x, DType dtype, int64_t ldx, uint8_t* q, float* scale, int64_t rows,
                                int64_t rows_padded, int64_t cols, cudaStream_t stream) {
    if (rows_padded == 0 || cols == 0) return;
    TURBOLM_CHECK(cols % 128 == 0 && rows <= rows_padded && cols / 128 <= 65535, "quantize_groups_fp8: ", rows, " (",
                  rows_padded, ") rows of ", cols);
    const dim3 grid(unsigned((rows_padded + 7) / 8), unsigned(cols / 128));
    elt::dispatch_float(dtype, "quantize_groups_fp8", [&](auto tag) {
        using T = typename decltype(tag)::type;
        quantize_groups_fp8_kernel<<<grid, 256, 0, stream>>>(static_cast<const T*>(x), ldx, q, scale, rows,
                                                             rows_padded, cols);
    });
    check_launch("quantize_groups_fp8");
}

void launch_quantize_blocks_fp8(const void* w, DType dtype, int64_t ldw, uint8_t* q, float* scale, int64_t rows,
                                int64_t cols, cudaStream_t stream) {
    if (rows == 0 || cols == 0) return;
    TURBOLM_CHECK(rows % 128 == 0 && cols % 128 == 0 && rows / 128 <= 65535, "quantize_blocks_fp8: ", rows, " x ",
                  cols);
    const dim3 grid(unsigned(cols / 128), unsigned(rows / 128));
    elt::dispatch_float(dtype, "quantize_blocks_fp8", [&](auto tag) {
        using T = typename decltype(tag)::type;
        quantize_blocks_fp8_kernel<<<grid, 256, 0, stream>>>(static_cast<const T*>(w), ldw, q, scale, cols);
    });
    check_launch("quantize_blocks_fp8");
}

void launch_quantize_rows_int8_smooth(const void* x, DType dtype, int64_t ldx, const float* inv_smooth, int8_t* q,
                                      float* scale, int64_t rows, int64_t cols, cudaStream_t stream) {
    launch<Int8Codes>(x, dtype, ldx, inv_smooth, reinterpret_cast<uint8_t*>(q), scale, rows, cols, 0.0f,
                      "quantize_rows_int8_smooth", stream);
}

// The fused producers take single-read kernels only: rows of 8-element chunks, 16-byte aligned, at
// most 16384 long (the callers fall back to the op and then the quantization).
bool launch_rms_norm_fp8(const float* x, int64_t ldx, const float* w, float eps, DType dtype, uint8_t* q,
                         float* scale, int64_t rows, int64_t cols, cudaStream_t stream) {
    const char* op = "rms_norm_fp8";
    if (rows == 0 || cols == 0) return true;
    if (cols % kVec != 0 || ldx % 4 != 0 || !elt::aligned16(x) || (w && !elt::aligned16(w)) || !elt::aligned16(q))
        return false;
    bool queued = false;
    elt::dispatch_16bit(dtype, op, [&](auto tag) {
        using Y = typename decltype(tag)::type;
        queued = launch_kept<Fp8Codes>(RmsNormedRows<Y>{x, ldx, w, eps}, q, scale, rows, cols, 0.0f, op, stream);
    });
    return queued;
}

bool launch_act_mul_fp8(cpu::Activation act, const void* gate, int64_t ldg, const void* up, int64_t ldu, DType dtype,
                        uint8_t* q, float* scale, int64_t rows, int64_t cols, cudaStream_t stream) {
    const char* op = "act_mul_fp8";
    if (rows == 0 || cols == 0) return true;
    constexpr int kBlock = 512, kChunks = 4;
    if (cols % kVec != 0 || cols > int64_t(kBlock) * kVec * kChunks || ldg % kVec != 0 || ldu % kVec != 0 ||
        !elt::aligned16(gate) || !elt::aligned16(up) || !elt::aligned16(q))
        return false;
    const dim3 grid(elt::grid_rows(rows, op));
    elt::dispatch_16bit(dtype, op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        elt::dispatch_act(act, op, [&](auto fn) {
            launch_after_previous(act_mul_fp8_kernel<T, decltype(fn), kBlock, kChunks>, grid, dim3(kBlock), 0, stream,
                                  static_cast<const T*>(gate), ldg, static_cast<const T*>(up), ldu, q, scale, cols);
        });
    });
    check_launch(op);
    return true;
}

}  // namespace turbolm::cuda
