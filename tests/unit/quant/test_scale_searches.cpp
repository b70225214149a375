// The AWQ and SmoothQuant searches on activations with outlier channels, the case they exist for:
// errors are measured here in double from the definitions, independently of the searches' own
// bookkeeping, and the searches must never do worse than no scaling.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "quant/awq_search.h"
#include "quant/fake_quantization.h"
#include "quant/int4_rounding.h"
#include "quant/smoothquant_search.h"

namespace turbolm::quant {
namespace {

Tensor normal(int64_t rows, int64_t cols, std::mt19937_64& rng, float stddev = 1.0f) {
    Tensor t = Tensor::empty({rows, cols}, DType::kF32);
    std::normal_distribution<float> d(0.0f, stddev);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
}

// Activations whose few "salient" channels are much larger than the rest, as in trained LLMs.
Tensor outlier_activations(int64_t rows, int64_t cols, std::mt19937_64& rng, float factor) {
    Tensor x = normal(rows, cols, rng);
    for (int64_t c = 3; c < cols; c += 37)
        for (int64_t r = 0; r < rows; ++r) x.data<float>()[r * cols + c] *= factor;
    return x;
}

// mean over (rows, outputs) of (x w^T - x v^T)^2, in double.
double output_error(const Tensor& x, const Tensor& w, const Tensor& v) {
    const int64_t n = x.size(0), in = x.size(1), out = w.size(0);
    double sum = 0.0;
    for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < out; ++r) {
            double d = 0.0;
            for (int64_t c = 0; c < in; ++c)
                d += double(x.data<float>()[t * in + c]) *
                     (double(w.data<float>()[r * in + c]) - double(v.data<float>()[r * in + c]));
            sum += d * d;
        }
    return sum / double(n * out);
}

// Q(w diag(s)) diag(s)^-1: what the model multiplies by after AWQ folds 1/s into the input.
Tensor quantized_with_scales(const Tensor& w, std::span<const float> s, int64_t group) {
    Tensor scaled = w.to(DType::kF32);
    scale_columns(scaled, s);
    Tensor q = fake_quantize_int4(scaled, group);
    std::vector<float> inv;
    for (float v : s) inv.push_back(1.0f / v);
    scale_columns(q, inv);
    return q;
}

TEST(FakeQuantization, Int4MatchesGroupRoundingAndStaysWithinHalfAStep) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t group = 64;
    const Tensor w = normal(16, 256, rng, 0.05f);
    const Tensor q = fake_quantize_int4(w, group);
    for (int64_t start = 0; start < w.numel(); start += group) {
        const Int4GroupParams p = int4_group_params(w.data<float>() + start, group);
        for (int64_t i = start; i < start + group; ++i) {
            const float code = std::nearbyint(w.data<float>()[i] / p.scale) + float(p.zero);
            if (code < 0.0f || code > 15.0f) continue;  // clipped: the group's range rounds past 15 steps
            EXPECT_LE(std::fabs(q.data<float>()[i] - w.data<float>()[i]), 0.5f * p.scale * 1.0001f)
                << "seed " << seed << " element " << i;
        }
    }
}

TEST(AwqSearch, ScalesLowerTheErrorOfOutlierChannelsAndNeverRaiseIt) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t in = 256, group = 128;
    const Tensor x = outlier_activations(384, in, rng, 25.0f);
    const std::vector<Tensor> w = {normal(96, in, rng, 0.05f), normal(64, in, rng, 0.05f)};
    std::vector<float> mean(static_cast<size_t>(in), 0.0f);
    for (int64_t t = 0; t < x.size(0); ++t)
        for (int64_t c = 0; c < in; ++c) mean[size_t(c)] += std::fabs(x.data<float>()[t * in + c]) / float(x.size(0));

    const AwqScales found = awq_search_scales(x, w, mean, group);
    double rtn = 0.0, awq = 0.0;
    const std::vector<float> ones(static_cast<size_t>(in), 1.0f);
    for (const Tensor& m : w) {
        rtn += output_error(x, m, quantized_with_scales(m, ones, group)) * double(m.size(0));
        awq += output_error(x, m, quantized_with_scales(m, found.scales, group)) * double(m.size(0));
    }
    rtn /= double(w[0].size(0) + w[1].size(0));
    awq /= double(w[0].size(0) + w[1].size(0));
    EXPECT_NEAR(found.error_rtn, rtn, 1e-3 * rtn) << "seed " << seed;
    EXPECT_NEAR(found.error, awq, 1e-3 * rtn) << "seed " << seed;
    EXPECT_GT(found.ratio, 0.0) << "seed " << seed;
    EXPECT_LT(awq, 0.8 * rtn) << "seed " << seed << ": AWQ " << awq << " vs round-to-nearest " << rtn;
}

TEST(AwqSearch, WithoutOutliersTheSearchMayKeepPlainRounding) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const Tensor x = normal(128, 128, rng);
    const std::vector<Tensor> w = {normal(32, 128, rng, 0.05f)};
    const std::vector<float> mean(128, 0.8f);
    const AwqScales found = awq_search_scales(x, w, mean, 128);
    EXPECT_LE(found.error, found.error_rtn) << "seed " << seed;
}

TEST(AwqClip, ClippingNeverRaisesTheOutputErrorOfAnyGroup) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t in = 256, group = 128;
    const Tensor x = normal(200, in, rng);
    Tensor w = normal(48, in, rng, 0.05f);
    for (int64_t r = 0; r < 48; ++r) w.data<float>()[r * in + (r % in)] *= 12.0f;  // one large weight per row
    const Tensor original = w.to(DType::kF32);
    const double shrink = awq_clip_weights(x, w, group);
    EXPECT_GE(shrink, 0.0);
    EXPECT_LT(shrink, 0.5);
    const double before = output_error(x, original, fake_quantize_int4(original, group));
    const double after = output_error(x, original, fake_quantize_int4(w, group));
    EXPECT_LE(after, before * (1.0 + 1e-9)) << "seed " << seed;
    EXPECT_LT(after, before) << "seed " << seed << ": rows with one large weight gain from clipping it";
}

TEST(SmoothQuantSearch, SmoothingMovesOutliersIntoTheWeights) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t in = 192;
    const Tensor x = outlier_activations(256, in, rng, 60.0f);
    const std::vector<Tensor> w = {normal(80, in, rng, 0.05f)};
    std::vector<float> amax(static_cast<size_t>(in), 0.0f);
    for (int64_t t = 0; t < x.size(0); ++t)
        for (int64_t c = 0; c < in; ++c)
            amax[size_t(c)] = std::max(amax[size_t(c)], std::fabs(x.data<float>()[t * in + c]));
    const std::vector<double> alphas = {0.3, 0.5, 0.7};
    const SmoothScales found = smoothquant_search(x, w, amax, alphas);
    ASSERT_EQ(found.scales.size(), size_t(in));
    for (size_t c = 0; c < found.scales.size(); ++c) EXPECT_EQ(found.inv[c], 1.0f / found.scales[c]);
    EXPECT_GT(found.alpha, 0.0) << "seed " << seed;
    // The simulated product, recomputed here: rows of x / s and of w s each rounded to int8.
    Tensor xs = x.to(DType::kF32), ws = w[0].to(DType::kF32);
    scale_columns(xs, found.inv);
    scale_columns(ws, found.scales);
    const Tensor xq = fake_quantize_rows_int8(xs), wq = fake_quantize_rows_int8(ws);
    double err = 0.0;
    for (int64_t t = 0; t < x.size(0); ++t)
        for (int64_t r = 0; r < w[0].size(0); ++r) {
            double exact = 0.0, approx = 0.0;
            for (int64_t c = 0; c < in; ++c) {
                exact += double(x.data<float>()[t * in + c]) * double(w[0].data<float>()[r * in + c]);
                approx += double(xq.data<float>()[t * in + c]) * double(wq.data<float>()[r * in + c]);
            }
            err += (exact - approx) * (exact - approx);
        }
    err /= double(x.size(0) * w[0].size(0));
    EXPECT_NEAR(found.error, err, 1e-3 * found.error_plain) << "seed " << seed;
    EXPECT_LT(found.error, 0.5 * found.error_plain) << "seed " << seed;
}

}  // namespace
}  // namespace turbolm::quant
