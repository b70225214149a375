// Weight-only INT8 on the GPU against the CPU reference: the quantizer gives the same int8 values
// and scales, and the product matches for decode-sized steps (the weight-streaming kernel, 1 to 8
// rows) and larger ones (dequantize, then the GEMM), for bf16 and f16, with bias and accumulation.
// The demo model quantized on the GPU gives the logits the CPU gives it quantized.
#include <cmath>
#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "models/model.h"
#include "ops/ops.h"
#include "support/test_paths.h"
#include "support/random_tensors.h"

namespace turbolm {
namespace {

double max_abs(const Tensor& t) {
    double m = 0.0;
    for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(double(t.data<float>()[i])));
    return m;
}

TEST(GpuInt8, QuantizerMatchesTheCpu) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    for (DType dt : {DType::kBF16, DType::kF16, DType::kF32}) {
        const Tensor w = random_matrix(300, 1000, rng, 0.02f).to(dt);
        Tensor q = Tensor::empty({300, 1000}, DType::kI8), s = Tensor::empty({300}, DType::kF32);
        ops::quantize_rows_int8(w, q, s);
        Tensor qd = Tensor::empty({300, 1000}, DType::kI8, Device::kCuda), sd = Tensor::empty({300}, DType::kF32, Device::kCuda);
        ops::fill_constant(sd, std::numeric_limits<float>::quiet_NaN());
        const Tensor wd = w.to_device(Device::kCuda);
        ops::quantize_rows_int8(wd, qd, sd);
        const Tensor qh = qd.to_device(Device::kCpu), sh = sd.to_device(Device::kCpu);
        int64_t differ = 0;
        for (int64_t i = 0; i < q.numel(); ++i) differ += q.data<int8_t>()[i] != qh.data<int8_t>()[i] ? 1 : 0;
        for (int64_t r = 0; r < 300; ++r) EXPECT_EQ(s.data<float>()[r], sh.data<float>()[r]) << "row " << r;
        EXPECT_EQ(differ, 0) << dtype_name(dt) << " seed " << seed;
    }
}

struct ProductCase {
    int64_t m, n, k;
};

TEST(GpuInt8, ProductMatchesTheCpu) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    // k % 16 != 0 and m > 8 take the dequantizing path; the rest stream the int8 weights.
    for (const ProductCase c : {ProductCase{1, 300, 4096}, ProductCase{3, 129, 512}, ProductCase{8, 64, 1024},
                                ProductCase{1, 77, 200}, ProductCase{9, 300, 4096}, ProductCase{40, 130, 256}}) {
        for (DType dt : {DType::kBF16, DType::kF16}) {
            for (DType out : {DType::kF32, dt}) {
                for (bool accumulate : {false, true}) {
                    SCOPED_TRACE(testing::Message() << "m " << c.m << " n " << c.n << " k " << c.k << " " << dtype_name(dt)
                                                    << " -> " << dtype_name(out) << " accumulate " << accumulate
                                                    << " seed " << seed);
                    const Tensor x = random_matrix(c.m, c.k, rng, 1.0f).to(dt).to(DType::kF32);  // representable
                    const Tensor w = random_matrix(c.n, c.k, rng, 0.05f), b = random_matrix(1, c.n, rng, 1.0f).view({c.n});
                    Tensor q = Tensor::empty({c.n, c.k}, DType::kI8), s = Tensor::empty({c.n}, DType::kF32);
                    ops::quantize_rows_int8(w, q, s);
                    const Tensor start = random_matrix(c.m, c.n, rng, 1.0f).to(out).to(DType::kF32);
                    Tensor ref = start.to(DType::kF32);
                    if (!accumulate) ops::fill_constant(ref, 0.0f);
                    ops::linear_int8(x, q, s, b, ref, accumulate);

                    Tensor y = Tensor::empty({c.m, c.n}, out, Device::kCuda);
                    if (accumulate) y.copy_from(start.to(out).to_device(Device::kCuda));
                    else ops::fill_constant(y, std::numeric_limits<float>::quiet_NaN());
                    const Tensor xd = x.to(dt).to_device(Device::kCuda), qd = q.to_device(Device::kCuda),
                                 sd = s.to_device(Device::kCuda), bd = b.to_device(Device::kCuda);
                    ops::linear_int8(xd, qd, sd, bd, y, accumulate);
                    const Tensor got = y.to_device(Device::kCpu).to(DType::kF32);
                    // f32 sums in another order; a 16-bit output adds its own rounding.
                    const double tol = (out == DType::kF32 ? 1e-4 : 8e-3) * std::max(1.0, max_abs(ref));
                    double worst = 0.0;
                    for (int64_t i = 0; i < ref.numel(); ++i) {
                        const double d = std::fabs(double(got.data<float>()[i]) - double(ref.data<float>()[i]));
                        worst = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(worst, d);
                    }
                    EXPECT_LE(worst, tol);
                }
            }
        }
    }
}

TEST(GpuInt8, DemoModelQuantizedOnTheGpuGivesTheCpuLogits) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const auto dir = test::source_dir() / "models" / "demo";
    const std::vector<int32_t> tokens = {1, 400, 52, 9, 1200, 77, 18, 2100, 5, 64, 300, 12};
    ModelOptions mo;
    mo.quantize = WeightQuantization::kInt8;
    auto cpu = Model::load(dir, mo);
    mo.device = Device::kCuda;
    auto gpu = Model::load(dir, mo);
    KvCache kc = cpu->new_kv_cache(int64_t(tokens.size())), kg = gpu->new_kv_cache(int64_t(tokens.size()));
    const Tensor a = cpu->forward(tokens, kc, /*all_logits=*/true), b = gpu->forward(tokens, kg, /*all_logits=*/true);
    const double scale = max_abs(a);
    double worst = 0.0;
    for (int64_t i = 0; i < a.numel(); ++i)
        worst = std::max(worst, std::fabs(double(a.data<float>()[i]) - double(b.data<float>()[i])));
    // The same tolerance as the bf16 goldens: the GPU's activations are bf16.
    EXPECT_LE(worst, 0.03 * scale) << "worst " << worst << " of " << scale;
}

}  // namespace
}  // namespace turbolm
