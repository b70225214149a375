// Internal interface between the gemm driver (gemm.cpp: checks, path choice, scratch, threads) and the
// per-instruction-set kernels (gemm_scalar.cpp, gemm_avx2.cpp, gemm_avx512.cpp, gemm_avx512_bf16.cpp).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace turbolm::cpu::gemm_detail {

// What happens to activations before they meet the weights on an f32-product path.
//   kNone: stay f32.  kBf16 / kF16: rounded to nearest even in that type, then widened back to f32, which
//   gives exactly kWeightType's products (two 16-bit values multiply exactly in f32).
enum class XRound : uint8_t { kNone, kBf16, kF16 };

struct GemmArgs {
    const float* x;  // [m, k], row stride ldx
    int64_t ldx;
    const void* w;  // [n, k] in w_dtype, row stride ldw
    DType w_dtype;
    int64_t ldw;
    const float* bias;  // [n] or null
    float* y;           // [m, n], row stride ldy
    int64_t ldy;
    int64_t m, n, k;
    bool accumulate;
    XRound round;
};

// Row stride for prepared activations: whole 64-byte lines, an odd number of them. Rows a power of two
// apart (4 KiB for 2048 bf16 values) would all map to the same L1 set, and the activation rows and weight
// rows that a dot-path step reads together would evict each other.
constexpr int64_t odd_lines(int64_t bytes) {
    const int64_t lines = (bytes + 63) / 64;
    return (lines | 1) * 64;
}

// Small-m path: every x row is prepared once (rounded, zero-padded, reordered the way the kernel reads it)
// into rows of x_row_bytes(k) bytes; then each thread computes columns [j0, j1) of all m rows, reading each
// weight row once from memory.
struct DotKernels {
    int64_t (*x_row_bytes)(int64_t k);
    void (*prepare_x)(const GemmArgs& a, void* xp, int64_t row_bytes, int64_t i0, int64_t i1);
    void (*rows)(const GemmArgs& a, const void* xp, int64_t row_bytes, int64_t j0, int64_t j1);
};

// Blocked path: x is packed once into panels of mr rows (a_panel_bytes(k) each); each thread then covers
// panels [p0, p1) x columns [j0, j1) (j0 a multiple of nr), packing weight blocks into its own scratch of
// w_scratch_bytes() and running the register-blocked micro-kernel.
struct TileKernels {
    int mr = 0, nr = 0;
    int64_t (*a_panel_bytes)(int64_t k) = nullptr;
    void (*pack_a)(const GemmArgs& a, void* ap, int64_t panel_bytes, int64_t p0, int64_t p1) = nullptr;
    int64_t (*w_scratch_bytes)() = nullptr;
    void (*tiles)(const GemmArgs& a, const void* ap, int64_t panel_bytes, int64_t p0, int64_t p1, int64_t j0,
                  int64_t j1, void* w_scratch) = nullptr;
};

struct KernelSet {
    const char* name;
    int64_t small_m_max;  // m <= small_m_max takes the dot path (always, when tile.tiles is null)
    DotKernels dot;
    TileKernels tile;
};

// f32 products (weights widened; x rounded per GemmArgs::round).
const KernelSet& scalar_kernels();
const KernelSet& avx2_kernels();
const KernelSet& avx512_kernels();
// x rounded to bf16 and multiplied with vdpbf16ps; bf16 weights only, round ignored.
const KernelSet& avx512_bf16_kernels();

// Which path gemm takes; tests force each one to cover every kernel on every shape.
enum class GemmPath : uint8_t { kAuto, kDot, kTiles };
void set_path_override(GemmPath path);

// The kernel set gemm would use for this call on the active instruction set.
const KernelSet& select_kernels(DType w_dtype, bool weight_type_precision, XRound* round);

}  // namespace turbolm::cpu::gemm_detail
