// Dot products of 16-byte packs of 16-bit floats (8 elements), in f32: the inner step of the
// weight-streaming products (gemv.cu, moe/moe_gemv.cu).
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace turbolm::cuda {

template <typename T>
__device__ __forceinline__ float2 packed_to_float2(uint32_t bits);
template <>
__device__ __forceinline__ float2 packed_to_float2<__nv_bfloat16>(uint32_t bits) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&bits));
}
template <>
__device__ __forceinline__ float2 packed_to_float2<__half>(uint32_t bits) {
    return __half22float2(*reinterpret_cast<const __half2*>(&bits));
}

// sum_i a[i] * b[i] over the 8 elements of two packs of T.
template <typename T>
__device__ __forceinline__ float dot8(const uint4& a, const uint4& b) {
    const float2 a0 = packed_to_float2<T>(a.x), a1 = packed_to_float2<T>(a.y), a2 = packed_to_float2<T>(a.z),
                 a3 = packed_to_float2<T>(a.w);
    const float2 b0 = packed_to_float2<T>(b.x), b1 = packed_to_float2<T>(b.y), b2 = packed_to_float2<T>(b.z),
                 b3 = packed_to_float2<T>(b.w);
    float s = a0.x * b0.x;
    s = fmaf(a0.y, b0.y, s);
    s = fmaf(a1.x, b1.x, s);
    s = fmaf(a1.y, b1.y, s);
    s = fmaf(a2.x, b2.x, s);
    s = fmaf(a2.y, b2.y, s);
    s = fmaf(a3.x, b3.x, s);
    return fmaf(a3.y, b3.y, s);
}

}  // namespace turbolm::cuda
