#include <algorithm>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/gemv_int8.h"
#include "ops/cuda/int8_unpack.cuh"
#include "ops/cuda/packed_dot.cuh"
#include "ops/cuda/programmatic_launch.cuh"

namespace turbolm::cuda {
namespace {

constexpr int kWarps = 8;   // output rows per block (one warp each)
constexpr int kPack = 16;   // int8 weights per 16-byte load
constexpr int kUnroll = 4;  // loads per lane in a batch; the next batch is in flight while one is used
constexpr int kWarpSpan = 32 * kPack;

__device__ __forceinline__ float4 int8x4_to_float4(uint32_t v) {
    float f[4];
    unpack4_i8(v, f);
    return make_float4(f[0], f[1], f[2], f[3]);
}

// 16 int8 weights widened once, for every activation row that multiplies them.
struct Widened16 {
    float4 q0, q1, q2, q3;
};

__device__ __forceinline__ Widened16 widen16(const uint4& q) {
    return {int8x4_to_float4(q.x), int8x4_to_float4(q.y), int8x4_to_float4(q.z), int8x4_to_float4(q.w)};
}

// sum of 16 widened weights times 16 activations (two 16-byte packs of T).
template <typename T>
__device__ __forceinline__ float dot16(const Widened16& w, const uint4& xa, const uint4& xb) {
    const float4 &q0 = w.q0, &q1 = w.q1, &q2 = w.q2, &q3 = w.q3;
    const float2 a0 = packed_to_float2<T>(xa.x), a1 = packed_to_float2<T>(xa.y), a2 = packed_to_float2<T>(xa.z),
                 a3 = packed_to_float2<T>(xa.w);
    const float2 b0 = packed_to_float2<T>(xb.x), b1 = packed_to_float2<T>(xb.y), b2 = packed_to_float2<T>(xb.z),
                 b3 = packed_to_float2<T>(xb.w);
    float s = q0.x * a0.x;
    s = fmaf(q0.y, a0.y, s);
    s = fmaf(q0.z, a1.x, s);
    s = fmaf(q0.w, a1.y, s);
    s = fmaf(q1.x, a2.x, s);
    s = fmaf(q1.y, a2.y, s);
    s = fmaf(q1.z, a3.x, s);
    s = fmaf(q1.w, a3.y, s);
    s = fmaf(q2.x, b0.x, s);
    s = fmaf(q2.y, b0.y, s);
    s = fmaf(q2.z, b1.x, s);
    s = fmaf(q2.w, b1.y, s);
    s = fmaf(q3.x, b2.x, s);
    s = fmaf(q3.y, b2.y, s);
    s = fmaf(q3.z, b3.x, s);
    return fmaf(q3.w, b3.y, s);
}

template <typename OutT>
__device__ __forceinline__ float load_out(const OutT* p) {
    return float(*p);
}

// One warp per output row: lane l reads int8 weights [l*16, l*16+16) of every 512-wide span, four
// spans a batch, with the same activations of each of the M rows; the warp sums its lanes and the
// row's scale is applied once at the end. A batch's loads are issued before the previous batch is
// used, so that a lane always has weights on their way (H200, Llama-3-8B shape, INT8 decode, two
// runs: batch 8 771 -> 810 and 781 -> 796 tokens/s, batch 1 unchanged; 8 loads a batch without the
// overlap gained nothing, 2 with it did about as well).
template <typename T, typename OutT, int M>
__global__ void __launch_bounds__(kWarps * 32)
    gemv_int8_kernel(const T* __restrict__ x, int64_t ldx, const int8_t* __restrict__ q, int64_t ldq,
                     const float* __restrict__ scale, OutT* __restrict__ y, int64_t ldy, int64_t n, int64_t k,
                     bool accumulate) {
    wait_for_previous_grid();  // launched after the previous kernel (programmatic_launch.cuh)
    const int lane = threadIdx.x % 32;
    const int64_t row = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
    if (row >= n) return;
    const int8_t* qr = q + row * ldq;
    float acc[M];
#pragma unroll
    for (int m = 0; m < M; ++m) acc[m] = 0.0f;
    int64_t base = int64_t(lane) * kPack;
    uint4 qv[kUnroll], qn[kUnroll];  // the batch in use, the next one
    auto fits = [&](int64_t b) { return b + (kUnroll - 1) * kWarpSpan < k; };
    auto issue = [&](int64_t b) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) qn[u] = __ldcs(reinterpret_cast<const uint4*>(qr + b + u * kWarpSpan));
    };
    if (fits(base)) issue(base);
    for (; fits(base); base += kUnroll * kWarpSpan) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) qv[u] = qn[u];
        if (fits(base + kUnroll * kWarpSpan)) issue(base + kUnroll * kWarpSpan);
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const Widened16 w = widen16(qv[u]);
#pragma unroll
            for (int m = 0; m < M; ++m) {
                const T* xm = x + m * ldx + base + u * kWarpSpan;
                acc[m] += dot16<T>(w, __ldg(reinterpret_cast<const uint4*>(xm)),
                                   __ldg(reinterpret_cast<const uint4*>(xm + 8)));
            }
        }
    }
    for (; base < k; base += kWarpSpan) {
        const Widened16 w = widen16(__ldcs(reinterpret_cast<const uint4*>(qr + base)));
#pragma unroll
        for (int m = 0; m < M; ++m) {
            const T* xm = x + m * ldx + base;
            acc[m] +=
                dot16<T>(w, __ldg(reinterpret_cast<const uint4*>(xm)), __ldg(reinterpret_cast<const uint4*>(xm + 8)));
        }
    }
    grid_dependents_launch();  // the weights are read: the next kernel may be scheduled (it still waits)
    const float s = scale[row];
#pragma unroll
    for (int m = 0; m < M; ++m) {
        float v = acc[m];
        for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
        if (lane == 0) {
            OutT* out = y + m * ldy + row;
            *out = OutT(accumulate ? v * s + load_out(out) : v * s);
        }
    }
}

template <typename T, typename OutT>
void launch_typed(const void* x, int64_t ldx, const int8_t* q, int64_t ldq, const float* scale, void* y, int64_t ldy,
                  int64_t m, int64_t n, int64_t k, bool accumulate, cudaStream_t stream) {
    const dim3 grid(unsigned((n + kWarps - 1) / kWarps)), block(kWarps * 32);
    auto xs = static_cast<const T*>(x);
    auto ys = static_cast<OutT*>(y);
#define TURBOLM_GEMV_INT8_CASE(M)                                                                                    \
    case M:                                                                                                          \
        launch_after_previous(gemv_int8_kernel<T, OutT, M>, grid, block, 0, stream, xs, ldx, q, ldq, scale, ys, ldy, \
                              n, k, accumulate);                                                                     \
        break;
    switch (m) {
        TURBOLM_GEMV_INT8_CASE(1)
        TURBOLM_GEMV_INT8_CASE(2)
        TURBOLM_GEMV_INT8_CASE(3)
        TURBOLM_GEMV_INT8_CASE(4)
        TURBOLM_GEMV_INT8_CASE(5)
        TURBOLM_GEMV_INT8_CASE(6)
        TURBOLM_GEMV_INT8_CASE(7)
        TURBOLM_GEMV_INT8_CASE(8)
        default:
            fail(StatusCode::kInvalidArgument, "gemv_int8: ", m, " rows (at most ", kGemvInt8MaxRows, ")");
    }
#undef TURBOLM_GEMV_INT8_CASE
    TURBOLM_CUDA_CHECK_LAUNCH();
}

// 16 codes a thread: one 16-byte load, two 16-byte stores, no integer-to-float conversions. The
// products of more than kGemvInt8MaxRows rows widen every weight once per call (H200, Llama-3-8B
// shape, against one code a thread: batch 64 2,213 -> 5,449 tokens/s, 2048-token prefill 83.6 ->
// 66.4 ms).
template <typename T>
__global__ void widen16_kernel(const int8_t* __restrict__ q, int64_t ldq, T* __restrict__ w, int64_t ldw, int64_t n,
                               int64_t k) {
    const int64_t per_row = k / kPack, total = n * per_row;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / per_row, c = (i % per_row) * kPack;
        const uint4 v = __ldcs(reinterpret_cast<const uint4*>(q + r * ldq + c));
        float f[kPack];
        unpack4_i8(v.x, f);
        unpack4_i8(v.y, f + 4);
        unpack4_i8(v.z, f + 8);
        unpack4_i8(v.w, f + 12);
        alignas(16) T out[kPack];
#pragma unroll
        for (int e = 0; e < kPack; ++e) out[e] = T(f[e]);  // exact: |code| <= 128
        uint4* dst = reinterpret_cast<uint4*>(w + r * ldw + c);
        dst[0] = *reinterpret_cast<const uint4*>(out);
        dst[1] = *reinterpret_cast<const uint4*>(out + 8);
    }
}

template <typename T>
__global__ void widen_kernel(const int8_t* __restrict__ q, int64_t ldq, T* __restrict__ w, int64_t ldw, int64_t n,
                             int64_t k) {
    const int64_t total = n * k;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / k, c = i % k;
        w[r * ldw + c] = T(float(q[r * ldq + c]));
    }
}

template <typename OutT>
__global__ void scale_columns_kernel(const float* __restrict__ p, int64_t ldp, const float* __restrict__ scale,
                                     const float* __restrict__ bias, OutT* __restrict__ y, int64_t ldy, int64_t m,
                                     int64_t n, bool accumulate) {
    // Rows over grid y, columns over grid x: no index division per element.
    for (int64_t t = blockIdx.y; t < m; t += gridDim.y) {
        for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < n; c += int64_t(gridDim.x) * blockDim.x) {
            float v = p[t * ldp + c] * scale[c] + (bias ? bias[c] : 0.0f);
            OutT* out = y + t * ldy + c;
            *out = OutT(accumulate ? v + load_out(out) : v);
        }
    }
}

unsigned grid_for(int64_t total, int threads) {
    return unsigned(std::min<int64_t>((total + threads - 1) / threads, 65535 * 8));
}

template <typename T>
__device__ __forceinline__ float to_float(T v) {
    return float(v);
}

template <typename T>
__global__ void quantize_rows_kernel(const T* __restrict__ w, int64_t ldw, int8_t* __restrict__ q,
                                     float* __restrict__ scale, int64_t cols) {
    __shared__ float warp_max[32];
    const int64_t r = blockIdx.x;
    const T* wr = w + r * ldw;
    float m = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, fabsf(to_float(wr[c])));
    for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
    if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = m;
    __syncthreads();
    if (threadIdx.x < 32) {
        m = threadIdx.x < blockDim.x / 32 ? warp_max[threadIdx.x] : 0.0f;
        for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
        if (threadIdx.x == 0) warp_max[0] = m;
    }
    __syncthreads();
    const float absmax = warp_max[0];
    const float inv = absmax > 0.0f ? 127.0f / absmax : 0.0f;
    if (threadIdx.x == 0) scale[r] = absmax / 127.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
        const float v = fminf(fmaxf(rintf(to_float(wr[c]) * inv), -127.0f), 127.0f);
        q[r * cols + c] = int8_t(v);
    }
}

bool aligned16(const void* p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

}  // namespace

bool gemv_int8_supported(const void* x, int64_t ldx, const void* q, int64_t ldq, int64_t m, int64_t k) {
    return m >= 1 && m <= kGemvInt8MaxRows && k % kPack == 0 && ldx % 8 == 0 && ldq % kPack == 0 && aligned16(x) &&
           aligned16(q);
}

void launch_gemv_int8(const void* x, int64_t ldx, const int8_t* q, int64_t ldq, const float* scale, DType in_dtype,
                      void* y, int64_t ldy, DType out_dtype, int64_t m, int64_t n, int64_t k, bool accumulate,
                      cudaStream_t stream) {
    if (n == 0) return;
    TURBOLM_REQUIRE(gemv_int8_supported(x, ldx, q, ldq, m, k), "gemv_int8: unsupported shape or alignment");
    if (in_dtype == DType::kBF16) {
        if (out_dtype == DType::kF32)
            return launch_typed<__nv_bfloat16, float>(x, ldx, q, ldq, scale, y, ldy, m, n, k, accumulate, stream);
        if (out_dtype == DType::kBF16)
            return launch_typed<__nv_bfloat16, __nv_bfloat16>(x, ldx, q, ldq, scale, y, ldy, m, n, k, accumulate,
                                                              stream);
    } else if (in_dtype == DType::kF16) {
        if (out_dtype == DType::kF32)
            return launch_typed<__half, float>(x, ldx, q, ldq, scale, y, ldy, m, n, k, accumulate, stream);
        if (out_dtype == DType::kF16)
            return launch_typed<__half, __half>(x, ldx, q, ldq, scale, y, ldy, m, n, k, accumulate, stream);
    }
    fail(StatusCode::kInvalidArgument, "gemv_int8: ", dtype_name(in_dtype), " -> ", dtype_name(out_dtype));
}

void launch_widen_int8(const int8_t* q, int64_t ldq, void* w, int64_t ldw, DType out_dtype, int64_t n, int64_t k,
                       cudaStream_t stream) {
    if (n == 0 || k == 0) return;
    const bool wide = k % kPack == 0 && ldq % kPack == 0 && ldw % 8 == 0 && aligned16(q) && aligned16(w);
    const unsigned blocks = grid_for(wide ? n * (k / kPack) : n * k, 256);
    auto run = [&](auto* out) {
        if (wide)
            widen16_kernel<<<blocks, 256, 0, stream>>>(q, ldq, out, ldw, n, k);
        else
            widen_kernel<<<blocks, 256, 0, stream>>>(q, ldq, out, ldw, n, k);
    };
    if (out_dtype == DType::kBF16) {
        run(static_cast<__nv_bfloat16*>(w));
    } else if (out_dtype == DType::kF16) {
        run(static_cast<__half*>(w));
    } else {
        fail(StatusCode::kInvalidArgument, "widen_int8 to ", dtype_name(out_dtype));
    }
    TURBOLM_CUDA_CHECK_LAUNCH();
}

void launch_scale_columns(const float* p, int64_t ldp, const float* scale, const float* bias, void* y, int64_t ldy,
                          DType out_dtype, int64_t m, int64_t n, bool accumulate, cudaStream_t stream) {
    if (m == 0 || n == 0) return;
    const dim3 blocks(unsigned(std::min<int64_t>((n + 255) / 256, 64)), unsigned(std::min<int64_t>(m, 65535)));
    switch (out_dtype) {
        case DType::kF32:
            scale_columns_kernel<<<blocks, 256, 0, stream>>>(p, ldp, scale, bias, static_cast<float*>(y), ldy, m, n,
                                                             accumulate);
            break;
        case DType::kBF16:
            scale_columns_kernel<<<blocks, 256, 0, stream>>>(p, ldp, scale, bias, static_cast<__nv_bfloat16*>(y), ldy,
                                                             m, n, accumulate);
            break;
        case DType::kF16:
            scale_columns_kernel<<<blocks, 256, 0, stream>>>(p, ldp, scale, bias, static_cast<__half*>(y), ldy, m, n,
                                                             accumulate);
            break;
        default:
            fail(StatusCode::kInvalidArgument, "scale_columns to ", dtype_name(out_dtype));
    }
    TURBOLM_CUDA_CHECK_LAUNCH();
}

void launch_quantize_rows_int8(const void* w, DType dtype, int64_t ldw, int8_t* q, float* scale, int64_t rows,
                               int64_t cols, cudaStream_t stream) {
    if (rows == 0) return;
    const dim3 grid{unsigned(rows)}, block{256};
    switch (dtype) {
        case DType::kF32:
            quantize_rows_kernel<<<grid, block, 0, stream>>>(static_cast<const float*>(w), ldw, q, scale, cols);
            break;
        case DType::kBF16:
            quantize_rows_kernel<<<grid, block, 0, stream>>>(static_cast<const __nv_bfloat16*>(w), ldw, q, scale, cols);
            break;
        case DType::kF16:
            quantize_rows_kernel<<<grid, block, 0, stream>>>(static_cast<const __half*>(w), ldw, q, scale, cols);
            break;
        default:
            fail(StatusCode::kInvalidArgument, "quantize_rows_int8 of ", dtype_name(dtype));
    }
    TURBOLM_CUDA_CHECK_LAUNCH();
}

}  // namespace turbolm::cuda
