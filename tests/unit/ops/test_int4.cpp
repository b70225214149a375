// Weight-only INT4 on the CPU: the packed layout on hand-made values, the group quantizer's rule
// (scale, zero point, rounding, the constant and one-signed groups), the product against float64
// sums over the dequantized weights, and the column gather. Random inputs come from a fresh seed
// that every failure prints.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/half.h"
#include "ops/ops.h"

namespace turbolm {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Tensor random_matrix(int64_t rows, int64_t cols, std::mt19937_64& rng, float stddev = 1.0f) {
    Tensor t = Tensor::empty({rows, cols}, DType::kF32);
    std::normal_distribution<float> d(0.0f, stddev);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
}

struct Quantized {
    Tensor q, scale, zero;
    int64_t group = 0;
};

Quantized quantize(const Tensor& w, int64_t group) {
    const int64_t n = w.size(0), k = w.size(1);
    Quantized r{Tensor::empty({n, k / 2}, DType::kU8), Tensor::empty({n, k / group}, DType::kF16),
                Tensor::empty({n, k / group}, DType::kU8), group};
    ops::quantize_groups_int4(w, group, r.q, r.scale, r.zero);
    return r;
}

int code_at(const Quantized& w, int64_t r, int64_t c) {
    const uint8_t byte = w.q.data<uint8_t>()[r * w.q.stride(0) + c / 2];
    return c % 2 == 0 ? byte & 0x0f : byte >> 4;
}
double scale_at(const Quantized& w, int64_t r, int64_t c) {
    return f16_to_f32(w.scale.data<uint16_t>()[r * w.scale.stride(0) + c / w.group]);
}
int zero_at(const Quantized& w, int64_t r, int64_t c) {
    return w.zero.data<uint8_t>()[r * w.zero.stride(0) + c / w.group];
}
double dequantized(const Quantized& w, int64_t r, int64_t c) {
    return double(code_at(w, r, c) - zero_at(w, r, c)) * scale_at(w, r, c);
}

// The scale the rule asks for: (max - min) / 15 rounded to f16, 1 when that is 0.
double expected_scale(const float* v, int64_t n) {
    const auto [lo, hi] = std::minmax_element(v, v + n);
    const float s = f16_to_f32(f32_to_f16((*hi - *lo) / 15.0f));
    return s == 0.0f ? 1.0 : s;
}

TEST(Int4, PackedLayoutPutsEvenColumnsInTheLowNibble) {
    // Integers -7..8 with both ends present: scale (8 - -7) / 15 = 1, zero 7, code = w + 7.
    const int64_t k = 32;
    Tensor w = Tensor::empty({1, k}, DType::kF32);
    for (int64_t c = 0; c < k; ++c) w.data<float>()[c] = float((7 * c) % 16) - 7.0f;
    const Quantized qw = quantize(w, 32);
    EXPECT_EQ(qw.scale.data<uint16_t>()[0], 0x3c00);
    EXPECT_EQ(qw.zero.data<uint8_t>()[0], 7);
    const uint8_t* q = qw.q.data<uint8_t>();
    EXPECT_EQ(q[0], 0x70);  // columns 0 (code 0) and 1 (code 7)
    EXPECT_EQ(q[1], 0x5e);  // columns 2 (code 14) and 3 (code 5)
    for (int64_t j = 0; j < k / 2; ++j)
        EXPECT_EQ(q[j], ((7 * 2 * j) % 16) | (((7 * (2 * j + 1)) % 16) << 4)) << "byte " << j;

    // The product reads the same order: x = e_c picks column c of each row.
    Tensor q2 = Tensor::empty({2, 16}, DType::kU8), s2 = Tensor::empty({2, 1}, DType::kF16),
           z2 = Tensor::empty({2, 1}, DType::kU8);
    for (int64_t j = 0; j < 16; ++j) {
        q2.data<uint8_t>()[j] = uint8_t(0x10 * ((j + 1) % 16) + j % 16);  // row 0: codes j, j + 1 alternate
        q2.data<uint8_t>()[16 + j] = uint8_t(0xf0);                       // row 1: 0, 15, 0, 15, ...
    }
    s2.data<uint16_t>()[0] = f32_to_f16(0.5f);
    s2.data<uint16_t>()[1] = f32_to_f16(2.0f);
    z2.data<uint8_t>()[0] = 3;
    z2.data<uint8_t>()[1] = 8;
    for (int64_t c = 0; c < 32; ++c) {
        Tensor x = Tensor::zeros({1, 32}, DType::kF32), y = Tensor::empty({1, 2}, DType::kF32);
        x.data<float>()[c] = 1.0f;
        ops::linear_int4(x, q2, s2, z2, 32, Tensor(), y);
        const int code0 = c % 2 == 0 ? int(c / 2) % 16 : int(c / 2 + 1) % 16;
        const int code1 = c % 2 == 0 ? 0 : 15;
        EXPECT_EQ(y.data<float>()[0], float(code0 - 3) * 0.5f) << "column " << c;
        EXPECT_EQ(y.data<float>()[1], float(code1 - 8) * 2.0f) << "column " << c;
    }
}

TEST(Int4, QuantizerRoundsEachGroupToItsOwnGrid) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    for (int64_t group : {32, 64, 128}) {
        const int64_t n = 37, k = 4 * group;
        const Tensor w = random_matrix(n, k, rng, 0.02f);
        w.data<float>()[5 * k + 3] = 0.5f;  // an outlier widens its group's range
        const Quantized qw = quantize(w, group);
        for (int64_t r = 0; r < n; ++r) {
            for (int64_t c0 = 0; c0 < k; c0 += group) {
                const float* v = w.data<float>() + r * k + c0;
                const double s = scale_at(qw, r, c0);
                ASSERT_EQ(s, expected_scale(v, group)) << "row " << r << " group " << c0 / group << " seed " << seed;
                const int z = zero_at(qw, r, c0);
                ASSERT_TRUE(z >= 0 && z <= 15) << z;
                // Both signs in every group: the zero point is not clamped and the grid covers
                // [min, max] but for the f16 rounding of the scale and half a step at either end.
                for (int64_t i = 0; i < group; ++i) {
                    const double unrounded = double(v[i]) / s + z;
                    const bool clipped = unrounded < -0.5 || unrounded > 15.5;
                    const double err = std::fabs(dequantized(qw, r, c0 + i) - double(v[i]));
                    EXPECT_LE(err, (clipped ? 0.51 : 0.5 + 1e-6) * s)
                        << "row " << r << " col " << c0 + i << " group " << group << " seed " << seed;
                }
            }
        }
    }
}

TEST(Int4, QuantizerGivesTheSameBitsFromEveryFloatType) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const Tensor w = random_matrix(19, 256, rng, 0.05f).to(DType::kBF16).to(DType::kF32);  // exact in all three
    const Quantized ref = quantize(w, 64);
    for (DType dt : {DType::kBF16, DType::kF16}) {
        const Quantized got = quantize(w.to(dt), 64);
        EXPECT_EQ(std::memcmp(ref.q.raw_data(), got.q.raw_data(), ref.q.nbytes()), 0)
            << dtype_name(dt) << " seed " << seed;
        EXPECT_EQ(std::memcmp(ref.scale.raw_data(), got.scale.raw_data(), ref.scale.nbytes()), 0) << dtype_name(dt);
        EXPECT_EQ(std::memcmp(ref.zero.raw_data(), got.zero.raw_data(), ref.zero.nbytes()), 0) << dtype_name(dt);
    }
}

TEST(Int4, ConstantGroupsTakeScaleOne) {
    // A constant group has no range: the scale is 1, so the group is represented by rint(v) within
    // reach of the zero point (exact for integers, 0 for small weights).
    const float values[] = {0.0f, -2.0f, 3.0f, 0.3f, -40.0f};
    Tensor w = Tensor::empty({5, 32}, DType::kF32);
    for (int64_t r = 0; r < 5; ++r) std::fill_n(w.data<float>() + r * 32, 32, values[r]);
    const Quantized qw = quantize(w, 32);
    for (int64_t r = 0; r < 5; ++r) {
        EXPECT_EQ(qw.scale.data<uint16_t>()[r], 0x3c00) << "row " << r;
        const int z = int(std::clamp(std::nearbyint(-values[r]), 0.0f, 15.0f));
        EXPECT_EQ(zero_at(qw, r, 0), z) << "row " << r;
        for (int64_t c = 0; c < 32; ++c)
            EXPECT_EQ(code_at(qw, r, c), int(std::clamp(std::nearbyint(values[r]) + float(z), 0.0f, 15.0f)))
                << "row " << r;
    }
    EXPECT_EQ(dequantized(qw, 0, 0), 0.0);
    EXPECT_EQ(dequantized(qw, 1, 5), -2.0);
    EXPECT_EQ(dequantized(qw, 2, 5), 3.0);
    EXPECT_EQ(dequantized(qw, 3, 5), 0.0);    // 0.3 rounds to the grid point 0
    EXPECT_EQ(dequantized(qw, 4, 5), -15.0);  // -40 clips at zero point 15
}

TEST(Int4, OneSignedGroupsClampTheZeroPoint) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> pos(1.0f, 2.0f), small(0.0f, 0.1f);
    Tensor w = Tensor::empty({3, 64}, DType::kF32);
    for (int64_t c = 0; c < 64; ++c) {
        w.data<float>()[c] = pos(rng);  // row 0: all in [1, 2): far from 0, every code clips to 15
        w.data<float>()[64 + c] = c == 0 ? 0.0f : small(rng);  // row 1: in [0, 0.1) with 0: the grid from 0 covers it
        w.data<float>()[128 + c] = -pos(rng);                  // row 2: all negative: zero point 15 clips the other way
    }
    const Quantized qw = quantize(w, 64);
    EXPECT_EQ(zero_at(qw, 0, 0), 0);
    EXPECT_EQ(zero_at(qw, 1, 0), 0);
    EXPECT_EQ(zero_at(qw, 2, 0), 15);
    for (int64_t c = 0; c < 64; ++c) {
        EXPECT_EQ(code_at(qw, 0, c), 15) << "col " << c << " seed " << seed;
        EXPECT_EQ(code_at(qw, 2, c), 0) << "col " << c << " seed " << seed;
        const double s = scale_at(qw, 1, c);
        EXPECT_LE(std::fabs(dequantized(qw, 1, c) - double(w.data<float>()[64 + c])), 0.51 * s)
            << "col " << c << " seed " << seed;
    }
}

struct ProductCase {
    int64_t m, n, k, group;
};

TEST(Int4, ProductEqualsFloat64SumsOverTheDequantizedWeights) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    for (const ProductCase pc : {ProductCase{1, 33, 256, 32}, ProductCase{3, 17, 512, 64}, ProductCase{5, 64, 384, 128},
                                 ProductCase{7, 9, 1024, 256}, ProductCase{2, 130, 2048, 128}}) {
        const auto [m, n, k, group] = pc;
        const Tensor w = random_matrix(n, k, rng, 0.05f);
        const Quantized qw = quantize(w, group);
        // x and y are column slices of wider buffers: rows are not packed.
        const Tensor xbuf = random_matrix(m, k + 8, rng), x = xbuf.slice(1, 4, 4 + k);
        const Tensor b = random_matrix(1, n, rng).view({n}), start = random_matrix(m, n, rng);
        for (bool with_bias : {false, true}) {
            for (bool accumulate : {false, true}) {
                SCOPED_TRACE(testing::Message()
                             << "m " << m << " n " << n << " k " << k << " group " << group << " bias " << with_bias
                             << " accumulate " << accumulate << " seed " << seed);
                Tensor ybuf = Tensor::empty({m, n + 3}, DType::kF32), y = ybuf.slice(1, 1, 1 + n);
                for (int64_t t = 0; t < m; ++t)
                    for (int64_t r = 0; r < n; ++r)
                        y.row<float>(t)[r] = accumulate ? start.data<float>()[t * n + r] : kNaN;
                ops::linear_int4(x, qw.q, qw.scale, qw.zero, group, with_bias ? b : Tensor(), y, accumulate);
                for (int64_t t = 0; t < m; ++t) {
                    for (int64_t r = 0; r < n; ++r) {
                        double ref = (with_bias ? b.data<float>()[r] : 0.0) +
                                     (accumulate ? start.data<float>()[t * n + r] : 0.0);
                        double mag = std::fabs(ref);
                        for (int64_t c = 0; c < k; ++c) {
                            const double term = double(x.row<float>(t)[c]) * dequantized(qw, r, c);
                            ref += term;
                            mag += std::fabs(term);
                        }
                        // f32 sums: a few units of f32 rounding of the terms' total size.
                        EXPECT_NEAR(y.row<float>(t)[r], ref, 2e-5 * mag + 1e-6) << "t " << t << " r " << r;
                    }
                }
            }
        }
    }
}

TEST(Int4, GatherColumnsPermutesEachRow) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t rows = 5, cols = 77;
    std::vector<int32_t> order(cols);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    Tensor perm = Tensor::empty({cols}, DType::kI32);
    std::copy(order.begin(), order.end(), perm.data<int32_t>());
    const Tensor src = random_matrix(rows, cols + 5, rng).slice(1, 2, 2 + cols);
    for (DType dt : {DType::kF32, DType::kBF16}) {
        const Tensor s = dt == DType::kF32 ? src : src.to(dt);  // f32: the strided view itself
        Tensor d = Tensor::empty({rows, cols}, dt);
        ops::gather_columns(s, perm, d);
        for (int64_t t = 0; t < rows; ++t)
            for (int64_t c = 0; c < cols; ++c)
                EXPECT_EQ(tensor_get_float(d, t * cols + c), tensor_get_float(s, t * cols + order[size_t(c)]))
                    << dtype_name(dt) << " t " << t << " c " << c << " seed " << seed;
    }
}

TEST(Int4, RejectsGroupsThatDoNotDivideTheRow) {
    const Tensor w = Tensor::zeros({2, 96}, DType::kF32);
    Tensor q = Tensor::empty({2, 48}, DType::kU8), s = Tensor::empty({2, 2}, DType::kF16),
           z = Tensor::empty({2, 2}, DType::kU8);
    EXPECT_THROW(ops::quantize_groups_int4(w, 48, q, s, z), Error);  // not a multiple of 32
    Tensor s3 = Tensor::empty({2, 3}, DType::kF16), z3 = Tensor::empty({2, 3}, DType::kU8);
    EXPECT_NO_THROW(ops::quantize_groups_int4(w, 32, q, s3, z3));
    EXPECT_THROW(ops::quantize_groups_int4(w, 64, q, s, z), Error);  // 64 does not divide 96
}

}  // namespace
}  // namespace turbolm
