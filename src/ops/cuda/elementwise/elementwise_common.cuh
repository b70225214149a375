// Pieces shared by the elementwise kernels: f32 <-> element conversions, 8-element vector loads and
// stores, warp/block sums, and the host-side dtype dispatch and argument checks.
//
// Vector path: kernels work on chunks of kVec = 8 consecutive elements. A chunk is one 16-byte access
// for 16-bit data and two for f32, so it is vectorized for both as long as the chunk starts on a
// 16-byte boundary. Kernels take that path only when every pointer involved is 16-byte aligned and
// the row length is a multiple of 8; otherwise they fall back to scalar accesses.
#pragma once

#include <cstdint>
#include <limits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "core/dtype.h"
#include "core/error.h"

namespace turbolm::cuda::elt {

constexpr int kVec = 8;

// ---- scalar conversions ------------------------------------------------------------------------

__device__ __forceinline__ float to_f32(float v) {
    return v;
}
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) {
    return __bfloat162float(v);
}
__device__ __forceinline__ float to_f32(__half v) {
    return __half2float(v);
}

template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
    return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) {
    return __float2half_rn(v);
}

// ---- 8-element vector loads and stores (p must be 16-byte aligned) ---------------------------------

__device__ __forceinline__ void load8(const float* p, float (&v)[kVec]) {
    const float4 a = reinterpret_cast<const float4*>(p)[0];
    const float4 b = reinterpret_cast<const float4*>(p)[1];
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
    v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
__device__ __forceinline__ void load8(const __nv_bfloat16* p, float (&v)[kVec]) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);  // 8 bf16 = 16 bytes
    const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < kVec / 2; ++k) {
        const float2 f = __bfloat1622float2(pairs[k]);
        v[2 * k] = f.x, v[2 * k + 1] = f.y;
    }
}
__device__ __forceinline__ void load8(const __half* p, float (&v)[kVec]) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);  // 8 f16 = 16 bytes
    const __half2* pairs = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
    for (int k = 0; k < kVec / 2; ++k) {
        const float2 f = __half22float2(pairs[k]);
        v[2 * k] = f.x, v[2 * k + 1] = f.y;
    }
}

__device__ __forceinline__ void store8(float* p, const float (&v)[kVec]) {
    reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void store8(__nv_bfloat16* p, const float (&v)[kVec]) {
    uint4 raw;
    __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < kVec / 2; ++k) pairs[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
    *reinterpret_cast<uint4*>(p) = raw;
}
__device__ __forceinline__ void store8(__half* p, const float (&v)[kVec]) {
    uint4 raw;
    __half2* pairs = reinterpret_cast<__half2*>(&raw);
#pragma unroll
    for (int k = 0; k < kVec / 2; ++k) pairs[k] = __floats2half2_rn(v[2 * k], v[2 * k + 1]);
    *reinterpret_cast<uint4*>(p) = raw;
}

__host__ __device__ __forceinline__ bool aligned16(const void* p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// ---- reductions --------------------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// Sum of v over the block; every thread gets the result. kThreads must equal blockDim.x (a multiple of
// 32). Safe to call several times in a row: the second __syncthreads keeps the next call's writes to
// `partial` from racing with this call's reads.
template <int kThreads>
__device__ __forceinline__ float block_sum(float v) {
    static_assert(kThreads % 32 == 0 && kThreads <= 1024, "block_sum needs whole warps");
    __shared__ float partial[kThreads / 32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = warp_sum(v);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < kThreads / 32; ++w) total += partial[w];  // every thread sums the same values in the same order
    __syncthreads();
    return total;
}

// ---- host side ---------------------------------------------------------------------------------

template <typename T>
struct TypeTag {
    using type = T;
};

// Calls fn(TypeTag<T>{}) with T = __nv_bfloat16 or __half.
template <typename Fn>
void dispatch_16bit(DType dtype, const char* op, Fn&& fn) {
    switch (dtype) {
        case DType::kBF16:
            fn(TypeTag<__nv_bfloat16>{});
            return;
        case DType::kF16:
            fn(TypeTag<__half>{});
            return;
        default:
            fail(StatusCode::kInvalidArgument, op, ": dtype ", dtype_name(dtype), " is not supported (bf16 or f16)");
    }
}

// Calls fn(TypeTag<T>{}) with T = float, __nv_bfloat16 or __half.
template <typename Fn>
void dispatch_float(DType dtype, const char* op, Fn&& fn) {
    switch (dtype) {
        case DType::kF32:
            fn(TypeTag<float>{});
            return;
        case DType::kBF16:
            fn(TypeTag<__nv_bfloat16>{});
            return;
        case DType::kF16:
            fn(TypeTag<__half>{});
            return;
        default:
            fail(StatusCode::kInvalidArgument, op, ": dtype ", dtype_name(dtype),
                 " is not supported (f32, bf16 or f16)");
    }
}

inline void check_arg(bool ok, const char* op, const char* what) {
    if (!ok) fail(StatusCode::kInvalidArgument, op, ": ", what);
}

// Kernels that give each row (or token) one block use gridDim.x, which holds at most 2^31 - 1.
inline unsigned grid_rows(int64_t rows, const char* op) {
    check_arg(rows >= 0 && rows <= std::numeric_limits<int32_t>::max(), op, "row count out of range");
    return unsigned(rows);
}

// Row kernels of the 2-D shape (column blocks in x, rows in y) loop over rows with stride gridDim.y,
// so any row count fits in the 65535 blocks that y allows.
inline unsigned grid_y_rows(int64_t rows) {
    return unsigned(rows < 65535 ? rows : 65535);
}

// Flat kernels loop over chunks with a grid stride; this many blocks keep the GPU busy.
inline unsigned grid_flat(int64_t chunks, int threads) {
    const int64_t blocks = (chunks + threads - 1) / threads;
    return unsigned(blocks < (int64_t(1) << 20) ? blocks : (int64_t(1) << 20));
}

}  // namespace turbolm::cuda::elt
