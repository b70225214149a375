// INT4 decode products that make their input rows themselves (ops::linear_int4_rms_normed and
// ops::linear_int4_act_mul): on the GPU, for one and two rows, the product of the rows the kernel
// makes is bit for bit the product of the rows rms_norm / act_mul would have written, through both
// decode kernels (one tile per block, and the streaming one for products of many tiles), for bf16
// and f16 activations, f32 and 16-bit outputs, with bias and accumulation. Where the product cannot
// make them (three rows, gelu) the op writes the rows first, with the same result. And both match
// the CPU's composition of the same ops.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "ops/ops.h"
#include "support/random_tensors.h"

namespace turbolm {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

bool same_bytes(const Tensor& a, const Tensor& b) {
    const Tensor ha = a.to_device(Device::kCpu), hb = b.to_device(Device::kCpu);
    return ha.nbytes() == hb.nbytes() && std::memcmp(ha.raw_data(), hb.raw_data(), ha.nbytes()) == 0;
}

double max_diff(const Tensor& a, const Tensor& b) {
    const Tensor fa = a.to_device(Device::kCpu).to(DType::kF32), fb = b.to_device(Device::kCpu).to(DType::kF32);
    double worst = 0.0;
    for (int64_t i = 0; i < fa.numel(); ++i) {
        const double d = std::fabs(double(fa.data<float>()[i]) - double(fb.data<float>()[i]));
        worst = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(worst, d);
    }
    return worst;
}

struct Int4Weight {
    Tensor q, scale, zero;  // on the GPU
    Tensor q_cpu, scale_cpu, zero_cpu;
    int64_t group = 0;
};

Int4Weight random_int4(int64_t n, int64_t k, int64_t group, std::mt19937_64& rng) {
    const Tensor w = random_matrix(n, k, rng, 0.05f);
    Int4Weight r;
    r.group = group;
    r.q_cpu = Tensor::empty({n, k / 2}, DType::kU8);
    r.scale_cpu = Tensor::empty({n, k / group}, DType::kF16);
    r.zero_cpu = Tensor::empty({n, k / group}, DType::kU8);
    ops::quantize_groups_int4(w, group, r.q_cpu, r.scale_cpu, r.zero_cpu);
    r.q = r.q_cpu.to_device(Device::kCuda);
    r.scale = r.scale_cpu.to_device(Device::kCuda);
    r.zero = r.zero_cpu.to_device(Device::kCuda);
    return r;
}

struct Case {
    int64_t m, n, k, group;
};
// Llama-3-8B's qkv (one tile per block), gate/up (streaming), down (one tile per block, long rows),
// and two rows through both kernels; three rows are past what the product makes.
const Case kCases[] = {
    {1, 6144, 4096, 128}, {1, 28672, 4096, 128}, {1, 4096, 14336, 128},
    {2, 4096, 4096, 256}, {2, 16384, 2048, 128}, {3, 1024, 4096, 128},
};

// The output's starting values: NaN to be overwritten, or random ones to accumulate into.
Tensor start_output(int64_t m, int64_t n, DType out, bool accumulate, std::mt19937_64& rng) {
    if (!accumulate) {
        Tensor y = Tensor::empty({m, n}, out, Device::kCuda);
        ops::fill_constant(y, kNaN);
        return y;
    }
    return random_matrix(m, n, rng, 1.0f).to(out).to_device(Device::kCuda);
}

TEST(GpuInt4MadeRows, NormedRowsGiveTheProductOfTheNormBitForBit) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const float eps = 1e-5f;
    int variant = 0;
    for (const Case& c : kCases) {
        const Int4Weight w = random_int4(c.n, c.k, c.group, rng);
        const Tensor x = random_matrix(c.m, c.k, rng, 3.0f), norm_w = random_matrix(1, c.k, rng, 1.0f).view({c.k});
        const Tensor xd = x.to_device(Device::kCuda), norm_wd = norm_w.to_device(Device::kCuda);
        const Tensor b = random_matrix(1, c.n, rng, 1.0f).view({c.n}), bd = b.to_device(Device::kCuda);
        for (DType dt : {DType::kBF16, DType::kF16}) {
            // The CPU's composition: the norm rounded to dt, then the product.
            Tensor rows = Tensor::empty({c.m, c.k}, DType::kF32);
            ops::rms_norm(x, norm_w, eps, rows);
            rows = rows.to(dt).to(DType::kF32);
            for (DType out : {DType::kF32, dt}) {
                const bool accumulate = out == DType::kF32 && (variant % 2 == 0);
                const bool with_bias = (variant++ % 3) != 1;
                SCOPED_TRACE(testing::Message() << "m " << c.m << " n " << c.n << " k " << c.k << " " << dtype_name(dt)
                                                << " -> " << dtype_name(out) << " accumulate " << accumulate << " bias "
                                                << with_bias << " seed " << seed);
                const Tensor bias = with_bias ? bd : Tensor();
                Tensor made = start_output(c.m, c.n, out, accumulate, rng);
                Tensor unfused = Tensor::empty({c.m, c.n}, out, Device::kCuda);
                unfused.copy_from(made);
                ops::linear_int4_rms_normed(xd, norm_wd, eps, dt, w.q, w.scale, w.zero, c.group, bias, made,
                                            accumulate);
                Tensor normed = Tensor::empty({c.m, c.k}, dt, Device::kCuda);
                ops::rms_norm(xd, norm_wd, eps, normed);
                ops::linear_int4(normed, w.q, w.scale, w.zero, c.group, bias, unfused, accumulate);
                EXPECT_TRUE(same_bytes(made, unfused)) << "largest difference " << max_diff(made, unfused);

                Tensor cpu = Tensor::empty({c.m, c.n}, DType::kF32);
                ops::linear_int4(rows, w.q_cpu, w.scale_cpu, w.zero_cpu, c.group, with_bias ? b : Tensor(), cpu);
                if (!accumulate) {
                    // Exact products, f32 sums in another order; a 16-bit output rounds once more.
                    double peak = 0.0;
                    for (int64_t i = 0; i < cpu.numel(); ++i)
                        peak = std::max(peak, std::fabs(double(cpu.data<float>()[i])));
                    EXPECT_LE(max_diff(made, cpu), (out == DType::kF32 ? 1e-4 : 8e-3) * std::max(1.0, peak));
                }
            }
        }
    }
}

TEST(GpuInt4MadeRows, GatedRowsGiveTheProductOfActMulBitForBit) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    int variant = 0;
    for (const Case& c : kCases) {
        const Int4Weight w = random_int4(c.n, c.k, c.group, rng);
        const Tensor b = random_matrix(1, c.n, rng, 1.0f).view({c.n}), bd = b.to_device(Device::kCuda);
        for (DType dt : {DType::kBF16, DType::kF16}) {
            const Tensor gate = random_matrix(c.m, c.k, rng, 3.0f).to(dt).to_device(Device::kCuda);
            const Tensor up = random_matrix(c.m, c.k, rng, 1.0f).to(dt).to_device(Device::kCuda);
            // silu is made in the product; gelu (tanh) takes the op's written rows.
            for (ops::Activation act : {ops::Activation::kSilu, ops::Activation::kGeluTanh}) {
                const DType out = (variant % 2 == 0) ? DType::kF32 : dt;
                const bool accumulate = out == DType::kF32 && (variant % 4 == 0);
                const bool with_bias = (variant++ % 3) != 1;
                SCOPED_TRACE(testing::Message() << "m " << c.m << " n " << c.n << " k " << c.k << " " << dtype_name(dt)
                                                << " -> " << dtype_name(out) << " act " << int(act) << " accumulate "
                                                << accumulate << " bias " << with_bias << " seed " << seed);
                const Tensor bias = with_bias ? bd : Tensor();
                Tensor made = start_output(c.m, c.n, out, accumulate, rng);
                Tensor unfused = Tensor::empty({c.m, c.n}, out, Device::kCuda);
                unfused.copy_from(made);
                ops::linear_int4_act_mul(act, gate, up, w.q, w.scale, w.zero, c.group, bias, made, accumulate);
                Tensor rows = Tensor::empty({c.m, c.k}, dt, Device::kCuda);
                ops::act_mul(act, gate, up, rows);
                ops::linear_int4(rows, w.q, w.scale, w.zero, c.group, bias, unfused, accumulate);
                EXPECT_TRUE(same_bytes(made, unfused)) << "largest difference " << max_diff(made, unfused);
            }
        }
    }
}

}  // namespace
}  // namespace turbolm
