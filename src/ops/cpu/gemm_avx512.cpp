// AVX-512 dot path (small m, decode): weights are streamed once from memory and widened to f32 in
// registers; each step covers 32 values of k for R weight rows and M activation rows at once.
#include "ops/cpu/gemm_avx512_util.h"

#if defined(__x86_64__)

namespace turbolm::cpu::gemm_detail {
namespace {

// k values per step: one zmm of 16-bit weights, two of f32.
constexpr int64_t kChunk = 32;

int64_t x_row_bytes(int64_t k) {
    return odd_lines((k + kChunk - 1) / kChunk * kChunk * 4);
}

// Prepared x rows: f32, zero-padded to whole chunks, rounded as GemmArgs::round says. For bf16 weights each
// chunk is reordered to its 16 even-indexed values followed by its 16 odd ones, matching how load_chunk
// widens bf16 without shuffles (see there).
TURBOLM_AVX512 void prepare_x(const GemmArgs& a, void* xp, int64_t row_bytes, int64_t i0, int64_t i1) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const bool split = a.w_dtype == DType::kBF16;
    for (int64_t i = i0; i < i1; ++i) {
        const float* x = a.x + i * a.ldx;
        float* out = reinterpret_cast<float*>(static_cast<char*>(xp) + i * row_bytes);
        for (int64_t k0 = 0; k0 < a.k; k0 += kChunk) {
            __m512 lo = apply_round(_mm512_maskz_loadu_ps(mask16(a.k - k0), x + k0), a.round);
            __m512 hi = apply_round(_mm512_maskz_loadu_ps(mask16(a.k - k0 - 16), x + k0 + 16), a.round);
            if (split) {
                const __m512 e = _mm512_permutex2var_ps(lo, even, hi);
                hi = _mm512_permutex2var_ps(lo, odd, hi);
                lo = e;
            }
            _mm512_store_ps(out + k0, lo);
            _mm512_store_ps(out + k0 + 16, hi);
        }
    }
}

// 32 weights of one row as two f32 vectors matched to the prepared x chunk. f32 and f16: values 0-15 and
// 16-31. bf16: the chunk is read as 16 32-bit words holding pairs (2t, 2t+1); shifting each word left by 16
// gives value 2t as f32 and clearing its low half gives value 2t+1, so lo holds the even and hi the odd
// values, and prepared x was reordered the same way.
template <DType WT, bool kTail>
TURBOLM_AVX512 TURBOLM_INLINE void load_chunk(const char* p, __mmask32 m, __m512& lo, __m512& hi) {
    if constexpr (WT == DType::kBF16) {
        const __m512i v = kTail ? _mm512_maskz_loadu_epi16(m, p) : _mm512_loadu_si512(p);
        lo = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
        hi = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(int(0xffff0000u))));
    } else if constexpr (WT == DType::kF16) {
        const __m256i a = kTail ? _mm256_maskz_loadu_epi16(__mmask16(m), p) : _mm256_loadu_si256((const __m256i*)p);
        const __m256i b =
            kTail ? _mm256_maskz_loadu_epi16(__mmask16(m >> 16), p + 32) : _mm256_loadu_si256((const __m256i*)(p + 32));
        lo = _mm512_cvtph_ps(a);
        hi = _mm512_cvtph_ps(b);
    } else {
        lo = kTail ? _mm512_maskz_loadu_ps(__mmask16(m), p) : _mm512_loadu_ps(p);
        hi = kTail ? _mm512_maskz_loadu_ps(__mmask16(m >> 16), p + 64) : _mm512_loadu_ps(p + 64);
    }
}

// Few accumulators (R * M < 4) would make each step wait for the previous step's FMA latency: those
// blocks keep the even and odd halves (lo, hi) in separate accumulators.
template <int R, int M>
constexpr bool kSplitAcc = (R * M) < 4;

template <DType WT, int R, int M, bool kTail>
TURBOLM_AVX512 TURBOLM_INLINE void dot_step(__m512 (&acc)[R][M], __m512 (&acc2)[R][M], const char* w, int64_t w_stride,
                                            int64_t k0, const float* xp, int64_t x_stride, __mmask32 m,
                                            RowPrefetch* pf) {
    constexpr int64_t kSize = WT == DType::kF32 ? 4 : 2;
    if (pf) pf->step<R>(k0 * kSize, kChunk * kSize);
    __m512 lo[R], hi[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) load_chunk<WT, kTail>(w + r * w_stride + k0 * kSize, m, lo[r], hi[r]);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
        const __m512 xl = _mm512_load_ps(xp + i * x_stride + k0);
        const __m512 xh = _mm512_load_ps(xp + i * x_stride + k0 + 16);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            acc[r][i] = _mm512_fmadd_ps(lo[r], xl, acc[r][i]);
            if constexpr (kSplitAcc<R, M>)
                acc2[r][i] = _mm512_fmadd_ps(hi[r], xh, acc2[r][i]);
            else
                acc[r][i] = _mm512_fmadd_ps(hi[r], xh, acc[r][i]);
        }
    }
}

// The dot_rows kernel (gemm_avx512_util.h) for weights of type WT.
template <DType WT>
struct F32Dot {
    static constexpr int64_t kWSize = WT == DType::kF32 ? 4 : 2;
    static constexpr int64_t kStep = kChunk;

    template <int R, int M>
    TURBOLM_AVX512 static void group(const GemmArgs& a, const char* xp, int64_t x_stride, int64_t i0, int64_t j,
                                     int64_t k0, int64_t k1, __m512* acc_mem, bool first, bool last, RowPrefetch* pf) {
        const int64_t w_stride = a.ldw * kWSize;
        const char* w = static_cast<const char*>(a.w) + j * w_stride;
        const float* x = reinterpret_cast<const float*>(xp + i0 * x_stride);
        __m512 acc[R][M], acc2[R][M];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
            for (int i = 0; i < M; ++i) {
                acc[r][i] = first ? _mm512_setzero_ps() : acc_mem[r * M + i];
                acc2[r][i] = _mm512_setzero_ps();
            }
        const int64_t full = k1 == a.k ? a.k / kChunk * kChunk : k1;
        for (int64_t k = k0; k < full; k += kChunk)
            dot_step<WT, R, M, false>(acc, acc2, w, w_stride, k, x, x_stride / 4, 0, pf);
        if (full < k1) dot_step<WT, R, M, true>(acc, acc2, w, w_stride, full, x, x_stride / 4, mask32(k1 - full), pf);
        if constexpr (kSplitAcc<R, M>) {
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
                for (int i = 0; i < M; ++i) acc[r][i] = _mm512_add_ps(acc[r][i], acc2[r][i]);
        }
        if (last) {
            store_dot_sums<R, M>(a, acc, i0, j);
        } else {
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
                for (int i = 0; i < M; ++i) acc_mem[r * M + i] = acc[r][i];
        }
    }
};

// Decode (m = 1) reads 8 weight rows side by side: enough independent streams to keep memory busy.
void rows(const GemmArgs& a, const void* xp, int64_t row_bytes, int64_t j0, int64_t j1) {
    switch (a.w_dtype) {
        case DType::kF32:
            return dot_rows<F32Dot<DType::kF32>, 8, 4, 4>(a, xp, row_bytes, j0, j1);
        case DType::kF16:
            return dot_rows<F32Dot<DType::kF16>, 8, 4, 4>(a, xp, row_bytes, j0, j1);
        default:
            return dot_rows<F32Dot<DType::kBF16>, 8, 4, 4>(a, xp, row_bytes, j0, j1);
    }
}

}  // namespace

const KernelSet& avx512_kernels() {
    static const KernelSet set{"avx512f", 64, {x_row_bytes, prepare_x, rows}, kAvx512Tiles};
    return set;
}

}  // namespace turbolm::cpu::gemm_detail

#endif  // __x86_64__
