// kWeightType with bf16 weights on CPUs with AVX512_BF16: activations are rounded to bf16 once and every
// product goes through vdpbf16ps, which multiplies 16 pairs of bf16 values and adds both products into an
// f32 lane: twice the FMA rate, and the weights are used as stored, without widening.
//
// Dot path (small m): 32 values of k per step for R weight rows and M activation rows, one instruction
// per 64 bytes of weights. Tile path (prefill): the f32 tile path's blocking (gemm_avx512_tile.cpp) on
// k-pairs; both operands are packed in the pair-interleaved layout vdpbf16ps reads.
#include <algorithm>
#include <array>
#include <utility>

#include "ops/cpu/gemm_avx512_util.h"

#if defined(__x86_64__)

namespace turbolm::cpu::gemm_detail {
namespace {

// ---- dot path ------------------------------------------------------------------------------------------

constexpr int64_t kChunk = 32;

int64_t x_row_bytes(int64_t k) {
    return odd_lines((k + kChunk - 1) / kChunk * kChunk * 2);
}

// 32 f32 values rounded to nearest-even bf16, in order.
TURBOLM_AVX512_BF16 TURBOLM_INLINE __m512i to_bf16x32(const float* x, int64_t n) {
    const __m512 lo = _mm512_maskz_loadu_ps(mask16(n), x);
    const __m512 hi = _mm512_maskz_loadu_ps(mask16(n - 16), x + 16);
    return __m512i(_mm512_cvtne2ps_pbh(hi, lo));
}

// Prepared x rows: bf16, zero-padded to whole chunks.
TURBOLM_AVX512_BF16 void prepare_x(const GemmArgs& a, void* xp, int64_t row_bytes, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
        const float* x = a.x + i * a.ldx;
        char* out = static_cast<char*>(xp) + i * row_bytes;
        for (int64_t k0 = 0; k0 < a.k; k0 += kChunk) _mm512_store_si512(out + k0 * 2, to_bf16x32(x + k0, a.k - k0));
    }
}

template <int R, int M, bool kTail>
TURBOLM_AVX512_BF16 TURBOLM_INLINE void dot_step(__m512 (&acc)[R][M], const char* w, int64_t w_stride, int64_t k0,
                                                 const char* xp, int64_t x_stride, __mmask32 m, RowPrefetch* pf) {
    if (pf) pf->step<R>(k0 * 2, kChunk * 2);
    __m512i wv[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
        wv[r] = kTail ? _mm512_maskz_loadu_epi16(m, w + r * w_stride + k0 * 2)
                      : _mm512_loadu_si512(w + r * w_stride + k0 * 2);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
        const __m512i xv = _mm512_load_si512(xp + i * x_stride + k0 * 2);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][i] = _mm512_dpbf16_ps(acc[r][i], __m512bh(wv[r]), __m512bh(xv));
    }
}

// The dot_rows kernel (gemm_avx512_util.h).
struct Bf16Dot {
    static constexpr int64_t kWSize = 2;
    static constexpr int64_t kStep = kChunk;

    template <int R, int M>
    TURBOLM_AVX512_BF16 static void group(const GemmArgs& a, const char* xp, int64_t x_stride, int64_t i0, int64_t j,
                                          int64_t k0, int64_t k1, __m512* acc_mem, bool first, bool last,
                                          RowPrefetch* pf) {
        const int64_t w_stride = a.ldw * 2;
        const char* w = static_cast<const char*>(a.w) + j * w_stride;
        const char* x = xp + i0 * x_stride;
        __m512 acc[R][M];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
            for (int i = 0; i < M; ++i) acc[r][i] = first ? _mm512_setzero_ps() : acc_mem[r * M + i];
        const int64_t full = k1 == a.k ? a.k / kChunk * kChunk : k1;
        for (int64_t k = k0; k < full; k += kChunk) dot_step<R, M, false>(acc, w, w_stride, k, x, x_stride, 0, pf);
        if (full < k1) dot_step<R, M, true>(acc, w, w_stride, full, x, x_stride, mask32(k1 - full), pf);
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
    dot_rows<Bf16Dot, 8, 4, 4>(a, xp, row_bytes, j0, j1);
}

// ---- tile path -----------------------------------------------------------------------------------------
//
// A k-pair is two consecutive values of k stored as one 32-bit word (lower half first), the unit of
// vdpbf16ps. Packed activations: per panel of kMr rows, [pairs][kMr] words. Packed weights: per strip of
// 32 columns, [pairs][32] words. The micro-kernel broadcasts one activation word per row and multiplies
// it with two weight vectors: 14 x 32 outputs, 28 accumulators, 64 multiply-adds per instruction.

constexpr int kMr = 14;
constexpr int kNr = 32;
constexpr int64_t kKc = 512;  // values of k per weight block (even)
constexpr int64_t kNc = 512;

int64_t pairs(int64_t k) {
    return (k + 1) / 2;
}

int64_t a_panel_bytes(int64_t k) {
    return (pairs(k) * kMr * 4 + 64 + 63) / 64 * 64;
}

int64_t w_scratch_bytes() {
    return kNc * kKc * 2;
}

TURBOLM_AVX512_BF16 void pack_a(const GemmArgs& a, void* ap, int64_t panel_bytes, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
        uint32_t* out = reinterpret_cast<uint32_t*>(static_cast<char*>(ap) + p * panel_bytes);
        const int64_t r0 = p * kMr, rows = std::min<int64_t>(kMr, a.m - r0);
        for (int64_t k0 = 0; k0 < a.k; k0 += 32) {
            __m512 v[16];
            for (int r = 0; r < 16; ++r)
                v[r] = r < rows ? _mm512_castsi512_ps(to_bf16x32(a.x + (r0 + r) * a.ldx + k0, a.k - k0))
                                : _mm512_setzero_ps();
            transpose16(v);
            // Overlapping stores, as in the f32 pack_a: lanes 14, 15 are overwritten by the next pair.
            const int64_t n = std::min<int64_t>(16, pairs(a.k - k0));
            for (int64_t c = 0; c < n; ++c) _mm512_storeu_ps(reinterpret_cast<float*>(out + (k0 / 2 + c) * kMr), v[c]);
        }
    }
}

// Weight block for columns [jc, jc + nb), k in [pc, pc + kb): strips of [pairs(kb)][32] words.
TURBOLM_AVX512_BF16 void pack_w(const GemmArgs& a, int64_t jc, int64_t nb, int64_t pc, int64_t kb, uint32_t* out) {
    const uint16_t* w = static_cast<const uint16_t*>(a.w);
    const int64_t kp = pairs(kb);
    for (int64_t s = 0; s * kNr < nb; ++s) {
        uint32_t* strip = out + s * kNr * kp;
        for (int h = 0; h < 2; ++h) {
            const int64_t c0 = s * kNr + h * 16;
            const int64_t rows = std::clamp<int64_t>(nb - c0, 0, 16);
            const uint16_t* src = w + (jc + c0) * a.ldw + pc;
            for (int64_t k0 = 0; k0 < kb; k0 += 32) {
                const __mmask32 m = mask32(kb - k0);
                __m512 v[16];
                for (int r = 0; r < 16; ++r)
                    v[r] = r < rows ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(m, src + r * a.ldw + k0))
                                    : _mm512_setzero_ps();
                transpose16(v);
                const int64_t n = std::min<int64_t>(16, pairs(kb - k0));
                for (int64_t c = 0; c < n; ++c)
                    _mm512_store_ps(reinterpret_cast<float*>(strip + (k0 / 2 + c) * kNr + h * 16), v[c]);
            }
        }
    }
}

template <int R>
TURBOLM_AVX512_BF16 void micro_kernel(const uint32_t* ap, const uint32_t* bp, int64_t kp, float* c, int64_t ldc,
                                      int cols, bool load_c, const float* bias) {
    __m512 c0[R], c1[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < kp; ++kk) {
        const __m512bh b0 = __m512bh(_mm512_load_si512(bp + kk * kNr));
        const __m512bh b1 = __m512bh(_mm512_load_si512(bp + kk * kNr + 16));
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const __m512bh av = __m512bh(_mm512_set1_epi32(int(ap[kk * kMr + r])));
            c0[r] = _mm512_dpbf16_ps(c0[r], av, b0);
            c1[r] = _mm512_dpbf16_ps(c1[r], av, b1);
        }
    }
    store_tile_32<R>(c0, c1, c, ldc, cols, load_c, bias);
}

using MicroKernel = void (*)(const uint32_t*, const uint32_t*, int64_t, float*, int64_t, int, bool, const float*);

template <size_t... I>
constexpr auto micro_kernel_table(std::index_sequence<I...>) {
    return std::array<MicroKernel, sizeof...(I)>{micro_kernel<int(I) + 1>...};
}
constexpr auto kMicroKernels = micro_kernel_table(std::make_index_sequence<kMr>());

void tiles(const GemmArgs& a, const void* ap, int64_t panel_bytes, int64_t p0, int64_t p1, int64_t j0, int64_t j1,
           void* w_scratch) {
    uint32_t* wb = static_cast<uint32_t*>(w_scratch);
    for (int64_t jc = j0; jc < j1; jc += kNc) {
        const int64_t nb = std::min(kNc, j1 - jc);
        for (int64_t pc = 0; pc < a.k; pc += kKc) {
            const int64_t kb = std::min(kKc, a.k - pc), kp = pairs(kb);
            pack_w(a, jc, nb, pc, kb, wb);
            const bool first = pc == 0;
            const bool load_c = !first || a.accumulate;
            const float* bias = first && a.bias ? a.bias + jc : nullptr;
            for (int64_t p = p0; p < p1; ++p) {
                const int64_t rows = std::min<int64_t>(kMr, a.m - p * kMr);
                const uint32_t* apan =
                    reinterpret_cast<const uint32_t*>(static_cast<const char*>(ap) + p * panel_bytes) + pc / 2 * kMr;
                float* c = a.y + p * kMr * a.ldy + jc;
                const MicroKernel kernel = kMicroKernels[rows - 1];
                for (int64_t jr = 0; jr < nb; jr += kNr)
                    kernel(apan, wb + jr * kp, kp, c + jr, a.ldy, int(std::min<int64_t>(kNr, nb - jr)), load_c,
                           bias ? bias + jr : nullptr);
            }
        }
    }
}

}  // namespace

const TileKernels kAvx512Bf16Tiles{kMr, kNr, a_panel_bytes, pack_a, w_scratch_bytes, tiles};

const KernelSet& avx512_bf16_kernels() {
    static const KernelSet set{"avx512bf16", 48, {x_row_bytes, prepare_x, rows}, kAvx512Bf16Tiles};
    return set;
}

}  // namespace turbolm::cpu::gemm_detail

#endif  // __x86_64__
