// The gemm driver: checks arguments, picks the kernel set for the active instruction set and the path for
// the shape (dot products for small m, packed tiles for larger m), provides scratch and spreads the work
// over num_threads() threads.
#include "ops/cpu/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>

#include "core/error.h"
#include "core/parallel.h"
#include "ops/cpu/cpu_features.h"
#include "ops/cpu/gemm_kernels.h"

namespace turbolm::cpu {
namespace gemm_detail {
namespace {

std::atomic<GemmPath> g_path{GemmPath::kAuto};

// Grow-only, 64-byte aligned scratch owned by the calling thread (packed activations and the worker
// threads' weight blocks). Kept between calls: allocating and faulting in megabytes per call would cost
// as much as a small matmul.
struct Scratch {
    struct Free {
        void operator()(void* p) const { std::free(p); }
    };
    std::unique_ptr<void, Free> data;
    size_t bytes = 0;

    void* get(size_t need) {
        if (need > bytes) {
            data.reset();
            bytes = (need + 4095) / 4096 * 4096;
            data.reset(std::aligned_alloc(64, bytes));
            if (!data) fail(StatusCode::kResourceExhausted, "gemm: cannot allocate ", bytes, " bytes of scratch");
        }
        return data.get();
    }
};

Scratch& thread_scratch() {
    thread_local Scratch scratch;
    return scratch;
}

int64_t ceil_div(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}
int64_t round_up(int64_t a, int64_t b) {
    return ceil_div(a, b) * b;
}

// Enough multiply-adds per chunk that waking a second thread pays off.
constexpr int64_t kMinMacsPerChunk = int64_t(1) << 16;

void run_dot(const GemmArgs& a, const KernelSet& ks) {
    const int64_t row_bytes = ks.dot.x_row_bytes(a.k);
    void* xp = thread_scratch().get(size_t(a.m * row_bytes));
    const int64_t row_grain = std::max<int64_t>(1, kMinMacsPerChunk / a.k);
    parallel_for(a.m, row_grain, [&](int64_t i0, int64_t i1) { ks.dot.prepare_x(a, xp, row_bytes, i0, i1); });
    // Columns go out in blocks of 8 so that every thread starts on a whole register block.
    constexpr int64_t kCols = 8;
    const int64_t blocks = ceil_div(a.n, kCols);
    const int64_t grain = std::max<int64_t>(1, kMinMacsPerChunk / (kCols * a.m * a.k));
    parallel_for(blocks, grain,
                 [&](int64_t b0, int64_t b1) { ks.dot.rows(a, xp, row_bytes, b0 * kCols, std::min(a.n, b1 * kCols)); });
}

void run_tiles(const GemmArgs& a, const KernelSet& ks) {
    const TileKernels& t = ks.tile;
    const int64_t panels = ceil_div(a.m, t.mr), col_blocks = ceil_div(a.n, t.nr);
    const int64_t panel_bytes = t.a_panel_bytes(a.k);
    const int64_t w_bytes = round_up(t.w_scratch_bytes(), 64);

    // Workers form a grid: columns first (each worker then packs only its own weights), rows when there
    // are too few column blocks to go round.
    const int64_t macs = a.m * a.n * a.k;
    const int64_t threads =
        std::max<int64_t>(1, std::min<int64_t>(num_threads(), ceil_div(macs, 4 * kMinMacsPerChunk)));
    const int64_t col_parts = std::min(threads, col_blocks);
    const int64_t row_parts = std::max<int64_t>(1, std::min(threads / col_parts, panels));
    const int64_t workers = col_parts * row_parts;

    char* scratch = static_cast<char*>(thread_scratch().get(size_t(panels * panel_bytes + workers * w_bytes)));
    char* ap = scratch;
    char* wbufs = scratch + panels * panel_bytes;
    parallel_for(panels, std::max<int64_t>(1, kMinMacsPerChunk / (t.mr * a.k)),
                 [&](int64_t p0, int64_t p1) { t.pack_a(a, ap, panel_bytes, p0, p1); });
    parallel_for(workers, 1, [&](int64_t w0, int64_t w1) {
        for (int64_t w = w0; w < w1; ++w) {
            const int64_t rp = w / col_parts, cp = w % col_parts;
            const int64_t p0 = panels * rp / row_parts, p1 = panels * (rp + 1) / row_parts;
            const int64_t c0 = col_blocks * cp / col_parts, c1 = col_blocks * (cp + 1) / col_parts;
            if (p0 < p1 && c0 < c1)
                t.tiles(a, ap, panel_bytes, p0, p1, c0 * t.nr, std::min(a.n, c1 * t.nr), wbufs + w * w_bytes);
        }
    });
}

// k == 0: the sum is empty, y gets the bias (or keeps its value plus the bias).
void run_empty_k(const GemmArgs& a) {
    for (int64_t i = 0; i < a.m; ++i) {
        float* y = a.y + i * a.ldy;
        for (int64_t j = 0; j < a.n; ++j) y[j] = (a.accumulate ? y[j] : 0.0f) + (a.bias ? a.bias[j] : 0.0f);
    }
}

}  // namespace

void set_path_override(GemmPath path) {
    g_path.store(path, std::memory_order_relaxed);
}

const KernelSet& select_kernels(DType w_dtype, bool weight_type_precision, XRound* round) {
    const CpuIsa isa = active_isa();
    *round = XRound::kNone;
#if defined(__x86_64__)
    if (weight_type_precision && w_dtype == DType::kBF16 && isa >= CpuIsa::kAvx512Bf16) return avx512_bf16_kernels();
#endif
    if (weight_type_precision && w_dtype == DType::kBF16) *round = XRound::kBf16;
    if (weight_type_precision && w_dtype == DType::kF16) *round = XRound::kF16;
#if defined(__x86_64__)
    if (isa >= CpuIsa::kAvx512) return avx512_kernels();
    if (isa >= CpuIsa::kAvx2) return avx2_kernels();
#endif
    return scalar_kernels();
}

}  // namespace gemm_detail

void gemm(const float* x, int64_t ldx, const void* w, DType w_dtype, int64_t ldw, const float* bias, float* y,
          int64_t ldy, int64_t m, int64_t n, int64_t k, bool accumulate, MatmulPrecision precision) {
    using namespace gemm_detail;
    TURBOLM_REQUIRE(m >= 0 && n >= 0 && k >= 0, "gemm: negative size m=", m, " n=", n, " k=", k);
    TURBOLM_REQUIRE(w_dtype == DType::kF32 || w_dtype == DType::kBF16 || w_dtype == DType::kF16,
                    "gemm: weights must be f32, bf16 or f16, got ", dtype_name(w_dtype));
    TURBOLM_REQUIRE(m <= 1 || ldx >= k, "gemm: ldx ", ldx, " < k ", k);
    TURBOLM_REQUIRE(n <= 1 || ldw >= k, "gemm: ldw ", ldw, " < k ", k);
    TURBOLM_REQUIRE(m <= 1 || ldy >= n, "gemm: ldy ", ldy, " < n ", n);
    if (m == 0 || n == 0) return;
    TURBOLM_REQUIRE(y != nullptr && (k == 0 || (x != nullptr && w != nullptr)), "gemm: null pointer");

    GemmArgs a{x, ldx, w, w_dtype, ldw, bias, y, ldy, m, n, k, accumulate, XRound::kNone};
    if (k == 0) return run_empty_k(a);
    const KernelSet& ks = select_kernels(w_dtype, precision == MatmulPrecision::kWeightType, &a.round);

    const GemmPath path = g_path.load(std::memory_order_relaxed);
    bool dot = m <= ks.small_m_max;
    if (path != GemmPath::kAuto) dot = path == GemmPath::kDot;
    if (!ks.tile.tiles) dot = true;
    if (dot)
        run_dot(a, ks);
    else
        run_tiles(a, ks);
}

}  // namespace turbolm::cpu
