// Device helpers shared by the attention kernels: 16-bit element conversions, reading 8-bit KV
// codes, the exponential used by the online softmax, and the paged-cache slot lookup.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "ops/cuda/int8_unpack.cuh"

namespace turbolm::cuda::attn {

// Conversions for one 16-bit storage type. Pairs travel as uint32_t with the lower-index element in
// the low half, which is also how mma.sync expects its 16-bit operands packed.
template <typename T>
struct Elem;

template <>
struct Elem<__nv_bfloat16> {
    static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
    static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
    // bf16 is the top half of an f32, so widening is a shift or a mask.
    static __device__ __forceinline__ float2 unpack(uint32_t x) {
        return make_float2(__uint_as_float(x << 16), __uint_as_float(x & 0xffff0000u));
    }
    static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
        __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<uint32_t*>(&h);
    }
};

template <>
struct Elem<__half> {
    static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
    static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
    static __device__ __forceinline__ float2 unpack(uint32_t x) {
        return __half22float2(*reinterpret_cast<__half2*>(&x));
    }
    static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
        __half2 h = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<uint32_t*>(&h);
    }
};

// Eight consecutive elements (one 16-byte load) widened to f32.
template <typename T>
__device__ __forceinline__ void unpack8(const uint4& raw, float (&f)[8]) {
    const float2 a = Elem<T>::unpack(raw.x), b = Elem<T>::unpack(raw.y);
    const float2 c = Elem<T>::unpack(raw.z), d = Elem<T>::unpack(raw.w);
    f[0] = a.x, f[1] = a.y, f[2] = b.x, f[3] = b.y, f[4] = c.x, f[5] = c.y, f[6] = d.x, f[7] = d.y;
}

// How the kernels read the KV pools. KV is the pool's element type: the 16-bit compute type itself,
// or 8-bit codes (int8_t, __nv_fp8_e4m3) that stand for code * scale with one scale per (slot, kv
// head). Vec8 holds eight consecutive elements (one 16- or 8-byte load).
template <typename KV>
struct KvCode {  // 16-bit pools
    static constexpr bool kQuantized = false;
    using Vec8 = uint4;
    static __device__ __forceinline__ float to_float(KV x) { return Elem<KV>::to_float(x); }
    static __device__ __forceinline__ void unpack8(const Vec8& raw, float (&f)[8]) { attn::unpack8<KV>(raw, f); }
};

template <>
struct KvCode<int8_t> {
    static constexpr bool kQuantized = true;
    using Vec8 = uint2;
    static __device__ __forceinline__ float to_float(int8_t x) { return float(x); }
    static __device__ __forceinline__ void unpack8(const Vec8& raw, float (&f)[8]) {
        unpack4_i8(raw.x, f);
        unpack4_i8(raw.y, f + 4);
    }
};

// Two E4M3 codes (the lower-index one in the low byte) to f32 through f16, which holds every E4M3
// value exactly (one cvt instruction on sm_89 and later).
__device__ __forceinline__ float2 unpack2_e4m3(uint32_t pair) {
    const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(pair & 0xffffu), __NV_E4M3);
    return __half22float2(__half2(h));
}

template <>
struct KvCode<__nv_fp8_e4m3> {
    static constexpr bool kQuantized = true;
    using Vec8 = uint2;
    static __device__ __forceinline__ float to_float(__nv_fp8_e4m3 x) { return float(x); }
    static __device__ __forceinline__ void unpack8(const Vec8& raw, float (&f)[8]) {
        const float2 a = unpack2_e4m3(raw.x), b = unpack2_e4m3(raw.x >> 16);
        const float2 c = unpack2_e4m3(raw.y), d = unpack2_e4m3(raw.y >> 16);
        f[0] = a.x, f[1] = a.y, f[2] = b.x, f[3] = b.y, f[4] = c.x, f[5] = c.y, f[6] = d.x, f[7] = d.y;
    }
};

// 2^x with the hardware approximation (relative error ~2^-22). exp2(-inf) = 0, which the online
// softmax relies on for keys that are masked out and for the first rescale.
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// log2(e): scores are kept in the base-2 domain (scale * log2e folded in once) so that each
// exponential is one ex2 instruction.
constexpr float kLog2e = 1.4426950408889634f;

// Slot of position `pos` of sequence `seq`. Only call for pos < kv_len[seq]: block-table entries past
// a sequence's length may be stale or unset.
// block_table: [n_seqs, max_blocks]
__device__ __forceinline__ int64_t kv_slot(const int32_t* __restrict__ block_table, int64_t max_blocks,
                                           int32_t block_size, int32_t seq, int32_t pos) {
    const int32_t block = block_table[int64_t(seq) * max_blocks + pos / block_size];
    return int64_t(block) * block_size + pos % block_size;
}

}  // namespace turbolm::cuda::attn
