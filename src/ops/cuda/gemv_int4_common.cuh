// Pieces shared by the INT4 decode-product kernels (gemv_int4.cu, gemv_int4_stream.cu): the nibble
// to 16-bit trick, the m16n8k16 MMA, the argument block, where the activation rows come from and the
// output store.
#pragma once

#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "ops/cpu/cpu_int4.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/elementwise/activation_functions.cuh"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/gemv_int4.h"
#include "ops/cuda/programmatic_launch.cuh"

namespace turbolm::cuda::int4_detail {

// 16 weight rows per tile: the M of one mma.m16n8k16.
constexpr int kTileRows = 16;

__device__ __forceinline__ uint32_t and_or(uint32_t a, uint32_t mask, uint32_t bits) {
    uint32_t d;
    asm("lop3.b32 %0, %1, %2, %3, 0xea;" : "=r"(d) : "r"(a), "r"(mask), "r"(bits));  // (a & mask) | bits
    return d;
}

// Nibbles to 16-bit pairs without conversions: OR-ing a nibble n into the mantissa of a power of two
// P gives P + n exactly (one lop3 per pair). The kernel multiplies these biased codes and takes the
// zero point out afterwards: sum x (n - z) = sum x (P + n) - (P + z) sum x. pairs() turns a word
// (nibble e = column e) into out[e] = kScale * (kBias + n_e, kBias + n_{e+4}), e = 0..3, low half first.
template <typename T>
struct Dequant;

template <>
struct Dequant<__nv_bfloat16> {
    // bf16 has 7 mantissa bits: P = 128 (0x4300) takes a nibble in bits 0..3.
    static constexpr float kBias = 128.0f, kScale = 1.0f;
    static constexpr uint32_t kOnes = 0x3f803f80u;
    __device__ static void pairs(uint32_t w, uint32_t (&out)[4]) {
        out[0] = and_or(w, 0x000f000fu, 0x43004300u);
        out[1] = and_or(w >> 4, 0x000f000fu, 0x43004300u);
        out[2] = and_or(w >> 8, 0x000f000fu, 0x43004300u);
        out[3] = and_or(w >> 12, 0x000f000fu, 0x43004300u);
    }
};

template <>
struct Dequant<__half> {
    // f16 has 10: P = 1024 (0x6400) takes a nibble in bits 4..7 as 1024 + 16 n = 16 (64 + n); the
    // factor 16 is exact and comes out with the scale.
    static constexpr float kBias = 64.0f, kScale = 16.0f;
    static constexpr uint32_t kOnes = 0x3c003c00u;
    __device__ static void pairs(uint32_t w, uint32_t (&out)[4]) {
        out[0] = and_or(w << 4, 0x00f000f0u, 0x64006400u);
        out[1] = and_or(w, 0x00f000f0u, 0x64006400u);
        out[2] = and_or(w >> 4, 0x00f000f0u, 0x64006400u);
        out[3] = and_or(w >> 8, 0x00f000f0u, 0x64006400u);
    }
};

// d += A[16, 16] @ B[16, 8], f32 accumulators.   a: rows (g, g+8) x cols (2t, 2t+1), then cols + 8;
// b: rows (2t, 2t+1) and (2t+8, 2t+9) of column g; d: (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1).
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                          uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                                         uint32_t a3, uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                                  uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float f16_bits_to_float(uint16_t bits) {
    return __half2float(__ushort_as_half(bits));
}

template <typename T>
struct GemvArgs {
    const T* x;  // [m, ldx]: the rows, or the gate of Int4RowKind::kSiluMul
    int64_t ldx;
    cpu::Int4Weights w;
    const float* bias;  // [n] or null
    void* y;            // [m, ldy], f32 or T
    int64_t ldy;
    bool y_f32, accumulate;
    int m, n, k;
    Int4RowSource src;  // the other inputs of the fused row kinds
};

// fn(std::integral_constant<Int4RowKind, kind>{}): a kernel instantiation per kind of rows.
template <typename Fn>
auto dispatch_row_kind(Int4RowKind kind, Fn&& fn) {
    using K = Int4RowKind;
    switch (kind) {
        case K::kRmsNormed: return fn(std::integral_constant<K, K::kRmsNormed>{});
        case K::kSiluMul: return fn(std::integral_constant<K, K::kSiluMul>{});
        case K::kStored: break;
    }
    return fn(std::integral_constant<K, K::kStored>{});
}

// A kernel's activation rows, 8 consecutive values at a time as the MMAs take them (8 values of T in
// a uint4), made as the unfused kernels would have stored them, bit for bit: read from x; RMSNorm of
// the f32 residual times the norm's weight, with norms.cu's sum (a 256-thread block's per-thread
// chunks, warp sums, then the warps in order), so the block must have 256 threads; or silu(gate) * up
// as activation.cu computes it. Every thread of the block calls prepare() (the norm's sums) before
// load8, or make(), which writes all m rows to shared memory ([m][k]) and waits for the block.
template <typename T, Int4RowKind kKind>
struct Int4Rows {
    static constexpr int kNormThreads = 256;
    float inv[kGemvInt4FusedRows];  // kRmsNormed: 1 / rms of each row

    __device__ void prepare(const GemvArgs<T>& a) {
        if constexpr (kKind == Int4RowKind::kRmsNormed) {
#pragma unroll
            for (int r = 0; r < kGemvInt4FusedRows; ++r) {
                if (r >= a.m) break;  // the same for the whole block
                const float* xr = a.src.res + int64_t(r) * a.src.ldr;
                float sum = 0.0f;
                for (int64_t c = threadIdx.x; c < a.k / elt::kVec; c += kNormThreads) {
                    float v[elt::kVec];
                    elt::load8(xr + c * elt::kVec, v);
#pragma unroll
                    for (int e = 0; e < elt::kVec; ++e) sum += v[e] * v[e];
                }
                inv[r] = 1.0f / sqrtf(elt::block_sum<kNormThreads>(sum) / float(a.k) + a.src.eps);
            }
        }
    }

    __device__ void make(const GemvArgs<T>& a, T* xs) {
        prepare(a);
        const int64_t per_row = a.k / elt::kVec;
        for (int64_t i = threadIdx.x; i < a.m * per_row; i += blockDim.x) {
            const int row = int(i / per_row);
            const int64_t col = (i % per_row) * elt::kVec;
            *reinterpret_cast<uint4*>(xs + row * a.k + col) = load8(a, row, col);
        }
        __syncthreads();
    }

    __device__ uint4 load8(const GemvArgs<T>& a, int row, int64_t col) const {
        if constexpr (kKind == Int4RowKind::kStored) {
            return __ldg(reinterpret_cast<const uint4*>(a.x + int64_t(row) * a.ldx + col));
        } else {
            float v[elt::kVec];
            if constexpr (kKind == Int4RowKind::kRmsNormed) {
                float g[elt::kVec];
                elt::load8(a.src.res + int64_t(row) * a.src.ldr + col, v);
                elt::load8(a.src.norm_w + col, g);
                const float s = row == 0 ? inv[0] : inv[kGemvInt4FusedRows - 1];
#pragma unroll
                for (int e = 0; e < elt::kVec; ++e) v[e] = g[e] * (v[e] * s);
            } else {
                float u[elt::kVec];
                elt::load8(a.x + int64_t(row) * a.ldx + col, v);
                elt::load8(static_cast<const T*>(a.src.up) + int64_t(row) * a.src.ldu + col, u);
#pragma unroll
                for (int e = 0; e < elt::kVec; ++e) v[e] = elt::Silu::apply(v[e]) * u[e];
            }
            uint4 out;
            elt::store8(reinterpret_cast<T*>(&out), v);
            return out;
        }
    }
};

template <typename T>
__device__ __forceinline__ void store_out(const GemvArgs<T>& a, int64_t i, float v) {
    if (a.y_f32) {
        float* p = static_cast<float*>(a.y) + i;
        *p = a.accumulate ? *p + v : v;
    } else {
        T* p = static_cast<T*>(a.y) + i;
        *p = T(a.accumulate ? float(*p) + v : v);
    }
}

}  // namespace turbolm::cuda::int4_detail
