// The elementwise CUDA kernels that move and fill data (bias, add, convert, fills) and the argument
// checks of every launcher; see test_cuda_elementwise.cpp for the conventions.
#include "gpu/elementwise_test_util.h"

namespace turbolm {
namespace {

using namespace elementwise_test;

// ---- bias, add, convert ------------------------------------------------------------------------------

TEST_F(CudaElementwise, AddBiasMatchesReference) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t rows, cols, ldy;
    };
    for (const Case c :
         {Case{1, 64, 64}, Case{9, 1024, 1032}, Case{5, 131, 140}, Case{4, 1000, 1003}, Case{70000, 8, 8}}) {
        for (DType dt : kFloatTypes) {
            SCOPED_TRACE(::testing::Message()
                         << dtype_name(dt) << " rows " << c.rows << " cols " << c.cols << " ldy " << c.ldy);
            HostArray y(dt, size_t(c.rows * c.ldy));
            for (size_t i = 0; i < y.n; ++i) y.set(i, normal(0.0f, 2.0f));
            std::vector<float> b(size_t(c.cols));
            for (auto& v : b) v = normal();
            DeviceBuffer d_y(y), d_b(b);
            cuda::launch_add_bias(d_y.as(), dt, c.ldy, d_b.as<float>(), c.rows, c.cols, stream_);
            sync();
            const HostArray got = d_y.download(dt);
            Mismatches m;
            for (int64_t r = 0; r < c.rows; ++r) {
                for (int64_t i = 0; i < c.ldy; ++i) {
                    const size_t k = size_t(r * c.ldy + i);
                    if (i >= c.cols) {
                        if (!got.same_bits(k, y, k)) m.add(describe("padding written", k, got.get(k), y.get(k)));
                        continue;
                    }
                    // One f32 add, then one rounding to the dtype: exact.
                    check_value(m, "y", k, got.get(k), round_to(y.get(k) + b[size_t(i)], dt), 0.0f);
                }
            }
            EXPECT_EQ(m.count, 0) << m.first;
        }
    }
}

TEST_F(CudaElementwise, AddMatchesCpu) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t n, off_a, off_b, off_y;
        bool alias;  // y is a
    };
    for (const Case c :
         {Case{1, 0, 0, 0, false}, Case{7, 0, 0, 0, false}, Case{8, 0, 0, 0, false}, Case{100003, 0, 0, 0, false},
          Case{1000, 1, 0, 0, false}, Case{1000, 0, 3, 2, false}, Case{4099, 0, 0, 0, true}}) {
        SCOPED_TRACE(::testing::Message() << "n " << c.n << " offsets " << c.off_a << "/" << c.off_b << "/" << c.off_y
                                          << " alias " << c.alias);
        const size_t len = size_t(c.n + 8);  // room for the offsets
        std::vector<float> a(len), b(len);
        for (auto& v : a) v = normal();
        for (auto& v : b) v = normal();
        DeviceBuffer d_a(a), d_b(b), d_y(len * 4);
        d_y.poison();
        const float* pa = static_cast<const float*>(d_a.at(size_t(c.off_a), DType::kF32));
        const float* pb = static_cast<const float*>(d_b.at(size_t(c.off_b), DType::kF32));
        float* py = c.alias ? d_a.as<float>() + c.off_a : static_cast<float*>(d_y.at(size_t(c.off_y), DType::kF32));
        cuda::launch_add(pa, pb, py, c.n, stream_);
        sync();
        const HostArray got = c.alias ? d_a.download(DType::kF32) : d_y.download(DType::kF32);
        std::vector<float> ref(size_t(c.n));
        cpu::add(a.data() + c.off_a, b.data() + c.off_b, ref.data(), c.n);
        const int64_t off = c.alias ? c.off_a : c.off_y;
        Mismatches m;
        for (size_t k = 0; k < len; ++k) {
            const int64_t i = int64_t(k) - off;
            if (i < 0 || i >= c.n) {  // outside the range: untouched
                const bool kept = c.alias ? got.get(k) == a[k] : got.poisoned(k);
                if (!kept) m.add(describe("outside written", k, got.get(k), 0.0f));
                continue;
            }
            check_value(m, "y", k, got.get(k), ref[size_t(i)], 0.0f);
        }
        EXPECT_EQ(m.count, 0) << m.first;
    }
}

TEST_F(CudaElementwise, ConvertRoundsToNearestEven) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t n, off_src, off_dst;
    };
    for (const Case c : {Case{1, 0, 0}, Case{7, 0, 0}, Case{8, 0, 0}, Case{(1 << 16) + 3, 0, 0}, Case{1000, 1, 0},
                         Case{1000, 0, 1}, Case{1001, 3, 5}}) {
        for (DType src_dt : kFloatTypes) {
            for (DType dst_dt : kFloatTypes) {
                SCOPED_TRACE(::testing::Message() << dtype_name(src_dt) << " -> " << dtype_name(dst_dt) << " n " << c.n
                                                  << " offsets " << c.off_src << "/" << c.off_dst);
                const size_t len = size_t(c.n + 8);
                HostArray src(src_dt, len);
                for (size_t i = 0; i < len; ++i) {
                    // Ordinary values, values below f16's normal range (subnormal rounding), within f16's range.
                    const float v = i % 5 == 4 ? normal(0.0f, 1e-6f) : normal(0.0f, 100.0f);
                    src.set(i, std::clamp(v, -60000.0f, 60000.0f));
                }
                DeviceBuffer d_src(src), d_dst(len * dtype_size(dst_dt));
                d_dst.poison();
                cuda::launch_convert(d_src.at(size_t(c.off_src), src_dt), src_dt, d_dst.at(size_t(c.off_dst), dst_dt),
                                     dst_dt, c.n, stream_);
                sync();
                const HostArray got = d_dst.download(dst_dt);
                HostArray want(dst_dt, len);
                Mismatches m;
                for (size_t k = 0; k < len; ++k) {
                    const int64_t i = int64_t(k) - c.off_dst;
                    if (i < 0 || i >= c.n) {
                        if (!got.poisoned(k)) m.add(describe("outside written", k, got.get(k), 0.0f));
                        continue;
                    }
                    want.set(k, src.get(size_t(i + c.off_src)));  // the host's round-to-nearest-even
                    if (!got.same_bits(k, want, k)) m.add(describe("dst", k, got.get(k), want.get(k)));
                }
                EXPECT_EQ(m.count, 0) << m.first;
            }
        }
    }
}

// ---- fills -----------------------------------------------------------------------------------

TEST_F(CudaElementwise, FillUniformIsUniformAndDeterministic) {
    SCOPED_TRACE(seed_text());
    const int64_t n = (1 << 20) + 5;  // not a multiple of 8: a partial last chunk
    struct Range {
        float lo, hi;
    };
    for (const Range range : {Range{-1.0f, 1.0f}, Range{0.5f, 2.0f}, Range{-0.02f, 0.03f}}) {
        for (DType dt : kFloatTypes) {
            SCOPED_TRACE(::testing::Message() << dtype_name(dt) << " [" << range.lo << ", " << range.hi << ")");
            const uint64_t fill_seed = rng_();
            DeviceBuffer d_a(size_t(n) * dtype_size(dt)), d_b(size_t(n) * dtype_size(dt)),
                d_c(size_t(n) * dtype_size(dt)), d_u(size_t(n) * dtype_size(dt));
            d_u.poison();
            cuda::launch_fill_uniform(d_a.as(), dt, n, range.lo, range.hi, fill_seed, stream_);
            cuda::launch_fill_uniform(d_b.as(), dt, n, range.lo, range.hi, fill_seed, stream_);
            cuda::launch_fill_uniform(d_c.as(), dt, n, range.lo, range.hi, fill_seed + 1, stream_);
            // Starting one element in (unaligned: scalar path): element i of the fill is element i of d_a.
            cuda::launch_fill_uniform(d_u.at(1, dt), dt, n - 1, range.lo, range.hi, fill_seed, stream_);
            sync();
            const HostArray a = d_a.download(dt), b = d_b.download(dt), cc = d_c.download(dt), u = d_u.download(dt);

            // Rounding is monotonic, so lo <= v < hi in f32 becomes round(lo) <= v <= round(hi).
            const float lo = round_to(range.lo, dt), hi = round_to(range.hi, dt);
            constexpr int kBins = 16;
            std::vector<int64_t> bins(kBins, 0);
            double sum = 0.0, sum_sq = 0.0;
            int64_t out_of_range = 0, differ = 0, same_as_other_seed = 0, unaligned_differ = 0;
            for (int64_t i = 0; i < n; ++i) {
                const float v = a.get(size_t(i));
                const bool in_range = dt == DType::kF32 ? (v >= lo && v < hi) : (v >= lo && v <= hi);
                if (!std::isfinite(v) || !in_range) ++out_of_range;
                sum += v;
                sum_sq += double(v) * v;
                const int bin = int((double(v) - range.lo) / (double(range.hi) - range.lo) * kBins);
                ++bins[size_t(std::clamp(bin, 0, kBins - 1))];
                if (!a.same_bits(size_t(i), b, size_t(i))) ++differ;
                if (a.same_bits(size_t(i), cc, size_t(i))) ++same_as_other_seed;
                if (i + 1 < n && !u.same_bits(size_t(i + 1), a, size_t(i))) ++unaligned_differ;
            }
            EXPECT_TRUE(u.poisoned(0)) << "wrote before dst";
            EXPECT_EQ(out_of_range, 0);
            EXPECT_EQ(differ, 0) << "same seed, different values";
            EXPECT_EQ(unaligned_differ, 0) << "values depend on the alignment of dst";
            EXPECT_LT(same_as_other_seed, n / 20) << "seed and seed + 1 give nearly the same values";

            const double width = double(range.hi) - range.lo;
            const double mean = sum / double(n), var = sum_sq / double(n) - mean * mean;
            // 6 standard errors of the mean, plus a little for the 16-bit rounding of the values.
            const double mean_tol = 6.0 * width / std::sqrt(12.0 * double(n)) + 2e-3 * width;
            EXPECT_NEAR(mean, 0.5 * (double(range.lo) + range.hi), mean_tol);
            EXPECT_NEAR(var, width * width / 12.0, 0.02 * width * width / 12.0);
            // Each bin gets 1/16 of the values (16-bit rounding moves the bin edges by up to ~3%).
            for (int k = 0; k < kBins; ++k)
                EXPECT_NEAR(double(bins[size_t(k)]), double(n) / kBins, 0.08 * double(n) / kBins) << "bin " << k;
        }
    }
}

TEST_F(CudaElementwise, FillConstant) {
    SCOPED_TRACE(seed_text());
    for (const int64_t n : {int64_t(1), int64_t(13), int64_t(100003)}) {
        for (const int64_t off : {int64_t(0), int64_t(1)}) {
            for (DType dt : kFloatTypes) {
                SCOPED_TRACE(::testing::Message() << dtype_name(dt) << " n " << n << " offset " << off);
                const float value = normal();
                const size_t len = size_t(n + 8);
                DeviceBuffer d(len * dtype_size(dt));
                d.poison();
                cuda::launch_fill_constant(d.at(size_t(off), dt), dt, n, value, stream_);
                sync();
                const HostArray got = d.download(dt);
                HostArray want(dt, 1);
                want.set(0, value);
                Mismatches m;
                for (size_t k = 0; k < len; ++k) {
                    const int64_t i = int64_t(k) - off;
                    if (i < 0 || i >= n) {
                        if (!got.poisoned(k)) m.add(describe("outside written", k, got.get(k), 0.0f));
                    } else if (!got.same_bits(k, want, 0)) {
                        m.add(describe("dst", k, got.get(k), want.get(0)));
                    }
                }
                EXPECT_EQ(m.count, 0) << m.first;
            }
        }
    }
}

// ---- argument checks (no GPU needed: they fail before any CUDA call) ------------------------------

template <typename Fn>
void expect_invalid_argument(const char* op, Fn&& fn) {
    try {
        fn();
        ADD_FAILURE() << op << " accepted a bad argument";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), StatusCode::kInvalidArgument) << e.what();
        EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << e.what();
    }
}

TEST(CudaElementwiseArgs, BadDtypesAndShapesAreRejected) {
    expect_invalid_argument("launch_embedding", [] {
        cuda::launch_embedding(nullptr, 1, nullptr, DType::kI32, 0, 8, 8, nullptr, 8, false, nullptr);
    });
    expect_invalid_argument("launch_rms_norm", [] {
        cuda::launch_rms_norm(nullptr, 8, nullptr, 1e-5f, nullptr, DType::kF64, 8, 1, 8, nullptr);
    });
    expect_invalid_argument("launch_layer_norm", [] {
        cuda::launch_layer_norm(nullptr, 8, nullptr, nullptr, 1e-5f, nullptr, DType::kI8, 8, 1, 8, nullptr);
    });
    expect_invalid_argument("launch_act_mul", [] {
        cuda::launch_act_mul(Activation::kSilu, nullptr, 8, nullptr, 8, nullptr, 8, 1, 8, DType::kF32, nullptr);
    });
    expect_invalid_argument("launch_act_inplace", [] {
        cuda::launch_act_inplace(Activation::kRelu, nullptr, 8, 1, 8, DType::kF32, nullptr);
    });
    expect_invalid_argument("launch_add_bias",
                            [] { cuda::launch_add_bias(nullptr, DType::kI32, 8, nullptr, 1, 8, nullptr); });
    expect_invalid_argument("launch_convert",
                            [] { cuda::launch_convert(nullptr, DType::kF8E4M3, nullptr, DType::kF32, 8, nullptr); });
    expect_invalid_argument("launch_fill_uniform",
                            [] { cuda::launch_fill_uniform(nullptr, DType::kI64, 8, 0.0f, 1.0f, 1, nullptr); });
    expect_invalid_argument("launch_fill_uniform", [] {
        cuda::launch_fill_uniform(nullptr, DType::kF32, 8, 1.0f, 0.0f, 1, nullptr);  // lo > hi
    });
    expect_invalid_argument("launch_fill_constant",
                            [] { cuda::launch_fill_constant(nullptr, DType::kU8, 8, 0.0f, nullptr); });
    cuda::QkvRopeParams p;
    p.n_tokens = 1;
    p.n_head = 2;
    p.n_head_kv = 1;
    p.head_dim = 64;
    expect_invalid_argument("launch_qkv_rope", [&] {
        cuda::launch_qkv_rope(nullptr, 256, p, DType::kF32, nullptr, nullptr, nullptr, nullptr);
    });
    p.rot_dim = 63;  // odd
    expect_invalid_argument("launch_qkv_rope", [&] {
        cuda::launch_qkv_rope(nullptr, 256, p, DType::kBF16, nullptr, nullptr, nullptr, nullptr);
    });
    p.rot_dim = 0;
    expect_invalid_argument("launch_qkv_rope", [&] {  // ldqkv shorter than the fused row
        cuda::launch_qkv_rope(nullptr, 255, p, DType::kBF16, nullptr, nullptr, nullptr, nullptr);
    });
}

TEST(CudaElementwiseArgs, EmptyLaunchesDoNothing) {
    // Nothing is enqueued, so null pointers and no GPU are fine.
    cuda::launch_embedding(nullptr, 0, nullptr, DType::kBF16, 0, 8, 8, nullptr, 8, true, nullptr);
    cuda::launch_rms_norm(nullptr, 8, nullptr, 1e-5f, nullptr, DType::kF32, 8, 0, 8, nullptr);
    cuda::launch_layer_norm(nullptr, 8, nullptr, nullptr, 1e-5f, nullptr, DType::kBF16, 8, 0, 8, nullptr);
    cuda::launch_act_mul(Activation::kGeluTanh, nullptr, 8, nullptr, 8, nullptr, 8, 0, 8, DType::kF16, nullptr);
    cuda::launch_act_inplace(Activation::kSilu, nullptr, 8, 0, 8, DType::kBF16, nullptr);
    cuda::launch_add_bias(nullptr, DType::kF16, 8, nullptr, 0, 8, nullptr);
    cuda::launch_convert(nullptr, DType::kF32, nullptr, DType::kBF16, 0, nullptr);
    cuda::launch_fill_uniform(nullptr, DType::kBF16, 0, -1.0f, 1.0f, 7, nullptr);
    cuda::launch_fill_constant(nullptr, DType::kF32, 0, 1.0f, nullptr);
    cuda::launch_add(nullptr, nullptr, nullptr, 0, nullptr);
    cuda::QkvRopeParams p;
    p.head_dim = 64;
    p.n_head = 2;
    cuda::launch_qkv_rope(nullptr, 128, p, DType::kBF16, nullptr, nullptr, nullptr, nullptr);
}

}  // namespace
}  // namespace turbolm
