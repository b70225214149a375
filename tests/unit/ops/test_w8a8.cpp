// W8A8 on the CPU against computations done here from the contract in ops.h alone: the e4m3 rounding
// (every code, every midpoint, saturation, NaN, random floats against a brute-force nearest search),
// the per-row FP8 quantizer, and both products with the activations quantized by the contract's
// rules, decoded and multiplied in double. Outputs start as NaN unless accumulating. Seeds come from
// std::random_device and are printed on failure.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/half.h"
#include "ops/ops.h"
#include "support/random_tensors.h"

namespace turbolm {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// ---- e4m3 rounding -------------------------------------------------------------------------------

// The finite non-negative e4m3 values, codes 0x00..0x7e, in increasing order.
const std::vector<double>& positive_e4m3() {
    static const std::vector<double> values = [] {
        std::vector<double> v;
        for (int c = 0; c <= 0x7e; ++c) v.push_back(double(f8e4m3_to_f32(uint8_t(c))));
        return v;
    }();
    return values;
}

// The nearest finite code by search, ties to the even code. Saturation needs no rule of its own:
// 448 is the nearest finite value to anything larger.
uint8_t nearest_e4m3(float f) {
    if (std::isnan(f)) return 0x7f;
    const std::vector<double>& v = positive_e4m3();
    const double a = std::fabs(double(f));
    const int hi = int(std::lower_bound(v.begin(), v.end(), a) - v.begin());
    int code;
    if (hi == int(v.size())) {
        code = 0x7e;
    } else if (v[size_t(hi)] == a || hi == 0) {
        code = hi;
    } else {
        const double below = a - v[size_t(hi - 1)], above = v[size_t(hi)] - a;
        code = below < above ? hi - 1 : above < below ? hi : (hi % 2 == 0 ? hi : hi - 1);
    }
    return uint8_t((std::signbit(f) ? 0x80 : 0x00) | code);
}

TEST(Fp8E4m3, EveryCodeRoundTrips) {
    for (int c = 0; c < 256; ++c) {
        if ((c & 0x7f) == 0x7f) continue;  // NaN
        EXPECT_EQ(f32_to_f8e4m3(f8e4m3_to_f32(uint8_t(c))), c) << "code " << c;
    }
}

TEST(Fp8E4m3, MidpointsRoundToEven) {
    for (int c = 0; c < 0x7e; ++c) {
        const float lo = f8e4m3_to_f32(uint8_t(c)), hi = f8e4m3_to_f32(uint8_t(c + 1));
        const float mid = (lo + hi) / 2;  // exact: one more bit than the codes have
        const int even = c % 2 == 0 ? c : c + 1;
        EXPECT_EQ(f32_to_f8e4m3(mid), even) << "between codes " << c << " and " << c + 1;
        EXPECT_EQ(f32_to_f8e4m3(-mid), even | 0x80) << "between codes " << c << " and " << c + 1;
        EXPECT_EQ(f32_to_f8e4m3(std::nextafter(mid, 0.0f)), c) << "just below the midpoint above code " << c;
        EXPECT_EQ(f32_to_f8e4m3(std::nextafter(mid, 1e9f)), c + 1) << "just above the midpoint above code " << c;
    }
}

TEST(Fp8E4m3, SaturatesAndKeepsNan) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(f32_to_f8e4m3(448.0f), 0x7e);
    EXPECT_EQ(f32_to_f8e4m3(464.0f), 0x7e);  // the midpoint to the NaN code rounds to even, down
    EXPECT_EQ(f32_to_f8e4m3(std::nextafter(464.0f, inf)), 0x7e);
    EXPECT_EQ(f32_to_f8e4m3(1e9f), 0x7e);
    EXPECT_EQ(f32_to_f8e4m3(inf), 0x7e);
    EXPECT_EQ(f32_to_f8e4m3(-inf), 0xfe);
    EXPECT_EQ(f32_to_f8e4m3(-3e38f), 0xfe);
    EXPECT_EQ(f32_to_f8e4m3(kNaN), 0x7f);
    EXPECT_EQ(f32_to_f8e4m3(-kNaN), 0x7f);
    EXPECT_EQ(f32_to_f8e4m3(0.0f), 0x00);
    EXPECT_EQ(f32_to_f8e4m3(-0.0f), 0x80);
    EXPECT_EQ(f32_to_f8e4m3(-1e-30f), 0x80);
    EXPECT_EQ(f32_to_f8e4m3(std::ldexp(1.0f, -9)), 0x01);  // smallest subnormal
    EXPECT_EQ(f32_to_f8e4m3(std::ldexp(1.0f, -6)), 0x08);  // smallest normal
    EXPECT_EQ(f32_to_f8e4m3(std::ldexp(7.5f, -9)), 0x08);  // 7.5 subnormal steps round up into the normals
    EXPECT_EQ(f32_to_f8e4m3(1.0f), 0x38);
}

TEST(Fp8E4m3, MatchesTheNearestCodeOnRandomFloats) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
    std::uniform_int_distribution<int> exponent(-14, 10);
    for (int i = 0; i < 1'000'000; ++i) {
        // Half the draws are raw bit patterns (every exponent), half are in and around e4m3's range.
        float f;
        if (i % 2 == 0) {
            const uint32_t bits = uint32_t(rng());
            std::memcpy(&f, &bits, 4);
        } else {
            f = std::ldexp(mantissa(rng), exponent(rng)) * (rng() % 2 ? -1.0f : 1.0f);
        }
        ASSERT_EQ(f32_to_f8e4m3(f), nearest_e4m3(f)) << "f = " << f << " (" << std::hexfloat << f << ") seed " << seed;
    }
}

// ---- the quantizer and the products --------------------------------------------------------------

Tensor filled(int64_t rows, int64_t cols, float value) {
    Tensor t = Tensor::empty({rows, cols}, DType::kF32);
    std::fill(t.data<float>(), t.data<float>() + t.numel(), value);
    return t;
}

TEST(W8a8Cpu, Fp8RowsQuantizeByTheirLargestValue) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t rows = 37, cols = 200;
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
        Tensor w = random_matrix(rows, cols, rng, 0.02f);
        for (int64_t c = 0; c < cols; ++c) w.data<float>()[5 * cols + c] = 0.0f;  // an all-zero row
        w.data<float>()[9 * cols + 17] = -3.0f;                                   // an outlier
        const Tensor wd = w.to(dt), back = wd.to(DType::kF32);
        Tensor q = Tensor::empty({rows, cols}, DType::kF8E4M3), scale = Tensor::empty({rows}, DType::kF32);
        ops::quantize_rows_fp8(wd, q, scale);
        for (int64_t r = 0; r < rows; ++r) {
            SCOPED_TRACE(testing::Message() << dtype_name(dt) << " row " << r << " seed " << seed);
            const float* wr = back.data<float>() + r * cols;
            float absmax = 0.0f;
            for (int64_t c = 0; c < cols; ++c) absmax = std::max(absmax, std::fabs(wr[c]));
            const float s = r == 5 ? 1.0f : absmax / 448.0f;
            ASSERT_EQ(scale.data<float>()[r], s);
            float largest = 0.0f;
            for (int64_t c = 0; c < cols; ++c) {
                const uint8_t code = q.data<uint8_t>()[r * cols + c];
                ASSERT_EQ(code, f32_to_f8e4m3(wr[c] * (1.0f / s))) << "col " << c;
                const double v = double(f8e4m3_to_f32(code)) * s;
                largest = std::max(largest, std::fabs(f8e4m3_to_f32(code)));
                // Half an ulp: 2^-4 of the value for normals, 2^-10 * s below 2^-6 * s.
                EXPECT_LE(std::fabs(v - wr[c]), std::max(std::fabs(double(wr[c])) / 16.0, std::ldexp(double(s), -10)))
                    << "col " << c;
            }
            EXPECT_EQ(largest, r == 5 ? 0.0f : 448.0f);  // the largest value lands on the largest code
        }
    }
}

// The activations quantized by the contract: per token s = max|x| / 448 and e4m3(x * (1 / s)), or 127 and
// rint(x / s) clamped, with x' = x * inv_smooth for INT8. f32 arithmetic, as the contract's values are.
struct QuantizedRows {
    std::vector<double> values;  // the decoded codes (e4m3 values or int8 integers)
    std::vector<float> scale;
};

QuantizedRows quantize_fp8_reference(const Tensor& x) {
    const int64_t m = x.size(0), k = x.size(1);
    QuantizedRows out{std::vector<double>(size_t(m * k)), std::vector<float>(size_t(m))};
    for (int64_t t = 0; t < m; ++t) {
        const float* xt = x.data<float>() + t * k;
        float absmax = 0.0f;
        for (int64_t c = 0; c < k; ++c) absmax = std::max(absmax, std::fabs(xt[c]));
        const float s = absmax / 448.0f;
        out.scale[size_t(t)] = s;
        for (int64_t c = 0; c < k; ++c)
            out.values[size_t(t * k + c)] = s > 0.0f ? double(f8e4m3_to_f32(f32_to_f8e4m3(xt[c] * (1.0f / s)))) : 0.0;
    }
    return out;
}

QuantizedRows quantize_int8_reference(const Tensor& x, const Tensor& inv_smooth) {
    const int64_t m = x.size(0), k = x.size(1);
    QuantizedRows out{std::vector<double>(size_t(m * k)), std::vector<float>(size_t(m))};
    std::vector<float> row(static_cast<size_t>(k));
    for (int64_t t = 0; t < m; ++t) {
        float absmax = 0.0f;
        for (int64_t c = 0; c < k; ++c) {
            const float v = x.data<float>()[t * k + c];
            row[size_t(c)] = inv_smooth.defined() ? v * inv_smooth.data<float>()[c] : v;
            absmax = std::max(absmax, std::fabs(row[size_t(c)]));
        }
        const float s = absmax / 127.0f;
        out.scale[size_t(t)] = s;
        for (int64_t c = 0; c < k; ++c)
            out.values[size_t(t * k + c)] =
                s > 0.0f ? std::clamp(double(std::nearbyint(row[size_t(c)] / s)), -127.0, 127.0) : 0.0;
    }
    return out;
}

// ref[t, r] = (sum_c xq[t, c] w[r, c]) * xs[t] * ws[r] + b[r] + start[t, r] in double, and the magnitude
// of its terms, which bounds the f32 rounding of the product under test.
struct Expected {
    std::vector<double> value, magnitude;
};

Expected expected_product(const QuantizedRows& xq, const std::vector<double>& w, const Tensor& scale, const Tensor& b,
                          const Tensor& start, int64_t m, int64_t n, int64_t k) {
    Expected e{std::vector<double>(size_t(m * n)), std::vector<double>(size_t(m * n))};
    for (int64_t t = 0; t < m; ++t) {
        for (int64_t r = 0; r < n; ++r) {
            double sum = 0.0, mag = 0.0;
            for (int64_t c = 0; c < k; ++c) {
                const double p = xq.values[size_t(t * k + c)] * w[size_t(r * k + c)];
                sum += p;
                mag += std::fabs(p);
            }
            const double s = double(xq.scale[size_t(t)]) * double(scale.data<float>()[r]);
            const double bias = b.defined() ? double(b.data<float>()[r]) : 0.0;
            const double before = start.defined() ? double(start.data<float>()[t * n + r]) : 0.0;
            e.value[size_t(t * n + r)] = sum * s + bias + before;
            e.magnitude[size_t(t * n + r)] = mag * s + std::fabs(bias) + std::fabs(before);
        }
    }
    return e;
}

void expect_close(const Tensor& y, const Expected& e, double rel, const std::string& what) {
    for (int64_t i = 0; i < y.numel(); ++i) {
        const double got = y.data<float>()[i];
        ASSERT_LE(std::fabs(got - e.value[size_t(i)]), rel * e.magnitude[size_t(i)] + 1e-30)
            << what << " element " << i << ": got " << got << ", want " << e.value[size_t(i)];
    }
}

std::vector<double> decoded_fp8(const Tensor& q) {
    std::vector<double> v(size_t(q.numel()));
    for (int64_t i = 0; i < q.numel(); ++i) v[size_t(i)] = f8e4m3_to_f32(q.data<uint8_t>()[i]);
    return v;
}

std::vector<double> decoded_int8(const Tensor& q) {
    std::vector<double> v(size_t(q.numel()));
    for (int64_t i = 0; i < q.numel(); ++i) v[size_t(i)] = q.data<int8_t>()[i];
    return v;
}

TEST(W8a8Cpu, Fp8ProductEqualsTheQuantizedValuesMultipliedInDouble) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t m = 7, n = 33, k = 130;
    Tensor x = random_matrix(m, k, rng, 1.0f), w = random_matrix(n, k, rng, 0.05f);
    for (int64_t c = 0; c < k; ++c) x.data<float>()[3 * k + c] = 0.0f;  // a token of zeros: scale 0, output b
    x.data<float>()[5 * k + 11] = 40.0f;                                // a token with an outlier
    const Tensor b = random_matrix(1, n, rng, 1.0f).view({n});
    Tensor q = Tensor::empty({n, k}, DType::kF8E4M3), scale = Tensor::empty({n}, DType::kF32);
    ops::quantize_rows_fp8(w, q, scale);
    const QuantizedRows xq = quantize_fp8_reference(x);
    const std::vector<double> wq = decoded_fp8(q);
    for (bool with_bias : {false, true}) {
        for (bool accumulate : {false, true}) {
            const Tensor start = accumulate ? random_matrix(m, n, rng, 1.0f) : Tensor();
            Tensor y = accumulate ? start.to(DType::kF32) : filled(m, n, kNaN);  // a copy
            const Tensor bias = with_bias ? b : Tensor();
            ops::linear_fp8(x, q, scale, bias, y, accumulate);
            // f32 sums of exact products: 1e-5 of the terms' magnitude is far above their rounding.
            expect_close(y, expected_product(xq, wq, scale, bias, start, m, n, k), 1e-5,
                         str_cat("bias ", with_bias, " accumulate ", accumulate, " seed ", seed));
        }
    }
}

// The block quantizer by its contract: each 128 x 128 tile's largest magnitude / 448, codes the nearest
// e4m3 of w * (1 / s); an all-zero tile gets scale 1 and zero codes; bf16 input quantizes its values.
TEST(W8a8Cpu, Fp8BlocksQuantizeByTheirLargestValue) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t rows = 256, cols = 384, blk = ops::kFp8Block;
    Tensor w = random_matrix(rows, cols, rng, 0.02f);
    for (int64_t r = 128; r < 256; ++r)
        for (int64_t c = 256; c < 384; ++c) w.data<float>()[r * cols + c] = 0.0f;  // tile (1, 2) is zero
    w.data<float>()[5 * cols + 7] = 3.0f;                                          // an outlier in tile (0, 0)
    for (DType dt : {DType::kF32, DType::kBF16}) {
        const Tensor wt = w.to(dt), wf = wt.to(DType::kF32);
        Tensor q = Tensor::empty({rows, cols}, DType::kF8E4M3), scale = Tensor::empty({rows / blk, cols / blk}, DType::kF32);
        ops::quantize_blocks_fp8(wt, q, scale);
        for (int64_t i = 0; i < rows / blk; ++i)
            for (int64_t j = 0; j < cols / blk; ++j) {
                float m = 0.0f;
                for (int64_t r = i * blk; r < (i + 1) * blk; ++r)
                    for (int64_t c = j * blk; c < (j + 1) * blk; ++c) m = std::max(m, std::fabs(wf.data<float>()[r * cols + c]));
                const float s = m / 448.0f;
                ASSERT_EQ(scale.data<float>()[i * (cols / blk) + j], m > 0.0f ? s : 1.0f) << "tile " << i << ", " << j;
                for (int64_t r = i * blk; r < (i + 1) * blk; ++r)
                    for (int64_t c = j * blk; c < (j + 1) * blk; ++c)
                        ASSERT_EQ(q.data<uint8_t>()[r * cols + c],
                                  m > 0.0f ? nearest_e4m3(wf.data<float>()[r * cols + c] * (1.0f / s)) : uint8_t(0))
                            << dtype_name(dt) << " element " << r << ", " << c << " seed " << seed;
            }
    }
}

// The block-scaled product: every 128 columns of a token quantized on their own (the row quantizer's
// contract on a row of 128), each group's sum of decoded products scaled by its token's and its
// weight block's scales, in double.
TEST(W8a8Cpu, Fp8BlockProductEqualsTheQuantizedGroupsMultipliedInDouble) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t m = 5, n = 256, k = 384, g = k / ops::kFp8Block, blk = ops::kFp8Block;
    Tensor x = random_matrix(m, k, rng, 1.0f), w = random_matrix(n, k, rng, 0.05f);
    for (int64_t c = blk; c < 2 * blk; ++c) x.data<float>()[2 * k + c] = 0.0f;  // a group of zeros: scale 0
    x.data<float>()[4 * k + 300] = 40.0f;                                       // an outlier in one group
    Tensor q = Tensor::empty({n, k}, DType::kF8E4M3), row_scale = Tensor::empty({n}, DType::kF32);
    ops::quantize_rows_fp8(w, q, row_scale);  // any codes will do: the block scales below are the weight's
    Tensor scale = random_matrix(n / blk, g, rng, 1.0f);
    for (int64_t i = 0; i < scale.numel(); ++i) scale.data<float>()[i] = 0.5f + std::fabs(scale.data<float>()[i]);
    // Each token's groups as rows of 128, quantized by the row contract.
    Tensor groups = Tensor::empty({m * g, blk}, DType::kF32);
    for (int64_t t = 0; t < m; ++t)
        for (int64_t j = 0; j < g; ++j)
            for (int64_t c = 0; c < blk; ++c)
                groups.data<float>()[(t * g + j) * blk + c] = x.data<float>()[t * k + j * blk + c];
    const QuantizedRows xq = quantize_fp8_reference(groups);
    const std::vector<double> wq = decoded_fp8(q);
    const Tensor b = random_matrix(1, n, rng, 1.0f).view({n});
    for (bool accumulate : {false, true}) {
        const Tensor start = accumulate ? random_matrix(m, n, rng, 1.0f) : Tensor();
        Tensor y = accumulate ? start.to(DType::kF32) : filled(m, n, kNaN);
        ops::linear_fp8_block(x, q, scale, b, y, accumulate);
        for (int64_t t = 0; t < m; ++t)
            for (int64_t r = 0; r < n; ++r) {
                double want = double(b.data<float>()[r]) + (accumulate ? double(start.data<float>()[t * n + r]) : 0.0);
                double mag = std::fabs(want);
                for (int64_t j = 0; j < g; ++j) {
                    double sum = 0.0, sum_mag = 0.0;
                    for (int64_t c = 0; c < blk; ++c) {
                        const double p = xq.values[size_t((t * g + j) * blk + c)] * wq[size_t(r * k + j * blk + c)];
                        sum += p;
                        sum_mag += std::fabs(p);
                    }
                    const double sc = double(xq.scale[size_t(t * g + j)]) * scale.data<float>()[(r / blk) * g + j];
                    want += sum * sc;
                    mag += sum_mag * sc;
                }
                const double got = y.data<float>()[t * n + r];
                ASSERT_LE(std::fabs(got - want), 1e-5 * mag + 1e-30)
                    << "token " << t << " row " << r << " accumulate " << accumulate << " seed " << seed;
            }
    }
    // Widths off the blocks are refused.
    Tensor y = filled(m, n, kNaN);
    EXPECT_THROW(ops::linear_fp8_block(x.slice(1, 0, 200).contiguous(), q.slice(1, 0, 200).contiguous(), scale,
                                       Tensor(), y),
                 Error);
}

TEST(W8a8Cpu, Fp8TokensDoNotDependOnTheirBatch) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t m = 9, n = 20, k = 64;
    const Tensor x = random_matrix(m, k, rng, 1.0f), w = random_matrix(n, k, rng, 0.05f);
    Tensor q = Tensor::empty({n, k}, DType::kF8E4M3), scale = Tensor::empty({n}, DType::kF32);
    ops::quantize_rows_fp8(w, q, scale);
    Tensor all = filled(m, n, kNaN);
    ops::linear_fp8(x, q, scale, Tensor(), all);
    for (int64_t t = 0; t < m; ++t) {
        Tensor one = filled(1, n, kNaN);
        ops::linear_fp8(x.slice(0, t, t + 1), q, scale, Tensor(), one);
        EXPECT_EQ(std::memcmp(one.data<float>(), all.data<float>() + t * n, size_t(n) * 4), 0)
            << "token " << t << " seed " << seed;
    }
}

// Activations quantized by their producer (rms_norm_fp8, act_mul_fp8) are the producer's rows as
// quantize_rows_fp8 would make them, and their products are linear_fp8's of those rows.
TEST(W8a8Cpu, FusedActivationCodesAreTheRowsQuantized) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t m = 5, n = 24, k = 96;
    const Tensor x = random_matrix(m, k, rng, 2.0f), gate = random_matrix(m, k, rng, 1.0f),
                 up = random_matrix(m, k, rng, 1.0f), norm_w = random_matrix(1, k, rng, 1.0f).view({k});
    const Tensor w = random_matrix(n, k, rng, 0.05f);
    Tensor q = Tensor::empty({n, k}, DType::kF8E4M3), scale = Tensor::empty({n}, DType::kF32);
    ops::quantize_rows_fp8(w, q, scale);
    auto rows_then_product = [&](const Tensor& rows) {
        Tensor y = filled(m, n, kNaN);
        ops::linear_fp8(rows, q, scale, Tensor(), y);
        return y;
    };
    auto codes_then_product = [&](const Tensor& codes, const Tensor& scales) {
        Tensor y = filled(m, n, kNaN);
        ops::linear_fp8_codes(codes, scales, q, scale, Tensor(), y);
        return y;
    };
    Tensor normed = Tensor::empty({m, k}, DType::kF32), h = Tensor::empty({m, k}, DType::kF32);
    ops::rms_norm(x, norm_w, 1e-5f, normed);
    ops::act_mul(ops::Activation::kSilu, gate, up, h);
    Tensor codes = Tensor::empty({m, k}, DType::kF8E4M3), scales = Tensor::empty({m}, DType::kF32);
    Tensor want_codes = Tensor::empty({m, k}, DType::kF8E4M3), want_scales = Tensor::empty({m}, DType::kF32);

    ops::rms_norm_fp8(x, norm_w, 1e-5f, DType::kF32, codes, scales);
    ops::quantize_rows_fp8(normed, want_codes, want_scales);
    EXPECT_EQ(std::memcmp(codes.raw_data(), want_codes.raw_data(), size_t(m * k)), 0) << "seed " << seed;
    Tensor a = rows_then_product(normed), b = codes_then_product(codes, scales);
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), size_t(a.nbytes())), 0) << "seed " << seed;

    ops::act_mul_fp8(ops::Activation::kSilu, gate, up, codes, scales);
    ops::quantize_rows_fp8(h, want_codes, want_scales);
    EXPECT_EQ(std::memcmp(codes.raw_data(), want_codes.raw_data(), size_t(m * k)), 0) << "seed " << seed;
    a = rows_then_product(h);
    b = codes_then_product(codes, scales);
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), size_t(a.nbytes())), 0) << "seed " << seed;

    EXPECT_THROW(ops::rms_norm_fp8(x, norm_w, 1e-5f, DType::kBF16, codes, scales), Error);  // f32 rows on the CPU
    Tensor short_codes = Tensor::empty({m, k / 2}, DType::kF8E4M3);
    EXPECT_THROW(ops::act_mul_fp8(ops::Activation::kSilu, gate, up, short_codes, scales), Error);
}

TEST(W8a8Cpu, Int8ProductEqualsTheQuantizedValuesMultipliedInDouble) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t m = 5, n = 31, k = 96;
    Tensor x = random_matrix(m, k, rng, 1.0f);
    for (int64_t c = 0; c < k; ++c) x.data<float>()[2 * k + c] = 0.0f;  // a token of zeros
    const Tensor w = random_matrix(n, k, rng, 0.05f), b = random_matrix(1, n, rng, 1.0f).view({n});
    Tensor inv_smooth = Tensor::empty({k}, DType::kF32);
    std::uniform_real_distribution<float> factor(0.25f, 4.0f);
    for (int64_t c = 0; c < k; ++c) inv_smooth.data<float>()[c] = factor(rng);
    Tensor q = Tensor::empty({n, k}, DType::kI8), scale = Tensor::empty({n}, DType::kF32);
    ops::quantize_rows_int8(w, q, scale);
    const std::vector<double> wq = decoded_int8(q);
    for (bool smooth : {false, true}) {
        const Tensor inv = smooth ? inv_smooth : Tensor();
        const QuantizedRows xq = quantize_int8_reference(x, inv);
        for (bool with_bias : {false, true}) {
            for (bool accumulate : {false, true}) {
                const Tensor start = accumulate ? random_matrix(m, n, rng, 1.0f) : Tensor();
                Tensor y = accumulate ? start.to(DType::kF32) : filled(m, n, kNaN);  // a copy
                const Tensor bias = with_bias ? b : Tensor();
                ops::linear_w8a8_int8(x, inv, q, scale, bias, y, accumulate);
                // The int32 sum is exact; what remains is the f32 rounding of a few operations.
                expect_close(
                    y, expected_product(xq, wq, scale, bias, start, m, n, k), 1e-6,
                    str_cat("smooth ", smooth, " bias ", with_bias, " accumulate ", accumulate, " seed ", seed));
            }
        }
    }
}

// sqrt(mean((y - exact)^2) / mean(exact^2)) with exact = x (w / inv_smooth)^T in double.
double relative_rms_error(const Tensor& y, const Tensor& x, const Tensor& w) {
    const int64_t m = x.size(0), n = w.size(0), k = x.size(1);
    double err = 0.0, norm = 0.0;
    for (int64_t t = 0; t < m; ++t) {
        for (int64_t r = 0; r < n; ++r) {
            double exact = 0.0;
            for (int64_t c = 0; c < k; ++c) exact += double(x.data<float>()[t * k + c]) * w.data<float>()[r * k + c];
            const double d = y.data<float>()[t * n + r] - exact;
            err += d * d;
            norm += exact * exact;
        }
    }
    return std::sqrt(err / norm);
}

TEST(W8a8Cpu, QuantizedProductsAreCloseToTheExactOneForSmoothData) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t m = 16, n = 64, k = 512;
    const Tensor x = random_matrix(m, k, rng, 1.0f), w = random_matrix(n, k, rng, 0.05f);
    Tensor q8 = Tensor::empty({n, k}, DType::kI8), s8 = Tensor::empty({n}, DType::kF32);
    ops::quantize_rows_int8(w, q8, s8);
    Tensor y = filled(m, n, kNaN);
    ops::linear_w8a8_int8(x, Tensor(), q8, s8, Tensor(), y);
    // Rounding to 1/127 of each row's largest value: about 1% per operand.
    EXPECT_LT(relative_rms_error(y, x, w), 0.025) << "int8, seed " << seed;
    Tensor qf = Tensor::empty({n, k}, DType::kF8E4M3), sf = Tensor::empty({n}, DType::kF32);
    ops::quantize_rows_fp8(w, qf, sf);
    y = filled(m, n, kNaN);
    ops::linear_fp8(x, qf, sf, Tensor(), y);
    // Three mantissa bits: about 2-4% per operand.
    EXPECT_LT(relative_rms_error(y, x, w), 0.06) << "fp8, seed " << seed;
}

TEST(W8a8Cpu, SmoothingTamesOutlierChannels) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t m = 16, n = 64, k = 512;
    Tensor x = random_matrix(m, k, rng, 1.0f);
    const Tensor w = random_matrix(n, k, rng, 0.05f);
    // A few channels 30x larger than the rest, as in the activations SmoothQuant was made for; the
    // smoothing factor sqrt(30) moves half of that into the weights.
    Tensor inv_smooth = filled(1, k, 1.0f).view({k});
    Tensor smoothed = w.to(DType::kF32);  // a copy
    for (int64_t c : {3, 100, 257, 400}) {
        for (int64_t t = 0; t < m; ++t) x.data<float>()[t * k + c] *= 30.0f;
        inv_smooth.data<float>()[c] = 1.0f / std::sqrt(30.0f);
        for (int64_t r = 0; r < n; ++r) smoothed.data<float>()[r * k + c] *= std::sqrt(30.0f);
    }
    Tensor q = Tensor::empty({n, k}, DType::kI8), s = Tensor::empty({n}, DType::kF32);
    ops::quantize_rows_int8(w, q, s);
    Tensor plain = filled(m, n, kNaN);
    ops::linear_w8a8_int8(x, Tensor(), q, s, Tensor(), plain);
    ops::quantize_rows_int8(smoothed, q, s);
    Tensor y = filled(m, n, kNaN);
    ops::linear_w8a8_int8(x, inv_smooth, q, s, Tensor(), y);
    const double err_plain = relative_rms_error(plain, x, w), err_smooth = relative_rms_error(y, x, w);
    EXPECT_LT(err_smooth, 0.03) << "seed " << seed;
    EXPECT_LT(err_smooth, err_plain) << "seed " << seed;
}

TEST(W8a8Cpu, RejectsTheWrongWeightType) {
    const Tensor x = filled(2, 32, 1.0f), scale = filled(1, 4, 1.0f).view({4});
    Tensor y = filled(2, 4, 0.0f);
    const Tensor q8 = Tensor::zeros({4, 32}, DType::kI8), qf = Tensor::zeros({4, 32}, DType::kF8E4M3);
    EXPECT_THROW(ops::linear_fp8(x, q8, scale, Tensor(), y), Error);
    EXPECT_THROW(ops::linear_w8a8_int8(x, Tensor(), qf, scale, Tensor(), y), Error);
    const Tensor short_smooth = filled(1, 16, 1.0f).view({16});
    EXPECT_THROW(ops::linear_w8a8_int8(x, short_smooth, q8, scale, Tensor(), y), Error);
}

}  // namespace
}  // namespace turbolm
