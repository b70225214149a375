// ModelOptions::round_weights: values against rounding written here from its definition (the
// nearest multiple of the format's quantum, ties to even), the dtype they are stored in, and a whole
// model whose matrices come back rounded and whose norms do not.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "core/half.h"
#include "models/model.h"
#include "models/weight_rounding.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

// x rounded to a float format with `mantissa_bits` stored bits whose smallest normal is 2^min_exp.
// nearbyint rounds half to even in the default rounding mode. Overflow is not modelled.
double reference_round(double x, int mantissa_bits, int min_exp) {
    if (x == 0) return x;
    int e = 0;
    std::frexp(x, &e);  // |x| = m 2^e, m in [0.5, 1): the leading bit is 2^(e-1)
    const double quantum = std::ldexp(1.0, std::max(e - 1, min_exp) - mantissa_bits);
    return std::nearbyint(x / quantum) * quantum;
}
double reference_bf16(double x) { return reference_round(x, 7, -126); }
double reference_f16(double x) { return reference_round(x, 10, -14); }

Tensor f32_tensor(const std::vector<float>& v) {
    Tensor t = Tensor::empty({int64_t(v.size())}, DType::kF32);
    std::copy(v.begin(), v.end(), t.data<float>());
    return t;
}

std::vector<float> test_values() {
    // Hand-picked: ties to even (1 + 2^-8 in bf16, 1 + 2^-11 in f16), a value rounding up, a negative
    // tie, f16's largest finite value reached from 65519, and f16 subnormals.
    std::vector<float> v = {1.0f, 1.0f + 0x1p-8f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-9f, -(1.0f + 0x1p-7f + 0x1p-8f),
                            65519.0f, 7e-8f, -3e-6f, 0.0f};
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> log10_mag(-9.0, 4.5);
    for (int i = 0; i < 2000; ++i) v.push_back(float((i % 2 ? 1 : -1) * std::pow(10.0, log10_mag(rng))));
    return v;
}

TEST(WeightRounding, F32ValuesRoundToNearestEven) {
    const std::vector<float> v = test_values();
    const Tensor bf = round_weight_values(f32_tensor(v), DType::kBF16);
    const Tensor hf = round_weight_values(f32_tensor(v), DType::kF16);
    ASSERT_EQ(bf.dtype(), DType::kF32);  // f32 holds every rounded value: the kernels stay the same
    ASSERT_EQ(hf.dtype(), DType::kF32);
    for (size_t i = 0; i < v.size(); ++i) {
        EXPECT_EQ(double(bf.data<float>()[i]), reference_bf16(v[i])) << v[i];
        EXPECT_EQ(double(hf.data<float>()[i]), reference_f16(v[i])) << v[i];
    }
    // The hand-picked cases, spelled out.
    EXPECT_EQ(bf.data<float>()[1], 1.0f);
    EXPECT_EQ(bf.data<float>()[3], 1.0f + 0x1p-7f);
    EXPECT_EQ(bf.data<float>()[4], -(1.0f + 0x1p-6f));
    EXPECT_EQ(bf.data<float>()[5], 65536.0f);
    EXPECT_EQ(hf.data<float>()[1], 1.0f + 0x1p-8f);
    EXPECT_EQ(hf.data<float>()[2], 1.0f);
    EXPECT_EQ(hf.data<float>()[5], 65504.0f);
    EXPECT_EQ(hf.data<float>()[6], 0x1p-24f);
}

TEST(WeightRounding, SixteenBitWeightsKeepTheirDtype) {
    std::vector<float> v;
    for (float x : test_values())
        if (std::fabs(x) < 60000.0f) v.push_back(x);  // inside f16's range (65519 would overflow)
    const Tensor bf16 = f32_tensor(v).to(DType::kBF16);
    // Rounding to the stored type changes nothing and copies nothing.
    EXPECT_EQ(round_weight_values(bf16, DType::kBF16).raw_data(), bf16.raw_data());
    // bf16 rounded to f16: only magnitudes under f16's normal range (2^-14) lose bits, and what is
    // left fits bf16 again.
    const Tensor to_f16 = round_weight_values(bf16, DType::kF16);
    ASSERT_EQ(to_f16.dtype(), DType::kBF16);
    int changed = 0;
    for (size_t i = 0; i < v.size(); ++i) {
        const double before = tensor_get_float(bf16, int64_t(i)), after = tensor_get_float(to_f16, int64_t(i));
        EXPECT_EQ(after, reference_f16(before)) << before;
        changed += after != before;
        if (std::fabs(before) >= 0x1p-14) EXPECT_EQ(after, before);
    }
    EXPECT_GT(changed, 100);
    // An f16 weight that bf16 rounds past f16's range is kept in f32.
    const Tensor f16 = f32_tensor({65504.0f, 1.5f}).to(DType::kF16);
    const Tensor to_bf16 = round_weight_values(f16, DType::kBF16);
    ASSERT_EQ(to_bf16.dtype(), DType::kF32);
    EXPECT_EQ(to_bf16.data<float>()[0], 65536.0f);
    EXPECT_EQ(to_bf16.data<float>()[1], 1.5f);
}

bool same_values(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape()) return false;
    for (int64_t i = 0; i < a.numel(); ++i)
        if (tensor_get_float(a, i) != tensor_get_float(b, i)) return false;
    return true;
}

TEST(WeightRounding, ModelMatricesRoundedNormsNot) {
    const auto dir = test::fixtures_dir() / "hf-tiny" / "llama-gqa";  // f32 weights
    const auto plain = Model::load(dir);
    ModelOptions o;
    o.round_weights = DType::kBF16;
    const auto rounded = Model::load(dir, o);
    const ModelWeights &a = plain->weights(), &b = rounded->weights();
    for (auto [orig, got] : {std::pair{&a.tok_embd, &b.tok_embd}, std::pair{&a.lm_head.w, &b.lm_head.w},
                             std::pair{&a.layers[1].attn.o.w, &b.layers[1].attn.o.w}}) {
        ASSERT_EQ(got->dtype(), DType::kF32);
        ASSERT_EQ(got->shape(), orig->shape());
        int changed = 0;
        for (int64_t i = 0; i < orig->numel(); ++i) {
            const double x = tensor_get_float(*orig, i), y = tensor_get_float(*got, i);
            ASSERT_EQ(y, reference_bf16(x)) << i;
            changed += x != y;
        }
        EXPECT_GT(changed, orig->numel() / 2);  // random f32 values almost never fit in bf16
    }
    EXPECT_TRUE(same_values(a.final_norm.w, b.final_norm.w));
    EXPECT_TRUE(same_values(a.layers[0].attn_norm.w, b.layers[0].attn_norm.w));
}

}  // namespace
}  // namespace turbolm
