// The blocked loop around an f32 register-tile micro-kernel, shared by the AVX2 and AVX-512 tiled paths
// (they differ only in tile sizes, packing and kernels). BLIS order: for each block of kNc weight rows
// and kKc of depth, pack the weights once, then run the kernel on every row panel of x and every
// kNr-wide strip of the block.
#pragma once

#include <algorithm>
#include <cstdint>

#include "ops/cpu/gemm_kernels.h"

namespace turbolm::cpu::gemm_detail {

// c[rows, cols] (+)= a_panel[kb, rows] . w_strip[kb, cols] (+ bias), rows <= kMr, cols <= kNr.
using F32MicroKernel = void (*)(const float* a_panel, const float* w_strip, int64_t kb, float* c, int64_t ldc,
                                int cols, bool load_c, const float* bias);

// kernels[r - 1] handles r rows; pack_w(jc, nb, pc, kb, wb) packs weight rows [jc, jc+nb), depth
// [pc, pc+kb) into kNr-wide strips of kb rows at wb.
template <int kMr, int kNr, int64_t kNc, int64_t kKc, typename PackW>
void f32_tile_loop(const GemmArgs& a, const void* ap, int64_t panel_bytes, int64_t p0, int64_t p1, int64_t j0,
                   int64_t j1, float* wb, const F32MicroKernel* kernels, PackW&& pack_w) {
    for (int64_t jc = j0; jc < j1; jc += kNc) {
        const int64_t nb = std::min(kNc, j1 - jc);
        for (int64_t pc = 0; pc < a.k; pc += kKc) {
            const int64_t kb = std::min(kKc, a.k - pc);
            pack_w(jc, nb, pc, kb, wb);
            const bool first = pc == 0;
            const bool load_c = !first || a.accumulate;
            const float* bias = first && a.bias ? a.bias + jc : nullptr;
            for (int64_t p = p0; p < p1; ++p) {
                const int64_t rows = std::min<int64_t>(kMr, a.m - p * kMr);
                const float* apan =
                    reinterpret_cast<const float*>(static_cast<const char*>(ap) + p * panel_bytes) + pc * kMr;
                float* c = a.y + p * kMr * a.ldy + jc;
                const F32MicroKernel kernel = kernels[rows - 1];
                for (int64_t jr = 0; jr < nb; jr += kNr)
                    kernel(apan, wb + jr * kb, kb, c + jr, a.ldy, int(std::min<int64_t>(kNr, nb - jr)), load_c,
                           bias ? bias + jr : nullptr);
            }
        }
    }
}

// Packs with the weight dtype's instantiation of a pack_w<DType> template.
#define TURBOLM_PACK_W_BY_DTYPE(a)                                                                     \
    [&](int64_t jc, int64_t nb, int64_t pc, int64_t kb, float* wb) {                                   \
        switch ((a).w_dtype) {                                                                         \
            case DType::kF32: pack_w<DType::kF32>(a, jc, nb, pc, kb, wb); break;                       \
            case DType::kF16: pack_w<DType::kF16>(a, jc, nb, pc, kb, wb); break;                       \
            default: pack_w<DType::kBF16>(a, jc, nb, pc, kb, wb); break;                               \
        }                                                                                              \
    }

}  // namespace turbolm::cpu::gemm_detail
