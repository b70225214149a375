// Weight-only INT8 on the CPU against float64 references: the per-row quantizer's scales and
// rounding, and the product against the same weights dequantized. Outputs start as NaN.
#include <cmath>
#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "ops/ops.h"

namespace turbolm {
namespace {

Tensor random_matrix(int64_t rows, int64_t cols, std::mt19937_64& rng, float stddev = 1.0f) {
    Tensor t = Tensor::empty({rows, cols}, DType::kF32);
    std::normal_distribution<float> d(0.0f, stddev);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
}

TEST(Int8, QuantizedRowsRoundToTheirOwnScale) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    for (DType dt : {DType::kF32, DType::kBF16}) {
        Tensor w = random_matrix(37, 200, rng, 0.02f);
        for (int64_t c = 0; c < 200; ++c) w.data<float>()[5 * 200 + c] = 0.0f;  // an all-zero row
        w.data<float>()[9 * 200 + 17] = 3.0f;                                   // an outlier
        Tensor wd = w.to(dt), back = wd.to(DType::kF32);
        Tensor q = Tensor::empty({37, 200}, DType::kI8), scale = Tensor::empty({37}, DType::kF32);
        ops::quantize_rows_int8(wd, q, scale);
        for (int64_t r = 0; r < 37; ++r) {
            double absmax = 0.0;
            for (int64_t c = 0; c < 200; ++c) absmax = std::max(absmax, std::fabs(double(back.data<float>()[r * 200 + c])));
            const double s = scale.data<float>()[r];
            EXPECT_NEAR(s, absmax / 127.0, 1e-7 * absmax) << "row " << r << " seed " << seed;
            int max_q = 0;
            for (int64_t c = 0; c < 200; ++c) {
                const int qv = q.data<int8_t>()[r * 200 + c];
                max_q = std::max(max_q, std::abs(qv));
                EXPECT_LE(std::fabs(qv * s - double(back.data<float>()[r * 200 + c])), 0.5001 * s + 1e-12)
                    << "row " << r << " col " << c << " seed " << seed;
            }
            EXPECT_EQ(max_q, r == 5 ? 0 : 127) << "row " << r;
        }
    }
}

TEST(Int8, ProductEqualsTheDequantizedWeights) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t m = 5, n = 33, k = 130;
    Tensor x = random_matrix(m, k, rng), w = random_matrix(n, k, rng, 0.05f), b = random_matrix(1, n, rng).view({n});
    Tensor q = Tensor::empty({n, k}, DType::kI8), scale = Tensor::empty({n}, DType::kF32);
    ops::quantize_rows_int8(w, q, scale);
    for (bool accumulate : {false, true}) {
        Tensor y = Tensor::empty({m, n}, DType::kF32);
        Tensor start = random_matrix(m, n, rng);
        for (int64_t i = 0; i < y.numel(); ++i)
            y.data<float>()[i] = accumulate ? start.data<float>()[i] : std::numeric_limits<float>::quiet_NaN();
        ops::linear_int8(x, q, scale, b, y, accumulate);
        for (int64_t t = 0; t < m; ++t) {
            for (int64_t r = 0; r < n; ++r) {
                double ref = b.data<float>()[r] + (accumulate ? start.data<float>()[t * n + r] : 0.0);
                for (int64_t c = 0; c < k; ++c)
                    ref += double(x.data<float>()[t * k + c]) * double(q.data<int8_t>()[r * k + c]) * scale.data<float>()[r];
                EXPECT_NEAR(y.data<float>()[t * n + r], ref, 1e-4 * (1.0 + std::fabs(ref)))
                    << "t " << t << " r " << r << " accumulate " << accumulate << " seed " << seed;
            }
        }
    }
}

}  // namespace
}  // namespace turbolm
