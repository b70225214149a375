// The 8-bit KV cache on the CPU: the E4M3 decoding table, the per-head quantization's round-trip
// error, qkv_to_cache writing codes and scales, and attention over int8 / FP8 pools against
// attention computed in double on the dequantized values. Fresh random inputs; outputs and unused
// cache entries are poisoned first.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/half.h"
#include "ops/cpu/cpu_kv_quant.h"
#include "ops/ops.h"

namespace turbolm {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

uint64_t fresh_seed() {
    static const uint64_t seed = std::random_device{}();
    return seed;
}

const char* code_name(DType dt) { return dt == DType::kI8 ? "int8" : "fp8"; }

// The value a code stands for, before its scale.
float code_value(const Tensor& pool, int64_t i) {
    if (pool.dtype() == DType::kI8) return float(pool.data<int8_t>()[i]);
    return f8e4m3_to_f32(pool.data<uint8_t>()[i]);
}

TEST(KvQuant, E4m3TableGivesEveryCodesValue) {
    for (int c = 0; c < 256; ++c) {
        const float want = f8e4m3_to_f32(uint8_t(c)), got = cpu::e4m3_to_f32(uint8_t(c));
        if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(got)) << c;
        } else {
            EXPECT_EQ(got, want) << "code " << c;
        }
    }
}

// Round trip of one vector: int8 to within half a step; e4m3 to within half an ulp of 3 mantissa
// bits (relative 2^-4) or half the subnormal step (2^-10 of the scale). The slack covers the f32
// rounding of x / scale (at most 127 * 2^-24 of a step).
void expect_round_trip(const std::vector<float>& x, DType dt, const std::vector<uint8_t>& raw, float scale) {
    float amax = 0.0f;
    for (float v : x) amax = std::max(amax, std::fabs(v));
    const float bound = dt == DType::kI8 ? cpu::kKvInt8Max : cpu::kKvFp8Max;
    EXPECT_EQ(scale, amax > 0.0f ? amax / bound : 1.0f);
    for (size_t i = 0; i < x.size(); ++i) {
        const float code = dt == DType::kI8 ? float(int8_t(raw[i])) : f8e4m3_to_f32(raw[i]);
        const double err = std::fabs(double(code) * scale - double(x[i]));
        const double limit = dt == DType::kI8 ? 0.5 * scale
                                              : std::max(std::fabs(double(x[i])) / 16.0, double(scale) / 1024.0);
        ASSERT_LE(err, limit * (1.0 + 2e-5)) << code_name(dt) << " element " << i << " value " << x[i]
                                             << " scale " << scale << " seed " << fresh_seed();
    }
}

TEST(KvQuant, HeadVectorsRoundTripWithinHalfAStep) {
    std::mt19937_64 rng(fresh_seed());
    for (DType dt : {DType::kI8, DType::kF8E4M3}) {
        for (int trial = 0; trial < 200; ++trial) {
            const int64_t n = 1 + int64_t(rng() % 160);
            std::vector<float> x(static_cast<size_t>(n));
            const float spread = std::exp2(float(int(rng() % 20)) - 10.0f);
            std::normal_distribution<float> d(0.0f, spread);
            for (auto& v : x) v = d(rng);
            if (trial % 17 == 0) x[size_t(rng() % n)] *= 50.0f;  // an outlier sets the scale
            std::vector<uint8_t> raw(size_t(n), 0xff);
            float scale = kNaN;
            cpu::quantize_kv_rows(x.data(), n, 1, n, dt, raw.data(), n, &scale);
            expect_round_trip(x, dt, raw, scale);
            // Dequantizing gives exactly code * scale.
            std::vector<float> back(size_t(n), kNaN);
            cpu::dequantize_kv_rows(raw.data(), n, dt, &scale, 1, n, back.data(), n);
            for (int64_t i = 0; i < n; ++i) {
                const float code = dt == DType::kI8 ? float(int8_t(raw[size_t(i)])) : f8e4m3_to_f32(raw[size_t(i)]);
                ASSERT_EQ(back[size_t(i)], code * scale);
            }
        }
        // An all-zero vector stores zeros with scale 1.
        std::vector<float> zero(64, 0.0f);
        std::vector<uint8_t> raw(64, 0x55);
        float scale = kNaN;
        cpu::quantize_kv_rows(zero.data(), 64, 1, 64, dt, raw.data(), 64, &scale);
        EXPECT_EQ(scale, 1.0f);
        for (uint8_t c : raw) EXPECT_EQ(c, 0);
    }
}

ops::KvLayer new_layer(int64_t n_slots, int64_t n_head_kv, int64_t head_dim, DType dt) {
    ops::KvLayer c;
    c.k = Tensor::empty({n_slots, n_head_kv, head_dim}, dt);
    c.v = Tensor::empty({n_slots, n_head_kv, head_dim}, dt);
    if (dt != DType::kF32) {
        c.k_scale = Tensor::empty({n_slots, n_head_kv}, DType::kF32);
        c.v_scale = Tensor::empty({n_slots, n_head_kv}, DType::kF32);
    }
    return c;
}

Tensor i32_tensor(const std::vector<int32_t>& v) {
    Tensor t = Tensor::empty({int64_t(v.size())}, DType::kI32);
    std::copy(v.begin(), v.end(), t.data<int32_t>());
    return t;
}

// qkv_to_cache with rotation and q/k norms into an f32 cache and into 8-bit ones: q is the same,
// and each stored head of the 8-bit cache is the f32 cache's head quantized (its scale is the
// head's max / 127 or / 448; the round trip stays within half a step). Unlisted slots stay untouched.
TEST(KvQuant, QkvToCacheStoresQuantizedHeads) {
    std::mt19937_64 rng(fresh_seed());
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const int64_t T = 5, H = 4, Hkv = 2, hd = 32, n_slots = 12;
    Tensor qkv = Tensor::empty({T, (H + 2 * Hkv) * hd}, DType::kF32);
    for (int64_t i = 0; i < qkv.numel(); ++i) qkv.data<float>()[i] = normal(rng) * 3.0f;
    ops::QkvToCacheArgs a;
    a.n_head = H;
    a.n_head_kv = Hkv;
    a.pos = i32_tensor({7, 8, 9, 10, 11});
    a.inv_freq = Tensor::empty({hd / 4}, DType::kF32);
    for (int64_t i = 0; i < hd / 4; ++i)
        a.inv_freq.data<float>()[i] = std::pow(10000.0f, -float(2 * i) / float(hd / 2));
    a.rot_dim = hd / 2;
    a.q_norm = Tensor::empty({hd}, DType::kF32);
    a.k_norm = Tensor::empty({hd}, DType::kF32);
    for (int64_t i = 0; i < hd; ++i) a.q_norm.data<float>()[i] = 0.5f + 0.03f * float(i);
    for (int64_t i = 0; i < hd; ++i) a.k_norm.data<float>()[i] = 1.5f - 0.02f * float(i);
    a.slots = Tensor::empty({T}, DType::kI64);
    const int64_t slots[T] = {3, 0, -1, 11, 6};  // one token is not stored
    std::copy(slots, slots + T, a.slots.data<int64_t>());

    ops::KvLayer ref = new_layer(n_slots, Hkv, hd, DType::kF32);
    Tensor q_ref = Tensor::empty({T, H, hd}, DType::kF32);
    ops::qkv_to_cache(qkv, a, ref, q_ref);
    for (DType dt : {DType::kI8, DType::kF8E4M3}) {
        SCOPED_TRACE(code_name(dt));
        ops::KvLayer c = new_layer(n_slots, Hkv, hd, dt);
        std::fill_n(static_cast<uint8_t*>(c.k.raw_data()), c.k.numel(), 0x7f);
        std::fill_n(static_cast<uint8_t*>(c.v.raw_data()), c.v.numel(), 0x7f);
        std::fill_n(c.k_scale.data<float>(), c.k_scale.numel(), kNaN);
        std::fill_n(c.v_scale.data<float>(), c.v_scale.numel(), kNaN);
        Tensor q = Tensor::empty({T, H, hd}, DType::kF32);
        std::fill_n(q.data<float>(), q.numel(), kNaN);
        ops::qkv_to_cache(qkv, a, c, q);
        for (int64_t i = 0; i < q.numel(); ++i) ASSERT_EQ(q.data<float>()[i], q_ref.data<float>()[i]);
        for (int64_t t = 0; t < T; ++t) {
            if (slots[t] < 0) continue;
            for (int64_t h = 0; h < Hkv; ++h) {
                for (int kv = 0; kv < 2; ++kv) {
                    const Tensor& pool = kv ? c.v : c.k;
                    const float scale = (kv ? c.v_scale : c.k_scale).data<float>()[slots[t] * Hkv + h];
                    const int64_t at = (slots[t] * Hkv + h) * hd;
                    std::vector<float> x(static_cast<size_t>(hd));
                    std::vector<uint8_t> raw(static_cast<size_t>(hd));
                    for (int64_t d = 0; d < hd; ++d) {
                        x[size_t(d)] = (kv ? ref.v : ref.k).data<float>()[at + d];
                        raw[size_t(d)] = static_cast<const uint8_t*>(pool.raw_data())[at + d];
                    }
                    expect_round_trip(x, dt, raw, scale);
                }
            }
        }
        // Slots no token names keep their poison.
        for (int64_t s : {1, 2, 4, 5, 7, 8, 9, 10}) {
            EXPECT_TRUE(std::isnan(c.k_scale.data<float>()[s * Hkv]));
            EXPECT_EQ(static_cast<const uint8_t*>(c.v.raw_data())[s * Hkv * hd], 0x7f);
        }
    }
}

struct SeqCase {
    int kv_len, q_len;
};
struct AttnCase {
    int n_head, n_head_kv, head_dim, block_size, window;
    std::vector<SeqCase> seqs;
};

// Attention over a paged 8-bit cache with shuffled block tables against a double-precision softmax
// over code * scale. Visible keys hold quantized random vectors; pool entries no visible key uses
// (spare blocks, positions before the window) hold random codes (NaN ones for FP8) and NaN scales,
// so reading one shows in the output.
TEST(KvQuant, AttentionOverCodesMatchesDoubleReference) {
    std::mt19937_64 rng(fresh_seed());
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const std::vector<AttnCase> cases = {
        {4, 4, 16, 4, 0, {{9, 1}, {1, 1}, {17, 1}}},               // decode, MHA
        {8, 2, 64, 16, 0, {{40, 40}, {70, 33}, {5, 2}}},           // prefill (blocked path), GQA
        {6, 2, 32, 8, 7, {{50, 1}, {60, 35}, {12, 12}}},           // sliding window
        {4, 1, 32, 64, 0, {{33, 33}, {64, 1}}},                    // MQA, one block per sequence
        {12, 4, 32, 5, 20, {{96, 96}}},                             // long prefill with a window
    };
    for (DType dt : {DType::kI8, DType::kF8E4M3}) {
        for (const AttnCase& c : cases) {
            SCOPED_TRACE(testing::Message() << code_name(dt) << " heads " << c.n_head << "/" << c.n_head_kv << " hd "
                                            << c.head_dim << " block " << c.block_size << " window " << c.window
                                            << " seed " << fresh_seed());
            const int64_t n_seqs = int64_t(c.seqs.size()), hd = c.head_dim, Hkv = c.n_head_kv, H = c.n_head;
            int64_t max_blocks = 1, used = 0;
            for (const SeqCase& s : c.seqs) {
                max_blocks = std::max<int64_t>(max_blocks, (s.kv_len + c.block_size - 1) / c.block_size);
                used += (s.kv_len + c.block_size - 1) / c.block_size;
            }
            const int64_t n_blocks = used + 3;
            std::vector<int32_t> perm(static_cast<size_t>(n_blocks));
            std::iota(perm.begin(), perm.end(), 0);
            std::shuffle(perm.begin(), perm.end(), rng);
            Tensor table = Tensor::empty({n_seqs, max_blocks}, DType::kI32);
            std::fill_n(table.data<int32_t>(), table.numel(), 0);
            int64_t next = 0;
            for (int64_t s = 0; s < n_seqs; ++s)
                for (int64_t b = 0; b * c.block_size < c.seqs[size_t(s)].kv_len; ++b)
                    table.data<int32_t>()[s * max_blocks + b] = perm[size_t(next++)];

            ops::KvLayer cache = new_layer(n_blocks * c.block_size, Hkv, hd, dt);
            for (const Tensor* pool : {&cache.k, &cache.v}) {
                auto* p = static_cast<uint8_t*>(pool->raw_data());
                for (int64_t i = 0; i < pool->numel(); ++i) p[i] = uint8_t(rng());
            }
            std::vector<bool> visible(size_t(n_blocks * c.block_size), false);
            std::vector<int32_t> q_start = {0}, kv_len, q_pos;
            for (int64_t s = 0; s < n_seqs; ++s) {
                const SeqCase& sc = c.seqs[size_t(s)];
                const int first_q = sc.kv_len - sc.q_len;
                const int lo = c.window > 0 ? std::max(0, first_q - c.window + 1) : 0;
                for (int p = lo; p < sc.kv_len; ++p)
                    visible[size_t(table.data<int32_t>()[s * max_blocks + p / c.block_size] * c.block_size +
                                   p % c.block_size)] = true;
                for (int i = 0; i < sc.q_len; ++i) q_pos.push_back(first_q + i);
                q_start.push_back(q_start.back() + sc.q_len);
                kv_len.push_back(sc.kv_len);
            }
            std::fill_n(cache.k_scale.data<float>(), cache.k_scale.numel(), kNaN);
            std::fill_n(cache.v_scale.data<float>(), cache.v_scale.numel(), kNaN);
            std::vector<float> x(static_cast<size_t>(Hkv * hd));
            for (int64_t slot = 0; slot < int64_t(visible.size()); ++slot) {
                if (!visible[size_t(slot)]) continue;
                for (int kv = 0; kv < 2; ++kv) {
                    for (auto& e : x) e = normal(rng) * (kv ? 2.0f : 1.0f);
                    const Tensor& pool = kv ? cache.v : cache.k;
                    cpu::quantize_kv_rows(x.data(), hd, Hkv, hd, dt,
                                          static_cast<uint8_t*>(pool.raw_data()) + slot * Hkv * hd, hd,
                                          (kv ? cache.v_scale : cache.k_scale).data<float>() + slot * Hkv);
                }
            }
            const int64_t T = q_start.back();
            Tensor q = Tensor::empty({T, H, hd}, DType::kF32);
            for (int64_t i = 0; i < q.numel(); ++i) q.data<float>()[i] = normal(rng) * 2.0f;
            ops::AttentionBatch batch;
            batch.q_start = i32_tensor(q_start);
            batch.kv_len = i32_tensor(kv_len);
            batch.q_pos = i32_tensor(q_pos);
            batch.block_table = table;
            batch.block_size = c.block_size;
            for (int s = 0; s < n_seqs; ++s) {
                batch.max_q_len = std::max<int64_t>(batch.max_q_len, c.seqs[size_t(s)].q_len);
                batch.max_kv_len = std::max<int64_t>(batch.max_kv_len, c.seqs[size_t(s)].kv_len);
            }
            ops::AttentionParams params;
            params.scale = 1.0f / std::sqrt(float(hd));
            params.window = c.window;
            Tensor out = Tensor::empty({T, H, hd}, DType::kF32);
            std::fill_n(out.data<float>(), out.numel(), kNaN);
            ops::attention(q, cache, batch, params, out);

            auto deq = [&](const ops::KvLayer& kv, bool is_v, int64_t slot, int64_t h, int64_t d) {
                const Tensor& pool = is_v ? kv.v : kv.k;
                const float s = (is_v ? kv.v_scale : kv.k_scale).data<float>()[slot * Hkv + h];
                return double(code_value(pool, (slot * Hkv + h) * hd + d)) * double(s);
            };
            const int64_t group = H / Hkv;
            for (int64_t s = 0; s < n_seqs; ++s) {
                for (int64_t t = q_start[size_t(s)]; t < q_start[size_t(s) + 1]; ++t) {
                    const int64_t pos = q_pos[size_t(t)];
                    const int64_t lo = c.window > 0 ? std::max<int64_t>(0, pos - c.window + 1) : 0;
                    for (int64_t h = 0; h < H; ++h) {
                        const int64_t kvh = h / group;
                        std::vector<double> w;
                        std::vector<int64_t> slot_of;
                        double mx = -1e300, sum = 0.0;
                        for (int64_t p = lo; p <= pos; ++p) {
                            const int64_t block = table.data<int32_t>()[s * max_blocks + p / c.block_size];
                            const int64_t slot = block * c.block_size + p % c.block_size;
                            double dot = 0.0;
                            for (int64_t d = 0; d < hd; ++d)
                                dot += double(q.data<float>()[(t * H + h) * hd + d]) * deq(cache, false, slot, kvh, d);
                            w.push_back(dot * params.scale);
                            slot_of.push_back(slot);
                            mx = std::max(mx, w.back());
                        }
                        for (auto& x : w) sum += x = std::exp(x - mx);
                        for (int64_t d = 0; d < hd; ++d) {
                            double ref = 0.0, mag = 0.0;
                            for (size_t i = 0; i < w.size(); ++i) {
                                const double v = deq(cache, true, slot_of[i], kvh, d);
                                ref += w[i] / sum * v;
                                mag = std::max(mag, std::fabs(v));
                            }
                            const float got = out.data<float>()[(t * H + h) * hd + d];
                            ASSERT_NEAR(got, ref, 2e-5 * (1.0 + mag)) << "t " << t << " h " << h << " d " << d;
                        }
                    }
                }
            }
        }
    }
}

TEST(KvQuant, MismatchedScalesAreRejected) {
    ops::KvLayer c = new_layer(8, 2, 16, DType::kI8);
    c.v_scale = Tensor();
    Tensor qkv = Tensor::empty({1, 6 * 16}, DType::kF32), q = Tensor::empty({1, 2, 16}, DType::kF32);
    ops::QkvToCacheArgs a;
    a.n_head = 2;
    a.n_head_kv = 2;
    a.pos = i32_tensor({0});
    a.slots = Tensor::empty({1}, DType::kI64);
    a.slots.data<int64_t>()[0] = 0;
    EXPECT_THROW(ops::qkv_to_cache(qkv, a, c, q), Error);
    ops::KvLayer f = new_layer(8, 2, 16, DType::kF32);
    f.k_scale = Tensor::empty({8, 2}, DType::kF32);
    f.v_scale = Tensor::empty({8, 2}, DType::kF32);
    EXPECT_THROW(ops::qkv_to_cache(qkv, a, f, q), Error);
}

}  // namespace
}  // namespace turbolm
