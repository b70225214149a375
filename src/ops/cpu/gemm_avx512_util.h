// Building blocks shared by the AVX-512 gemm kernels (gemm_avx512*.cpp). Everything here carries a target
// attribute and has internal linkage, so no AVX-512 code can leak into functions the baseline build
// calls on CPUs without it.
#pragma once

#if defined(__x86_64__)

// GCC 12 reports the "undefined" source operands inside its own intrinsic headers as uninitialized
// (GCC PR 105593, fixed in 12.3 and 13); the warnings concern the headers, not this code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstdint>

#include "core/dtype.h"
#include "ops/cpu/gemm_kernels.h"

#define TURBOLM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define TURBOLM_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")))
#define TURBOLM_INLINE inline __attribute__((always_inline))

namespace turbolm::cpu::gemm_detail {
namespace {

// The upper 256 bits of v.
TURBOLM_AVX512 TURBOLM_INLINE __m256 upper_half(__m512 v) {
    return _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(3, 2, 3, 2)));
}

// Lanes [0, n) of a 16-lane mask.
TURBOLM_AVX512 TURBOLM_INLINE __mmask16 mask16(int64_t n) {
    return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// Writes an R x 32 tile of accumulators (columns 0-15 in c0, 16-31 in c1) to c with row stride ldc:
// adds the bias row, and what c held when load_c; only the first `cols` columns are stored.
template <int R>
TURBOLM_AVX512 TURBOLM_INLINE void store_tile_32(const __m512 (&c0)[R], const __m512 (&c1)[R], float* c, int64_t ldc,
                                                int cols, bool load_c, const float* bias) {
    const __mmask16 m0 = mask16(cols), m1 = mask16(cols - 16);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (bias) {
        bias0 = _mm512_maskz_loadu_ps(m0, bias);
        bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        float* cr = c + r * ldc;
        __m512 v0 = _mm512_add_ps(c0[r], bias0), v1 = _mm512_add_ps(c1[r], bias1);
        if (load_c) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), v1);
        }
        if (cols == 32) {
            _mm512_storeu_ps(cr, v0);
            _mm512_storeu_ps(cr + 16, v1);
        } else {
            _mm512_mask_storeu_ps(cr, m0, v0);
            _mm512_mask_storeu_ps(cr + 16, m1, v1);
        }
    }
}

TURBOLM_AVX512 TURBOLM_INLINE __mmask32 mask32(int64_t n) {
    return n >= 32 ? __mmask32(0xffffffffu) : n <= 0 ? __mmask32(0) : __mmask32((1u << n) - 1);
}

// Round to nearest even bf16 and widen back; NaN stays a (quiet) NaN, as in f32_to_bf16.
TURBOLM_AVX512 TURBOLM_INLINE __m512 round_bf16(__m512 v) {
    const __m512i b = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(b, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, b, _mm512_set1_epi32(0x00400000));
    return _mm512_castsi512_ps(_mm512_and_si512(r, _mm512_set1_epi32(int(0xffff0000u))));
}

TURBOLM_AVX512 TURBOLM_INLINE __m512 round_f16(__m512 v) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

TURBOLM_AVX512 TURBOLM_INLINE __m512 apply_round(__m512 v, XRound r) {
    if (r == XRound::kBf16) return round_bf16(v);
    if (r == XRound::kF16) return round_f16(v);
    return v;
}

// 16 consecutive weights as f32; lanes outside `m` read as zero and their memory is not touched.
template <DType WT>
TURBOLM_AVX512 TURBOLM_INLINE __m512 load16_as_f32(const void* p, __mmask16 m) {
    if constexpr (WT == DType::kF32) {
        return _mm512_maskz_loadu_ps(m, p);
    } else if constexpr (WT == DType::kF16) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
    } else {
        const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
        return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
    }
}

// In-register transpose of a 16x16 block of 32-bit elements: on return r[c] holds former column c.
// Three rounds: interleave 32-bit pairs, then 64-bit pairs, then 128-bit blocks (twice).
TURBOLM_AVX512 TURBOLM_INLINE void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // r[4i + c], 128-bit block L: rows 4i..4i+3 at column 4L + c.
    for (int i = 0; i < 4; ++i) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    for (int c = 0; c < 4; ++c) {
        const __m512 s0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);  // blocks 0, 2 of rows 0-3, 4-7
        const __m512 s1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);  // blocks 1, 3
        const __m512 u0 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        const __m512 u1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
        t[c] = _mm512_shuffle_f32x4(s0, u0, 0x88);       // column c
        t[8 + c] = _mm512_shuffle_f32x4(s0, u0, 0xdd);   // column 8 + c
        t[4 + c] = _mm512_shuffle_f32x4(s1, u1, 0x88);   // column 4 + c
        t[12 + c] = _mm512_shuffle_f32x4(s1, u1, 0xdd);  // column 12 + c
    }
    for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Sums of four vectors: lane i of the result is the sum of all lanes of the i-th argument.
TURBOLM_AVX512 TURBOLM_INLINE __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    const __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), upper_half(a));
    const __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), upper_half(b));
    const __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), upper_half(c));
    const __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), upper_half(d));
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a8, b8), _mm256_hadd_ps(c8, d8));
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// Software prefetch for the dot path, which streams R weight rows side by side. Hardware prefetchers stop
// at 4 KiB page boundaries and a row of a 2048-wide bf16 matrix is exactly one page, so each row would start
// cold. Two schemes:
//  - one activation row (m = 1): every row stream prefetches `distance` bytes ahead of itself, continuing
//    into the same row of the next block of R rows once it runs past the end;
//  - several rows: the first activation group reads the weight block from memory and the other groups
//    reuse it from cache, which would leave memory idle for most of the time. Instead all groups together
//    walk the next block's cache lines, a fixed number per step, so the next block arrives while this one
//    is being used.
struct RowPrefetch {
    const char* rows;       // first row of this block
    const char* next_rows;  // first row of the next block, or null at the end of this thread's range
    int64_t stride;         // bytes between rows
    int64_t row_bytes;      // bytes used per row (k * element size)
    int64_t distance;       // m = 1: how far ahead of the reads, in bytes per row; 0 selects the walk
    int64_t per_step = 0;   // walk: lines per step
    int64_t next_line = 0;  // walk: lines issued so far, row-interleaved (line l is row l % R, line l / R)

    template <int R>
    TURBOLM_AVX512 TURBOLM_INLINE void step(int64_t off, int64_t bytes) {
        if (distance > 0) {
            int64_t t = off + distance;
            const char* base = rows;
            if (t >= row_bytes) {
                if (!next_rows) return;
                base = next_rows;
                t -= row_bytes;
            }
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r)
                for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(base + r * stride + t + b, _MM_HINT_T0);
        } else if (next_rows) {
            for (int64_t i = 0; i < per_step; ++i, ++next_line) {
                const int64_t line = next_line / R;
                if (line * 64 >= row_bytes) return;
                _mm_prefetch(next_rows + (next_line % R) * stride + line * 64, _MM_HINT_T0);
            }
        }
    }
};

// Final dot-path results: sums[r][i] (lane sums) go to y[i0 + i, j0 + r] with bias and accumulate.
template <int R, int M>
TURBOLM_AVX512 TURBOLM_INLINE void store_dot_sums(const GemmArgs& a, __m512 (&acc)[R][M], int64_t i0, int64_t j0) {
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
        float* y = a.y + (i0 + i) * a.ldy + j0;
#pragma GCC unroll 16
        for (int g = 0; g < R; g += 4) {
            const __mmask8 m = __mmask8((1u << (R - g < 4 ? R - g : 4)) - 1);
            // Indices are clamped so that the unused ones stay in bounds; their values are replaced by zero.
            const __m512 v1 = g + 1 < R ? acc[g + 1 < R ? g + 1 : g][i] : zero;
            const __m512 v2 = g + 2 < R ? acc[g + 2 < R ? g + 2 : g][i] : zero;
            const __m512 v3 = g + 3 < R ? acc[g + 3 < R ? g + 3 : g][i] : zero;
            __m128 v = hsum4(acc[g][i], v1, v2, v3);
            if (a.bias) v = _mm_add_ps(v, _mm_maskz_loadu_ps(m, a.bias + j0 + g));
            if (a.accumulate) v = _mm_add_ps(_mm_maskz_loadu_ps(m, y + g), v);
            _mm_mask_storeu_ps(y + g, m, v);
        }
    }
}

// ---- dot-path loops shared by the f32 and bf16 kernels ------------------------------------------------
//
// K supplies kWSize (bytes per weight element), kStep (values of k per step) and
//   template <int R, int M> static void group(const GemmArgs& a, const char* xp, int64_t x_stride, int64_t i0,
//       int64_t j, int64_t k0, int64_t k1, __m512* acc, bool first, bool last, RowPrefetch* pf);
// which adds the products of activation rows [i0, i0 + M) and weight rows [j, j + R) over k in [k0, k1) to
// acc[r * M + i] (starting from zero when first) and, when last, writes the sums to y.
//
// One activation row (decode) takes whole rows of k, kR1 weight rows at a time. Several activation rows go
// through k in blocks: the block of kR weight rows is read from memory by the first group of activation
// rows and from L1 by the others (up to kDotMaxRows rows in all), so it must fit in half of L1. Blocks are as
// long as that allows: each costs a round trip of the accumulators through a small buffer.
constexpr int64_t kDotL1Budget = 16 << 10;
constexpr int64_t kPrefetchDistance = 256;  // m = 1; 64 to 512 measure the same
constexpr int kDotMaxRows = 16;

constexpr int64_t dot_k_block(int64_t rows, int64_t w_size) {
    int64_t kb = 256;
    while (kb * 2 * rows * w_size <= kDotL1Budget) kb *= 2;
    return kb;
}

template <class K, int R, int kM>
TURBOLM_AVX512 void dot_row_block(const GemmArgs& a, const char* xp, int64_t x_stride, int64_t j, int64_t k_block,
                                  RowPrefetch* pf) {
    alignas(64) __m512 acc[R * kDotMaxRows];
    for (int64_t ib = 0; ib < a.m; ib += kDotMaxRows) {
        const int64_t ie = a.m - ib < kDotMaxRows ? a.m : ib + kDotMaxRows;
        for (int64_t k0 = 0; k0 < a.k; k0 += k_block) {
            const int64_t k1 = a.k - k0 < k_block ? a.k : k0 + k_block;
            const bool first = k0 == 0, last = k1 == a.k;
            for (int64_t i0 = ib; i0 < ie; i0 += kM) {
                __m512* g = acc + (i0 - ib) * R;
                switch (ie - i0 < kM ? ie - i0 : kM) {
                    case 1:
                        K::template group<R, 1>(a, xp, x_stride, i0, j, k0, k1, g, first, last, pf);
                        break;
                    case 2:
                        K::template group<R, kM >= 2 ? 2 : 1>(a, xp, x_stride, i0, j, k0, k1, g, first, last, pf);
                        break;
                    case 3:
                        K::template group<R, kM >= 3 ? 3 : 1>(a, xp, x_stride, i0, j, k0, k1, g, first, last, pf);
                        break;
                    default:
                        K::template group<R, kM>(a, xp, x_stride, i0, j, k0, k1, g, first, last, pf);
                        break;
                }
            }
        }
    }
}

template <class K, int kR1, int kR, int kM>
TURBOLM_AVX512 void dot_rows(const GemmArgs& a, const void* xp, int64_t x_stride, int64_t j0, int64_t j1) {
    const char* x = static_cast<const char*>(xp);
    const char* w = static_cast<const char*>(a.w);
    const int64_t stride = a.ldw * K::kWSize, row_bytes = a.k * K::kWSize;
    const int64_t k_block = dot_k_block(kR, K::kWSize);
    int64_t j = j0;
    if (a.m == 1) {
        for (; j + kR1 <= j1; j += kR1) {
            RowPrefetch pf{w + j * stride, j + 2 * kR1 <= j1 ? w + (j + kR1) * stride : nullptr, stride, row_bytes,
                           kPrefetchDistance};
            dot_row_block<K, kR1, 1>(a, x, x_stride, j, a.k, &pf);
        }
    } else {
        // Lines of the next block per step: its kR rows spread over every group's steps through this block.
        const int64_t groups = (std::min<int64_t>(a.m, kDotMaxRows) + kM - 1) / kM;
        const int64_t per_step = (kR * K::kStep * K::kWSize / 64 + groups - 1) / groups + 1;
        for (; j + kR <= j1; j += kR) {
            RowPrefetch pf{w + j * stride, j + 2 * kR <= j1 ? w + (j + kR) * stride : nullptr, stride, row_bytes, 0,
                           per_step};
            dot_row_block<K, kR, kM>(a, x, x_stride, j, k_block, &pf);
        }
    }
    for (; j < j1; ++j) dot_row_block<K, 1, kM>(a, x, x_stride, j, k_block, nullptr);
}

}  // namespace

// The AVX-512 f32 tile path (gemm_avx512_tile.cpp).
extern const TileKernels kAvx512Tiles;
// The AVX-512 BF16 tile path (gemm_avx512_bf16.cpp).
extern const TileKernels kAvx512Bf16Tiles;

}  // namespace turbolm::cpu::gemm_detail

#endif  // __x86_64__
