// AVX-512 tile path (prefill, f32 products): BLIS-style blocking with a 14 x 32 register tile.
//
//   for each block of kNc weight rows (output columns)       <- per thread
//     for each block of kKc values of k
//       pack the weight block, widened to f32               (L2: kNc * kKc * 4 bytes)
//       for each panel of kMr activation rows               (packed once per call; the panel slice is L1-resident)
//         for each 32-column strip of the weight block      (streamed from L2)
//           14 x 32 micro-kernel: 28 zmm accumulators, 2 weight vectors, 1 broadcast
//
// The micro-kernel does 28 FMAs per k for 2 vector loads and 14 broadcasts, so it is bound by the FMA
// pipes (one zmm FMA per cycle on Zen 4, two on server Intel parts).
#include <algorithm>
#include <array>
#include <utility>

#include "ops/cpu/gemm_avx512_util.h"
#include "ops/cpu/gemm_tile_loop.h"

#if defined(__x86_64__)

namespace turbolm::cpu::gemm_detail {
namespace {

constexpr int kMr = 14;
constexpr int kNr = 32;
constexpr int64_t kKc = 256;
constexpr int64_t kNc = 512;

// Packed activations: one panel per kMr rows, laid out [k][kMr] f32 (rows past m are zero), plus slack for
// the overlapping stores of pack_a.
int64_t a_panel_bytes(int64_t k) {
    return (k * kMr * 4 + 64 + 63) / 64 * 64;
}

int64_t w_scratch_bytes() {
    return kNc * kKc * 4;
}

// Transposes 16 k-values of the panel's rows at a time and stores each k's 16 lanes at [k][0..15]; lanes
// 14 and 15 land on the next k's first two slots and are overwritten by the next store.
TURBOLM_AVX512 void pack_a(const GemmArgs& a, void* ap, int64_t panel_bytes, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
        float* out = reinterpret_cast<float*>(static_cast<char*>(ap) + p * panel_bytes);
        const int64_t r0 = p * kMr, rows = std::min<int64_t>(kMr, a.m - r0);
        for (int64_t k0 = 0; k0 < a.k; k0 += 16) {
            const __mmask16 m = mask16(a.k - k0);
            __m512 v[16];
            for (int r = 0; r < 16; ++r)
                v[r] = r < rows ? apply_round(_mm512_maskz_loadu_ps(m, a.x + (r0 + r) * a.ldx + k0), a.round)
                                : _mm512_setzero_ps();
            transpose16(v);
            const int64_t n = std::min<int64_t>(16, a.k - k0);
            for (int64_t c = 0; c < n; ++c) _mm512_storeu_ps(out + (k0 + c) * kMr, v[c]);
        }
    }
}

// Packed weight block for columns [jc, jc + nb) and k in [pc, pc + kb): one strip per 32 columns, each
// laid out [kb][32] f32 (columns past the block are zero). Rows are read 16 values at a time and
// transposed in registers.
template <DType WT>
TURBOLM_AVX512 void pack_w(const GemmArgs& a, int64_t jc, int64_t nb, int64_t pc, int64_t kb, float* out) {
    constexpr int64_t kSize = WT == DType::kF32 ? 4 : 2;
    const char* w = static_cast<const char*>(a.w);
    for (int64_t s = 0; s * kNr < nb; ++s) {
        float* strip = out + s * kNr * kb;
        for (int h = 0; h < 2; ++h) {
            const int64_t c0 = s * kNr + h * 16;
            const int64_t rows = std::clamp<int64_t>(nb - c0, 0, 16);
            const char* src = w + ((jc + c0) * a.ldw + pc) * kSize;
            for (int64_t k0 = 0; k0 < kb; k0 += 16) {
                const __mmask16 m = mask16(kb - k0);
                __m512 v[16];
                for (int r = 0; r < 16; ++r)
                    v[r] = r < rows ? load16_as_f32<WT>(src + (r * a.ldw + k0) * kSize, m) : _mm512_setzero_ps();
                transpose16(v);
                const int64_t n = std::min<int64_t>(16, kb - k0);
                for (int64_t c = 0; c < n; ++c) _mm512_store_ps(strip + (k0 + c) * kNr + h * 16, v[c]);
            }
        }
    }
}

// c[0..R, 0..cols) (+)= a_panel x b_strip (+ bias). a: [kb][kMr], b: [kb][32].
template <int R>
TURBOLM_AVX512 void micro_kernel(const float* ap, const float* bp, int64_t kb, float* c, int64_t ldc, int cols,
                                 bool load_c, const float* bias) {
    __m512 c0[R], c1[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < kb; ++kk) {
        const __m512 b0 = _mm512_load_ps(bp + kk * kNr);
        const __m512 b1 = _mm512_load_ps(bp + kk * kNr + 16);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const __m512 av = _mm512_set1_ps(ap[kk * kMr + r]);
            c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
        }
    }
    store_tile_32<R>(c0, c1, c, ldc, cols, load_c, bias);
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

const TileKernels kAvx512Tiles{kMr, kNr, a_panel_bytes, pack_a, w_scratch_bytes, tiles};

}  // namespace turbolm::cpu::gemm_detail

#endif  // __x86_64__
