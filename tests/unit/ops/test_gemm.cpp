// cpu::gemm against a float64 reference on fresh random data (the seed is printed with every failure;
// TURBOLM_TEST_SEED=<n> replays a run), on every instruction-set level this CPU supports and on both
// paths (dot products and packed tiles), over shapes chosen to hit every edge of the blocking.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/half.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "ops/cpu/cpu_features.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/gemm_kernels.h"

namespace turbolm::cpu {
namespace {

using gemm_detail::GemmPath;

uint64_t run_seed() {
    static const uint64_t seed = [] {
        if (const char* env = std::getenv("TURBOLM_TEST_SEED")) return uint64_t(std::strtoull(env, nullptr, 10));
        return uint64_t(std::random_device{}()) << 32 | std::random_device{}();
    }();
    return seed;
}

std::vector<CpuIsa> supported_isas() {
    std::vector<CpuIsa> out;
    for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512, CpuIsa::kAvx512Bf16})
        if (isa <= detected_isa()) out.push_back(isa);
    return out;
}

// Restores the instruction-set cap, path and thread count whatever a test does.
class GemmTest : public ::testing::Test {
  protected:
    void TearDown() override {
        set_isa_cap(std::nullopt);
        gemm_detail::set_path_override(GemmPath::kAuto);
        set_num_threads(threads_);
    }
    int threads_ = num_threads();
};

struct Shape {
    int64_t m, n, k;
};

float round_to(float v, DType dt) {
    if (dt == DType::kBF16) return bf16_to_f32(f32_to_bf16(v));
    if (dt == DType::kF16) return f16_to_f32(f32_to_f16(v));
    return v;
}

// One problem: random operands with padded strides, and float64 references.
struct Problem {
    Shape s;
    DType dt;
    bool bias, accumulate;
    int64_t ldx, ldw, ldy;
    std::vector<float> x, b, y0;
    std::vector<uint16_t> w16;
    std::vector<float> w32;           // the weights as stored (f32 dtype) or widened (16-bit dtypes)
    std::vector<double> ref;          // exact products of x and the stored weights
    std::vector<double> ref_rounded;  // x rounded to the weight type first (kWeightType's definition)
    std::vector<double> ref_abs;      // sum of |terms|

    Problem(Shape shape, DType dtype, bool with_bias, bool acc, Rng& rng)
        : s(shape), dt(dtype), bias(with_bias), accumulate(acc) {
        // Strides: sometimes tight, sometimes padded by odd amounts (misaligned 16-bit rows).
        ldx = s.k + int64_t(rng.next_u64() % 3) * 7;
        ldw = s.k + int64_t(rng.next_u64() % 3) * 5;
        ldy = s.n + int64_t(rng.next_u64() % 3) * 3;
        x.resize(size_t(s.m * ldx));
        for (auto& v : x) v = rng.uniform_pm1();
        w32.assign(size_t(s.n * ldw), 0.0f);
        if (dt != DType::kF32) w16.resize(size_t(s.n * ldw));
        for (int64_t i = 0; i < s.n * ldw; ++i) {
            const float v = rng.uniform_pm1();
            if (dt == DType::kF32) {
                w32[i] = v;
            } else {
                w16[i] = dt == DType::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
                w32[i] = dt == DType::kBF16 ? bf16_to_f32(w16[i]) : f16_to_f32(w16[i]);
            }
        }
        if (bias) {
            b.resize(size_t(s.n));
            for (auto& v : b) v = rng.uniform_pm1();
        }
        y0.resize(size_t(s.m * ldy));
        for (auto& v : y0) v = rng.uniform_pm1();
        ref = reference(false);
        ref_rounded = reference(true);
        ref_abs = reference(false, true);
    }

    // y = x w^T + b (+ y0) in float64, with x as given or rounded to the weight type; also the same sum
    // of magnitudes, which bounds rounding errors.
    std::vector<double> reference(bool round_x, bool magnitude = false) const {
        std::vector<double> r(size_t(s.m * s.n));
        for (int64_t i = 0; i < s.m; ++i)
            for (int64_t j = 0; j < s.n; ++j) {
                double sum = bias ? b[j] : 0.0;
                if (magnitude) sum = std::abs(sum);
                for (int64_t c = 0; c < s.k; ++c) {
                    const float xv = round_x ? round_to(x[i * ldx + c], dt) : x[i * ldx + c];
                    const double t = double(xv) * double(w32[j * ldw + c]);
                    sum += magnitude ? std::abs(t) : t;
                }
                const double y = accumulate ? y0[i * ldy + j] : 0.0;
                r[i * s.n + j] = sum + (magnitude ? std::abs(y) : y);
            }
        return r;
    }

    const void* weights() const { return dt == DType::kF32 ? static_cast<const void*>(w32.data()) : w16.data(); }
};

// Poison: NaN where gemm must write, a sentinel in the row padding it must not touch.
constexpr float kSentinel = -12345.5f;

std::string describe(const Problem& p, MatmulPrecision prec, CpuIsa isa, GemmPath path) {
    static const char* paths[] = {"auto", "dot", "tiles"};
    return "seed " + std::to_string(run_seed()) + " m=" + std::to_string(p.s.m) + " n=" + std::to_string(p.s.n) +
           " k=" + std::to_string(p.s.k) + " ld=" + std::to_string(p.ldx) + "/" + std::to_string(p.ldw) + "/" +
           std::to_string(p.ldy) + " " + dtype_name(p.dt) + (prec == MatmulPrecision::kF32 ? " kF32" : " kWeightType") +
           (p.bias ? " bias" : "") + (p.accumulate ? " accumulate" : "") + " isa=" + isa_name(isa) +
           " path=" + paths[int(path)] + " threads=" + std::to_string(num_threads());
}

// Runs gemm once and checks: every output written and finite, padding untouched, the relative error
// (Frobenius norm of the difference over that of the reference) within tolerance, and every element within
// a worst-case rounding bound.
//
// The norm of a tiny output (one element, k = 1) can vanish by cancellation; the denominator is kept above a
// quarter of the typical norm of random data, |ref| ~ |sum of magnitudes| / sqrt(k).
void run_and_check(const Problem& p, MatmulPrecision prec, CpuIsa isa, GemmPath path) {
    set_isa_cap(isa);
    gemm_detail::set_path_override(path);
    std::vector<float> y(size_t(p.s.m * p.ldy));
    for (int64_t i = 0; i < p.s.m; ++i)
        for (int64_t j = 0; j < p.ldy; ++j)
            y[i * p.ldy + j] = j >= p.s.n     ? kSentinel
                               : p.accumulate ? p.y0[i * p.ldy + j]
                                              : std::numeric_limits<float>::quiet_NaN();
    gemm(p.x.data(), p.ldx, p.weights(), p.dt, p.ldw, p.bias ? p.b.data() : nullptr, y.data(), p.ldy, p.s.m, p.s.n,
         p.s.k, p.accumulate, prec);

    const bool rounded = prec == MatmulPrecision::kWeightType && p.dt != DType::kF32;
    // Worst-case bounds relative to the sum of magnitudes: f32 accumulation (k + 3 roundings), plus the
    // rounding of x (half an ulp of the weight type) when it is rounded.
    const double x_ulp = !rounded ? 0.0 : p.dt == DType::kBF16 ? 0x1p-8 : 0x1p-11;
    const double acc_bound = double(p.s.k + 3) * 0x1p-24;
    double err = 0, err_rounded = 0, norm = 0, norm_rounded = 0, norm_abs = 0;
    for (int64_t i = 0; i < p.s.m; ++i) {
        for (int64_t j = 0; j < p.ldy; ++j) {
            const float v = y[i * p.ldy + j];
            if (j >= p.s.n) {
                ASSERT_EQ(std::memcmp(&v, &kSentinel, 4), 0)
                    << "wrote past n at (" << i << ", " << j << "): " << describe(p, prec, isa, path);
                continue;
            }
            ASSERT_TRUE(std::isfinite(v))
                << "y(" << i << ", " << j << ") = " << v << ": " << describe(p, prec, isa, path);
            const double r = p.ref[i * p.s.n + j], rr = p.ref_rounded[i * p.s.n + j], ra = p.ref_abs[i * p.s.n + j];
            ASSERT_LE(std::abs(v - r), (acc_bound + x_ulp) * ra + 1e-30)
                << "y(" << i << ", " << j << ") = " << v << " vs " << r << ": " << describe(p, prec, isa, path);
            err += (v - r) * (v - r);
            norm += r * r;
            err_rounded += (v - rr) * (v - rr);
            norm_rounded += rr * rr;
            norm_abs += ra * ra;
        }
    }
    const double floor = 0.25 * std::sqrt(norm_abs / double(p.s.k)) + 1e-30;
    const double rel = std::sqrt(err) / std::max(std::sqrt(norm), floor);
    const double rel_rounded = std::sqrt(err_rounded) / std::max(std::sqrt(norm_rounded), floor);
    if (!rounded) {
        EXPECT_LE(rel, 1e-5) << describe(p, prec, isa, path);
    } else {
        // Against the stated definition (x rounded, f32 accumulation): f32-level agreement. Against exact f32
        // activations: the rounding of x, ~2^-9 relative for bf16. That one is a statistical statement, true of
        // the norm over many outputs; a handful can cancel and is covered by the bound checked above.
        EXPECT_LE(rel_rounded, 1e-5) << describe(p, prec, isa, path);
        if (p.s.m * p.s.n >= 16) {
            EXPECT_LE(rel, p.dt == DType::kBF16 ? 1e-2 : 1e-3) << describe(p, prec, isa, path);
        }
    }
}

void check_all(const std::vector<Shape>& shapes, const std::vector<GemmPath>& paths, uint64_t salt) {
    Rng rng(run_seed() ^ salt);
    for (const Shape& s : shapes) {
        for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
            const uint64_t r = rng.next_u64();
            Problem p(s, dt, r & 1, r & 2, rng);
            for (MatmulPrecision prec : {MatmulPrecision::kF32, MatmulPrecision::kWeightType})
                for (CpuIsa isa : supported_isas())
                    for (GemmPath path : paths) {
                        run_and_check(p, prec, isa, path);
                        if (::testing::Test::HasFatalFailure()) return;
                    }
        }
    }
}

TEST_F(GemmTest, ReportsInstructionSets) {
    const CpuFeatures& f = cpu_features();
    std::printf("cpu: avx2+fma+f16c %d, avx512 %d, avx512_bf16 %d; testing", f.avx2_fma_f16c, f.avx512, f.avx512_bf16);
    for (CpuIsa isa : supported_isas()) std::printf(" %s", isa_name(isa));
    std::printf("; seed %llu\n", static_cast<unsigned long long>(run_seed()));
    for (CpuIsa isa : supported_isas()) EXPECT_EQ(parse_isa(isa_name(isa)), isa);
    EXPECT_EQ(parse_isa("avx512bf16"), CpuIsa::kAvx512Bf16);
    EXPECT_FALSE(parse_isa("sse9").has_value());
    set_isa_cap(CpuIsa::kScalar);
    EXPECT_EQ(active_isa(), CpuIsa::kScalar);
}

// Tiny and odd shapes: every remainder of the 14-row (AVX-512) and 6-row (AVX2) panels, many of the 32- and
// 16-column strips and of the vector widths along k, on both paths.
TEST_F(GemmTest, EdgeShapesEveryPath) {
    const std::vector<Shape> shapes = {
        {1, 1, 1},    {1, 1, 2},    {2, 3, 1},     {1, 7, 33},    {3, 5, 17},   {1, 17, 31}, {4, 9, 64},
        {5, 33, 15},  {6, 12, 300}, {7, 31, 65},   {8, 8, 100},   {9, 16, 47},  {10, 3, 40}, {11, 26, 9},
        {12, 50, 70}, {13, 47, 32}, {14, 32, 63},  {15, 65, 16},  {16, 1, 129}, {17, 2, 7},  {26, 5, 24},
        {28, 40, 33}, {29, 63, 95}, {33, 20, 200}, {43, 100, 48},
    };
    check_all(shapes, {GemmPath::kDot, GemmPath::kTiles}, 1);
}

// Shapes that cross the cache blocks (k beyond the dot path's 1024 / 2048 and the tile path's 256 / 512
// values, n beyond 512 columns), several panels and both threads, on the path gemm picks by itself and on the
// tile path.
TEST_F(GemmTest, BlockedShapes) {
    const std::vector<Shape> shapes = {{1, 600, 1100}, {3, 70, 1030}, {5, 24, 2100}, {2, 9, 4200},
                                       {30, 530, 40},  {64, 96, 520}, {47, 33, 777}};
    check_all(shapes, {GemmPath::kAuto, GemmPath::kTiles}, 2);
}

// The same problem on 1 and 3 threads (uneven splits of rows and columns) agrees bit for bit.
TEST_F(GemmTest, ThreadCountDoesNotChangeResults) {
    Rng rng(run_seed() ^ 3);
    for (Shape s : {Shape{1, 301, 96}, Shape{5, 77, 64}, Shape{45, 150, 70}}) {
        Problem p(s, DType::kBF16, true, false, rng);
        for (MatmulPrecision prec : {MatmulPrecision::kF32, MatmulPrecision::kWeightType}) {
            std::vector<float> y1(size_t(s.m * p.ldy), 0.0f), y3(size_t(s.m * p.ldy), 0.0f);
            set_num_threads(1);
            gemm(p.x.data(), p.ldx, p.weights(), p.dt, p.ldw, p.b.data(), y1.data(), p.ldy, s.m, s.n, s.k, false, prec);
            set_num_threads(3);
            gemm(p.x.data(), p.ldx, p.weights(), p.dt, p.ldw, p.b.data(), y3.data(), p.ldy, s.m, s.n, s.k, false, prec);
            EXPECT_EQ(std::memcmp(y1.data(), y3.data(), y1.size() * 4), 0) << "m=" << s.m << " seed " << run_seed();
            run_and_check(p, prec, detected_isa(), GemmPath::kAuto);
        }
    }
}

TEST_F(GemmTest, EmptyKGivesBias) {
    std::vector<float> b = {1.5f, -2.0f}, y = {10.0f, 20.0f, 30.0f, 40.0f};
    gemm(nullptr, 0, nullptr, DType::kBF16, 0, b.data(), y.data(), 2, 2, 2, 0, true, MatmulPrecision::kF32);
    EXPECT_EQ(y, (std::vector<float>{11.5f, 18.0f, 31.5f, 38.0f}));
    gemm(nullptr, 0, nullptr, DType::kBF16, 0, nullptr, y.data(), 2, 2, 2, 0, false, MatmulPrecision::kF32);
    EXPECT_EQ(y, (std::vector<float>{0, 0, 0, 0}));
}

TEST_F(GemmTest, RejectsBadArguments) {
    float x[4] = {}, w[4] = {}, y[4] = {};
    EXPECT_ANY_THROW(gemm(x, 2, w, DType::kI8, 2, nullptr, y, 2, 2, 2, 2, false, MatmulPrecision::kF32));
    EXPECT_ANY_THROW(gemm(x, 1, w, DType::kF32, 2, nullptr, y, 2, 2, 2, 2, false, MatmulPrecision::kF32));
    EXPECT_ANY_THROW(gemm(x, 2, w, DType::kF32, 2, nullptr, y, 2, -1, 2, 2, false, MatmulPrecision::kF32));
}

}  // namespace
}  // namespace turbolm::cpu
