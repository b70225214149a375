// Weight-only INT4 on the GPU against the CPU reference: the quantizer gives the same codes, scales
// and zero points from bf16, f16 and f32 weights; the product matches for decode-sized steps (the
// weight-streaming kernel, 1 to 8 rows) and larger ones (dequantize, then the GEMM) on Llama-3-8B
// shapes and odd ones, bf16 and f16, f32 and 16-bit outputs, with bias and accumulation; the
// column gather moves the same elements; and the products replay from a CUDA graph. That last test
// also prints the decode product's time and read bandwidth on the Llama-3-8B shapes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "ops/ops.h"
#include "support/random_tensors.h"

namespace turbolm {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

double max_abs(const Tensor& t) {
    double m = 0.0;
    for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(double(t.data<float>()[i])));
    return m;
}

// Largest |a - b| over two f32 tensors of one shape; infinite where either is NaN.
double max_diff(const Tensor& a, const Tensor& b) {
    double worst = 0.0;
    for (int64_t i = 0; i < a.numel(); ++i) {
        const double d = std::fabs(double(a.data<float>()[i]) - double(b.data<float>()[i]));
        worst = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(worst, d);
    }
    return worst;
}

// A device tensor whose bytes are all `byte`: outputs that fill_constant cannot poison (u8).
Tensor poisoned(const Shape& shape, DType dtype, uint8_t byte) {
    Tensor host = Tensor::empty(shape, dtype);
    std::memset(host.raw_data(), byte, host.nbytes());
    return host.to_device(Device::kCuda);
}

bool same_bytes(const Tensor& host, const Tensor& device) {
    const Tensor back = device.to_device(Device::kCpu);
    return std::memcmp(host.raw_data(), back.raw_data(), host.nbytes()) == 0;
}

struct Int4Weight {
    Tensor q, scale, zero;  // on the CPU
    int64_t group = 0;
};

Int4Weight quantize_on_cpu(const Tensor& w, int64_t group) {
    const int64_t n = w.size(0), k = w.size(1);
    Int4Weight r{Tensor::empty({n, k / 2}, DType::kU8), Tensor::empty({n, k / group}, DType::kF16),
                 Tensor::empty({n, k / group}, DType::kU8), group};
    ops::quantize_groups_int4(w, group, r.q, r.scale, r.zero);
    return r;
}

TEST(GpuInt4, QuantizerMatchesTheCpuBitForBit) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t n = 300, k = 1024;
    Tensor w = random_matrix(n, k, rng, 0.02f);
    // Groups the rule treats specially: constant (zero and not), one-signed, an outlier.
    std::fill_n(w.data<float>() + 3 * k, 128, 0.0f);
    std::fill_n(w.data<float>() + 4 * k + 128, 128, -0.0375f);
    for (int64_t c = 0; c < 128; ++c) w.data<float>()[5 * k + c] = 0.01f + 1e-4f * float(c);
    w.data<float>()[6 * k + 700] = 1.5f;
    for (DType dt : {DType::kBF16, DType::kF16, DType::kF32}) {
        for (int64_t group : {32, 64, 128}) {
            SCOPED_TRACE(testing::Message() << dtype_name(dt) << " group " << group << " seed " << seed);
            const Tensor wt = w.to(dt);
            const Int4Weight ref = quantize_on_cpu(wt, group);
            Tensor q = poisoned(ref.q.shape(), DType::kU8, 0xa5), zero = poisoned(ref.zero.shape(), DType::kU8, 0xa5);
            Tensor scale = Tensor::empty(ref.scale.shape(), DType::kF16, Device::kCuda);
            ops::fill_constant(scale, kNaN);
            ops::quantize_groups_int4(wt.to_device(Device::kCuda), group, q, scale, zero);
            EXPECT_TRUE(same_bytes(ref.q, q)) << "codes differ";
            EXPECT_TRUE(same_bytes(ref.scale, scale)) << "scales differ";
            EXPECT_TRUE(same_bytes(ref.zero, zero)) << "zero points differ";
        }
    }
}

struct ProductCase {
    int64_t m, n, k, group;
};

TEST(GpuInt4, ProductMatchesTheCpu) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    // m <= 8 streams the packed weights (groups of 128 and more, 64, 32 take three kernel shapes);
    // m > 8 dequantizes for the GEMM. (n, k) are Llama-3-8B's projections and odd sizes.
    const ProductCase cases[] = {
        {1, 4096, 4096, 128},
        {1, 14336, 4096, 128},
        {1, 4096, 14336, 128},
        {1, 1024, 4096, 64},
        {2, 129, 512, 64},
        {3, 4096, 4096, 128},
        {3, 129, 256, 32},
        {8, 4096, 14336, 128},
        {8, 129, 1024, 256},
        {9, 4096, 4096, 128},
        {9, 129, 512, 64},
        {64, 4096, 4096, 128},
        {64, 1024, 14336, 64},
        // far more 16-row tiles than resident blocks: the streaming kernel, several tiles per block
        {1, 16384, 2048, 128},
        {8, 16400, 1024, 256},
        {2, 28672, 4096, 128},
    };
    int variant = 0;
    for (const ProductCase& c : cases) {
        const Tensor w = random_matrix(c.n, c.k, rng, 0.05f);
        const Int4Weight qw = quantize_on_cpu(w, c.group);
        const Tensor qd = qw.q.to_device(Device::kCuda), sd = qw.scale.to_device(Device::kCuda),
                     zd = qw.zero.to_device(Device::kCuda);
        const Tensor b = random_matrix(1, c.n, rng, 1.0f).view({c.n}), bd = b.to_device(Device::kCuda);
        for (DType dt : {DType::kBF16, DType::kF16}) {
            const Tensor x = random_matrix(c.m, c.k, rng, 1.0f).to(dt).to(DType::kF32);  // representable in dt
            const Tensor xd = x.to(dt).to_device(Device::kCuda);
            Tensor product = Tensor::empty({c.m, c.n}, DType::kF32);
            ops::linear_int4(x, qw.q, qw.scale, qw.zero, c.group, Tensor(), product);
            for (DType out : {DType::kF32, dt}) {
                for (bool accumulate : {false, true}) {
                    const bool with_bias = (variant++ % 3) != 1;
                    SCOPED_TRACE(testing::Message()
                                 << "m " << c.m << " n " << c.n << " k " << c.k << " group " << c.group << " "
                                 << dtype_name(dt) << " -> " << dtype_name(out) << " bias " << with_bias
                                 << " accumulate " << accumulate << " seed " << seed);
                    const Tensor start = random_matrix(c.m, c.n, rng, 1.0f).to(out).to(DType::kF32);
                    Tensor ref = Tensor::empty({c.m, c.n}, DType::kF32);
                    for (int64_t t = 0; t < c.m; ++t) {
                        for (int64_t r = 0; r < c.n; ++r) {
                            const int64_t i = t * c.n + r;
                            ref.data<float>()[i] = product.data<float>()[i] + (with_bias ? b.data<float>()[r] : 0.0f) +
                                                   (accumulate ? start.data<float>()[i] : 0.0f);
                        }
                    }
                    Tensor y = Tensor::empty({c.m, c.n}, out, Device::kCuda);
                    if (accumulate)
                        y.copy_from(start.to(out).to_device(Device::kCuda));
                    else
                        ops::fill_constant(y, kNaN);
                    ops::linear_int4(xd, qd, sd, zd, c.group, with_bias ? bd : Tensor(), y, accumulate);
                    const Tensor got = y.to_device(Device::kCpu).to(DType::kF32);
                    // The streaming kernel's products are exact and its sums f32 in another order;
                    // the GEMM path rounds the dequantized weights to 16 bits, and a 16-bit output
                    // adds its own rounding.
                    const bool exact_weights = c.m <= 8 && out == DType::kF32;
                    const double tol = (exact_weights ? 1e-4 : 8e-3) * std::max(1.0, max_abs(ref));
                    EXPECT_LE(max_diff(got, ref), tol);
                }
            }
        }
    }
}

TEST(GpuInt4, GatherColumnsMatchesTheCpu) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t rows = 7, cols = 4096;
    std::vector<int32_t> order(cols);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    Tensor perm = Tensor::empty({cols}, DType::kI32);
    std::copy(order.begin(), order.end(), perm.data<int32_t>());
    const Tensor perm_d = perm.to_device(Device::kCuda);
    for (DType dt : {DType::kBF16, DType::kF16, DType::kF32}) {
        const Tensor src = random_matrix(rows, cols, rng, 1.0f).to(dt);
        Tensor ref = Tensor::empty({rows, cols}, dt);
        ops::gather_columns(src, perm, ref);
        Tensor dst = Tensor::empty({rows, cols}, dt, Device::kCuda);
        ops::fill_constant(dst, kNaN);
        ops::gather_columns(src.to_device(Device::kCuda), perm_d, dst);
        EXPECT_TRUE(same_bytes(ref, dst)) << dtype_name(dt) << " seed " << seed;
    }
}

// Both paths inside one captured graph give what eager launches give, bit for bit; then the decode
// product alone is replayed on the Llama-3-8B shapes and its read bandwidth printed (no assertion:
// the numbers are for whoever reads the log on a GPU machine).
TEST(GpuInt4, ProductsReplayFromAGraph) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t k = 4096, group = 128;
    for (int64_t n : {1024, 16384}) {  // the per-tile kernel and the streaming one
        const Int4Weight qw = quantize_on_cpu(random_matrix(n, k, rng, 0.05f), group);
        const Tensor qd = qw.q.to_device(Device::kCuda), sd = qw.scale.to_device(Device::kCuda),
                     zd = qw.zero.to_device(Device::kCuda);
        const Tensor b = random_matrix(1, n, rng, 1.0f).view({n}).to_device(Device::kCuda);
        for (int64_t m : {1, 9}) {
            const Tensor x = random_matrix(m, k, rng, 1.0f).to(DType::kBF16).to_device(Device::kCuda);
            Tensor eager = Tensor::empty({m, n}, DType::kF32, Device::kCuda);
            Tensor replayed = Tensor::empty({m, n}, DType::kF32, Device::kCuda);
            ops::linear_int4(x, qd, sd, zd, group, b, eager);
            ops::fill_constant(replayed, kNaN);
            ops::DeviceGraph graph(Device::kCuda);
            graph.capture([&] { ops::linear_int4(x, qd, sd, zd, group, b, replayed); });
            ops::fill_constant(replayed, kNaN);
            graph.replay();
            ops::synchronize(Device::kCuda);
            const Tensor e = eager.to_device(Device::kCpu), r = replayed.to_device(Device::kCpu);
            EXPECT_EQ(std::memcmp(e.raw_data(), r.raw_data(), e.nbytes()), 0)
                << "n " << n << " m " << m << " seed " << seed;
        }
    }

    struct Dims {
        int64_t n, k;
    };
    for (const Dims s : {Dims{4096, 4096}, Dims{1024, 4096}, Dims{14336, 4096}, Dims{4096, 14336}, Dims{28672, 4096}}) {
        const int64_t groups = s.k / group;
        Tensor q = Tensor::empty({s.n, s.k / 2}, DType::kU8, Device::kCuda);
        Tensor scale = Tensor::empty({s.n, groups}, DType::kF16, Device::kCuda);
        Tensor zero = Tensor::empty({s.n, groups}, DType::kU8, Device::kCuda);
        Tensor w = Tensor::empty({s.n, s.k}, DType::kBF16, Device::kCuda);
        ops::fill_uniform(w, -0.05f, 0.05f, 7);
        ops::quantize_groups_int4(w, group, q, scale, zero);
        Tensor x = Tensor::empty({1, s.k}, DType::kBF16, Device::kCuda);
        ops::fill_uniform(x, -1.0f, 1.0f, 8);
        Tensor y = Tensor::empty({1, s.n}, DType::kBF16, Device::kCuda);
        constexpr int kCalls = 50, kReplays = 20;
        ops::DeviceGraph graph(Device::kCuda);
        graph.capture([&] {
            for (int i = 0; i < kCalls; ++i) ops::linear_int4(x, q, scale, zero, group, Tensor(), y);
        });
        graph.replay();
        ops::synchronize(Device::kCuda);
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < kReplays; ++i) graph.replay();
        ops::synchronize(Device::kCuda);
        const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
                          (kCalls * kReplays);
        const double bytes = double(q.nbytes() + scale.nbytes() + zero.nbytes() + x.nbytes() + y.nbytes());
        std::printf("int4 decode product m=1 n=%lld k=%lld group=%lld: %.2f us, %.0f GB/s\n", (long long)s.n,
                    (long long)s.k, (long long)group, us, bytes / us * 1e-3);
    }
}

}  // namespace
}  // namespace turbolm
