// CPU kernels other than the GEMM against float64 references on fresh random input, outputs
// poisoned with NaN first so that an unwritten element cannot pass.
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/fast_math.h"

namespace turbolm {
namespace {

uint64_t fresh_seed() {
    static const uint64_t seed = std::random_device{}();
    return seed;
}

TEST(CpuOps, ExpIsAccurateToAFewUlp) {
    std::mt19937_64 rng(fresh_seed());
    std::uniform_real_distribution<float> x(-87.0f, 88.0f);
    double worst = 0.0;
    for (int i = 0; i < 1'000'000; ++i) {
        const float v = x(rng);
        const double ref = std::exp(double(v));
        worst = std::max(worst, std::fabs(double(cpu::exp_f32(v)) - ref) / ref);
    }
    EXPECT_LT(worst, 3e-7) << "seed " << fresh_seed();
    EXPECT_EQ(cpu::exp_f32(0.0f), 1.0f);
    EXPECT_GT(cpu::exp_f32(-1000.0f), 0.0f);  // saturates instead of underflowing
    EXPECT_TRUE(std::isfinite(cpu::exp_f32(1000.0f)));
}

struct AttentionCase {
    int64_t tokens, cached, n_head, n_head_kv, head_dim, window;
};

// Both the per-token path (decode) and the blocked GEMM path (32 tokens or more), with GQA,
// sliding windows, a cache that already holds earlier positions, and partial blocks.
TEST(CpuOps, AttentionMatchesFloat64Reference) {
    std::mt19937_64 rng(fresh_seed());
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const AttentionCase cases[] = {{1, 0, 4, 4, 16, 0},   {1, 37, 8, 2, 64, 0},  {5, 3, 6, 2, 32, 0},
                                   {33, 0, 4, 1, 16, 0},  {70, 9, 8, 2, 64, 0},  {70, 0, 4, 2, 16, 7},
                                   {40, 100, 4, 4, 8, 16}, {1, 100, 4, 2, 16, 16}, {96, 0, 12, 4, 32, 50}};
    for (const auto& c : cases) {
        const int64_t n_kv = c.cached + c.tokens, qd = c.n_head * c.head_dim, kvd = c.n_head_kv * c.head_dim;
        std::vector<float> q(size_t(c.tokens * qd)), k(size_t(n_kv * kvd)), v(size_t(n_kv * kvd));
        for (auto* buf : {&q, &k, &v})
            for (auto& x : *buf) x = normal(rng);
        std::vector<int32_t> pos(size_t(c.tokens));
        for (int64_t t = 0; t < c.tokens; ++t) pos[size_t(t)] = int32_t(c.cached + t);
        std::vector<float> out(size_t(c.tokens * qd), std::numeric_limits<float>::quiet_NaN());
        const float scale = 1.0f / std::sqrt(float(c.head_dim));
        cpu::attention(q.data(), qd, k.data(), kvd, v.data(), kvd, pos.data(), c.tokens, n_kv, c.n_head, c.n_head_kv,
                       c.head_dim, scale, c.window, out.data(), qd);
        const int64_t group = c.n_head / c.n_head_kv;
        for (int64_t t = 0; t < c.tokens; ++t) {
            for (int64_t h = 0; h < c.n_head; ++h) {
                const int64_t kvh = h / group, p_hi = pos[size_t(t)];
                const int64_t p_lo = c.window ? std::max<int64_t>(0, p_hi - c.window + 1) : 0;
                std::vector<double> w;
                double mx = -1e300, sum = 0.0;
                for (int64_t p = p_lo; p <= p_hi; ++p) {
                    double s = 0.0;
                    for (int64_t d = 0; d < c.head_dim; ++d)
                        s += double(q[size_t(t * qd + h * c.head_dim + d)]) * k[size_t(p * kvd + kvh * c.head_dim + d)];
                    w.push_back(s * scale);
                    mx = std::max(mx, w.back());
                }
                for (auto& x : w) sum += x = std::exp(x - mx);
                for (int64_t d = 0; d < c.head_dim; ++d) {
                    double ref = 0.0;
                    for (int64_t p = p_lo; p <= p_hi; ++p)
                        ref += w[size_t(p - p_lo)] / sum * v[size_t(p * kvd + kvh * c.head_dim + d)];
                    const float got = out[size_t(t * qd + h * c.head_dim + d)];
                    ASSERT_NEAR(got, ref, 2e-5 * (1.0 + std::fabs(ref)))
                        << "tokens " << c.tokens << " cached " << c.cached << " heads " << c.n_head << "/"
                        << c.n_head_kv << " window " << c.window << " at t=" << t << " h=" << h << " d=" << d
                        << " seed " << fresh_seed();
                }
            }
        }
    }
}

TEST(CpuOps, SwigluMatchesFloat64Reference) {
    std::mt19937_64 rng(fresh_seed());
    std::normal_distribution<float> normal(0.0f, 3.0f);
    const int64_t rows = 7, cols = 133;
    std::vector<float> g(size_t(rows * cols)), u(size_t(rows * cols)), o(size_t(rows * cols), NAN);
    for (auto& x : g) x = normal(rng);
    for (auto& x : u) x = normal(rng);
    cpu::act_mul(cpu::Activation::kSilu, g.data(), cols, u.data(), cols, o.data(), cols, rows, cols);
    for (size_t i = 0; i < o.size(); ++i) {
        const double ref = double(g[i]) / (1.0 + std::exp(-double(g[i]))) * u[i];
        ASSERT_NEAR(o[i], ref, 1e-6 * (1.0 + std::fabs(ref))) << i << " seed " << fresh_seed();
    }
}

}  // namespace
}  // namespace turbolm
