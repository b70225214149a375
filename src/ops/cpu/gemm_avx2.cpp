// AVX2 + FMA + F16C gemm kernels, for x86-64 CPUs without AVX-512. Same structure as the AVX-512 kernels
// with half-width vectors and 16 registers: the dot path steps 16 values of k, the tile path uses a
// 6 x 16 register tile (12 accumulators, 2 weight vectors, 1 broadcast).
#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "core/half.h"
#include "ops/cpu/gemm_kernels.h"
#include "ops/cpu/gemm_tile_loop.h"

#if defined(__x86_64__)

// GCC 12 reports the "undefined" source operands inside its own intrinsic headers as uninitialized
// (GCC PR 105593, fixed in 12.3 and 13); the warnings concern the headers, not this code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#define TURBOLM_AVX2 __attribute__((target("avx2,fma,f16c")))
#define TURBOLM_INLINE inline __attribute__((always_inline))

namespace turbolm::cpu::gemm_detail {
namespace {

float round_x(float v, XRound r) {
    if (r == XRound::kBf16) return bf16_to_f32(f32_to_bf16(v));
    if (r == XRound::kF16) return f16_to_f32(f32_to_f16(v));
    return v;
}

// 8 consecutive weights as f32 from a full group.
template <DType WT>
TURBOLM_AVX2 TURBOLM_INLINE __m256 load8(const char* p) {
    if constexpr (WT == DType::kF32) {
        return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
    } else if constexpr (WT == DType::kF16) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    } else {
        const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
    }
}

// ---- dot path ------------------------------------------------------------------------------------------

constexpr int64_t kChunk = 16;
constexpr int64_t kPrefetchDistance = 256;

int64_t x_row_bytes(int64_t k) {
    return odd_lines((k + kChunk - 1) / kChunk * kChunk * 4);
}

// Prepared x rows: f32, rounded, zero-padded to whole chunks; for bf16 weights each chunk holds its 8 even
// values then its 8 odd ones (see load_chunk).
void prepare_x(const GemmArgs& a, void* xp, int64_t row_bytes, int64_t i0, int64_t i1) {
    const bool split = a.w_dtype == DType::kBF16;
    const int64_t kp = row_bytes / 4;
    for (int64_t i = i0; i < i1; ++i) {
        const float* x = a.x + i * a.ldx;
        float* out = reinterpret_cast<float*>(static_cast<char*>(xp) + i * row_bytes);
        for (int64_t c = 0; c < kp; ++c) {
            const float v = c < a.k ? round_x(x[c], a.round) : 0.0f;
            const int64_t base = c / kChunk * kChunk, t = c % kChunk;
            out[split ? base + (t % 2) * 8 + t / 2 : c] = v;
        }
    }
}

// 16 weights as two f32 vectors matched to the prepared x chunk; bf16 words (pairs 2t, 2t+1) give the even
// values by a left shift and the odd ones by clearing the low half.
template <DType WT>
TURBOLM_AVX2 TURBOLM_INLINE void load_chunk(const char* p, __m256& lo, __m256& hi) {
    if constexpr (WT == DType::kBF16) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        lo = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        hi = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(int(0xffff0000u))));
    } else {
        constexpr int64_t kSize = WT == DType::kF32 ? 4 : 2;
        lo = load8<WT>(p);
        hi = load8<WT>(p + 8 * kSize);
    }
}

template <DType WT, int R, int M>
TURBOLM_AVX2 TURBOLM_INLINE void dot_step(__m256 (&acc)[R][M], const char* const (&w)[R], const float* xp,
                                          int64_t x_stride, int64_t k0) {
    __m256 lo[R], hi[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) load_chunk<WT>(w[r], lo[r], hi[r]);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
        const __m256 xl = _mm256_load_ps(xp + i * x_stride + k0);
        const __m256 xh = _mm256_load_ps(xp + i * x_stride + k0 + 8);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            acc[r][i] = _mm256_fmadd_ps(lo[r], xl, acc[r][i]);
            acc[r][i] = _mm256_fmadd_ps(hi[r], xh, acc[r][i]);
        }
    }
}

TURBOLM_AVX2 TURBOLM_INLINE __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// prefetch: whether this call streams the block from memory (the first activation group does), in which case
// each row prefetches kPrefetchDistance bytes ahead, continuing into the same row of the next block (see
// RowPrefetch in gemm_avx512_util.h: hardware prefetchers stop at 4 KiB pages).
template <DType WT, int R, int M>
TURBOLM_AVX2 void dot_block(const GemmArgs& a, const float* xp, int64_t x_stride, int64_t i0, int64_t j0,
                            bool prefetch) {
    static_assert(R <= 4);
    constexpr int64_t kSize = WT == DType::kF32 ? 4 : 2;
    const char* w[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) w[r] = static_cast<const char*>(a.w) + (j0 + r) * a.ldw * kSize;
    xp += i0 * x_stride;
    __m256 acc[R][M];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i) acc[r][i] = _mm256_setzero_ps();
    const int64_t full = a.k / kChunk * kChunk;
    const int64_t row_bytes = a.k * kSize, stride = a.ldw * kSize;
    const bool next_block = j0 + 2 * R <= a.n;
    for (int64_t k0 = 0; k0 < full; k0 += kChunk) {
        if (prefetch) {
            const int64_t t = k0 * kSize + kPrefetchDistance;
            if (t < row_bytes || next_block) {
                const int64_t off = t < row_bytes ? t : t - row_bytes + R * stride;
#pragma GCC unroll 16
                for (int r = 0; r < R; ++r)
                    for (int64_t b = 0; b < kChunk * kSize; b += 64)
                        _mm_prefetch(w[r] - k0 * kSize + off + b, _MM_HINT_T0);
            }
        }
        dot_step<WT, R, M>(acc, w, xp, x_stride, k0);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) w[r] += kChunk * kSize;
    }
    if (full < a.k) {
        // The last partial chunk goes through a zero-padded copy: AVX2 has no masked 16-bit loads.
        alignas(32) char tail[R][kChunk * kSize] = {};
        const char* tw[R];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            std::memcpy(tail[r], w[r], size_t((a.k - full) * kSize));
            tw[r] = tail[r];
        }
        dot_step<WT, R, M>(acc, tw, xp, x_stride, full);
    }
    const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
        alignas(16) float s[4];
        _mm_store_ps(s, hsum4(acc[0][i], R > 1 ? acc[R > 1 ? 1 : 0][i] : zero, R > 2 ? acc[R > 2 ? 2 : 0][i] : zero,
                              R > 3 ? acc[R > 3 ? 3 : 0][i] : zero));
        float* y = a.y + (i0 + i) * a.ldy + j0;
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const float v = s[r] + (a.bias ? a.bias[j0 + r] : 0.0f);
            y[r] = a.accumulate ? y[r] + v : v;
        }
    }
}

template <DType WT, int R, int kM>
TURBOLM_AVX2 void rows_with(const GemmArgs& a, const float* xp, int64_t x_stride, int64_t j0, int64_t j1) {
    int64_t j = j0;
    for (; j + R <= j1; j += R) {
        for (int64_t i0 = 0; i0 < a.m; i0 += kM) {
            switch (a.m - i0 < kM ? a.m - i0 : kM) {
                case 1:
                    dot_block<WT, R, 1>(a, xp, x_stride, i0, j, i0 == 0);
                    break;
                case 2:
                    dot_block<WT, R, kM >= 2 ? 2 : 1>(a, xp, x_stride, i0, j, i0 == 0);
                    break;
                case 3:
                    dot_block<WT, R, kM >= 3 ? 3 : 1>(a, xp, x_stride, i0, j, i0 == 0);
                    break;
                default:
                    dot_block<WT, R, kM>(a, xp, x_stride, i0, j, i0 == 0);
                    break;
            }
        }
    }
    for (; j < j1; ++j)
        for (int64_t i0 = 0; i0 < a.m; ++i0) dot_block<WT, 1, 1>(a, xp, x_stride, i0, j, false);
}

template <DType WT>
TURBOLM_AVX2 void rows_typed(const GemmArgs& a, const float* xp, int64_t x_stride, int64_t j0, int64_t j1) {
    if (a.m == 1)
        rows_with<WT, 4, 1>(a, xp, x_stride, j0, j1);
    else
        rows_with<WT, 2, 4>(a, xp, x_stride, j0, j1);
}

void rows(const GemmArgs& a, const void* xp, int64_t row_bytes, int64_t j0, int64_t j1) {
    const float* x = static_cast<const float*>(xp);
    switch (a.w_dtype) {
        case DType::kF32:
            return rows_typed<DType::kF32>(a, x, row_bytes / 4, j0, j1);
        case DType::kF16:
            return rows_typed<DType::kF16>(a, x, row_bytes / 4, j0, j1);
        default:
            return rows_typed<DType::kBF16>(a, x, row_bytes / 4, j0, j1);
    }
}

// ---- tile path -----------------------------------------------------------------------------------------
//
// Packed activations: per panel of kMr rows, [k][kMr] f32. Packed weights: per strip of 16 columns,
// [kb][16] f32. Blocking as in gemm_avx512_tile.cpp.

constexpr int kMr = 6;
constexpr int kNr = 16;
constexpr int64_t kKc = 256;
constexpr int64_t kNc = 256;

int64_t a_panel_bytes(int64_t k) {
    return (k * kMr * 4 + 63) / 64 * 64;
}
int64_t w_scratch_bytes() {
    return kNc * kKc * 4;
}

void pack_a(const GemmArgs& a, void* ap, int64_t panel_bytes, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
        float* out = reinterpret_cast<float*>(static_cast<char*>(ap) + p * panel_bytes);
        for (int r = 0; r < kMr; ++r) {
            const int64_t row = p * kMr + r;
            const float* x = a.x + row * a.ldx;
            if (row < a.m)
                for (int64_t c = 0; c < a.k; ++c) out[c * kMr + r] = round_x(x[c], a.round);
            else
                for (int64_t c = 0; c < a.k; ++c) out[c * kMr + r] = 0.0f;
        }
    }
}

TURBOLM_AVX2 TURBOLM_INLINE void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i) {
        u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    // u[c] (c < 4) holds rows 0-3 at columns c (low half) and c + 4 (high half); u[4 + c] rows 4-7.
    for (int c = 0; c < 4; ++c) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[c + 4] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

template <DType WT>
TURBOLM_AVX2 void pack_w(const GemmArgs& a, int64_t jc, int64_t nb, int64_t pc, int64_t kb, float* out) {
    constexpr int64_t kSize = WT == DType::kF32 ? 4 : 2;
    const char* w = static_cast<const char*>(a.w);
    for (int64_t s = 0; s * kNr < nb; ++s) {
        float* strip = out + s * kNr * kb;
        for (int h = 0; h < 2; ++h) {
            const int64_t c0 = s * kNr + h * 8;
            const int64_t rows = std::clamp<int64_t>(nb - c0, 0, 8);
            const char* src = w + ((jc + c0) * a.ldw + pc) * kSize;
            for (int64_t k0 = 0; k0 < kb; k0 += 8) {
                const int64_t n = std::min<int64_t>(8, kb - k0);
                __m256 v[8];
                for (int r = 0; r < 8; ++r) {
                    const char* p = src + (r * a.ldw + k0) * kSize;
                    if (r >= rows) {
                        v[r] = _mm256_setzero_ps();
                    } else if (n == 8) {
                        v[r] = load8<WT>(p);
                    } else {
                        alignas(32) char tmp[8 * kSize] = {};
                        std::memcpy(tmp, p, size_t(n * kSize));
                        v[r] = load8<WT>(tmp);
                    }
                }
                transpose8(v);
                for (int64_t c = 0; c < n; ++c) _mm256_store_ps(strip + (k0 + c) * kNr + h * 8, v[c]);
            }
        }
    }
}

template <int R>
TURBOLM_AVX2 void micro_kernel(const float* ap, const float* bp, int64_t kb, float* c, int64_t ldc, int cols,
                               bool load_c, const float* bias) {
    __m256 c0[R], c1[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) c0[r] = c1[r] = _mm256_setzero_ps();
    for (int64_t kk = 0; kk < kb; ++kk) {
        const __m256 b0 = _mm256_load_ps(bp + kk * kNr);
        const __m256 b1 = _mm256_load_ps(bp + kk * kNr + 8);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const __m256 av = _mm256_broadcast_ss(ap + kk * kMr + r);
            c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
        }
    }
    alignas(32) float bias_row[kNr] = {};
    if (bias) std::memcpy(bias_row, bias, size_t(cols) * 4);
    const __m256 bias0 = _mm256_load_ps(bias_row), bias1 = _mm256_load_ps(bias_row + 8);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        float* cr = c + r * ldc;
        __m256 v0 = _mm256_add_ps(c0[r], bias0), v1 = _mm256_add_ps(c1[r], bias1);
        if (cols == kNr) {
            if (load_c) {
                v0 = _mm256_add_ps(_mm256_loadu_ps(cr), v0);
                v1 = _mm256_add_ps(_mm256_loadu_ps(cr + 8), v1);
            }
            _mm256_storeu_ps(cr, v0);
            _mm256_storeu_ps(cr + 8, v1);
        } else {
            alignas(32) float tmp[kNr];
            _mm256_store_ps(tmp, v0);
            _mm256_store_ps(tmp + 8, v1);
            for (int j = 0; j < cols; ++j) cr[j] = load_c ? cr[j] + tmp[j] : tmp[j];
        }
    }
}

template <size_t... I>
constexpr auto micro_kernel_table(std::index_sequence<I...>) {
    return std::array<F32MicroKernel, sizeof...(I)>{micro_kernel<int(I) + 1>...};
}
// kMicroKernels[r - 1] handles r rows.
constexpr auto kMicroKernels = micro_kernel_table(std::make_index_sequence<kMr>());

void tiles(const GemmArgs& a, const void* ap, int64_t panel_bytes, int64_t p0, int64_t p1, int64_t j0, int64_t j1,
           void* w_scratch) {
    f32_tile_loop<kMr, kNr, kNc, kKc>(a, ap, panel_bytes, p0, p1, j0, j1, static_cast<float*>(w_scratch),
                                      kMicroKernels.data(), TURBOLM_PACK_W_BY_DTYPE(a));
}

}  // namespace

const KernelSet& avx2_kernels() {
    static const KernelSet set{
        "avx2", 8, {x_row_bytes, prepare_x, rows}, {kMr, kNr, a_panel_bytes, pack_a, w_scratch_bytes, tiles}};
    return set;
}

}  // namespace turbolm::cpu::gemm_detail

#endif  // __x86_64__
