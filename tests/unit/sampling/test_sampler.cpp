// The sampler against direct computations of each rule, and its draws against the distribution it
// claims to sample from.
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "sampling/sampler.h"

namespace turbolm {
namespace {

std::vector<float> random_logits(std::mt19937_64& rng, int n) {
    std::normal_distribution<float> normal(0.0f, 2.0f);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = normal(rng);
    return v;
}

// Empirical frequencies of `draws` samples.
std::map<int32_t, double> frequencies(const SamplingParams& p, const std::vector<float>& logits, int draws) {
    Sampler s(p);
    std::map<int32_t, double> f;
    for (int i = 0; i < draws; ++i) {
        std::vector<float> l = logits;
        f[s.sample(l, {}, {})] += 1.0 / draws;
    }
    return f;
}

std::vector<double> softmax(const std::vector<float>& l, float temperature) {
    double mx = -1e30, sum = 0.0;
    for (float x : l) mx = std::max(mx, double(x) / temperature);
    std::vector<double> p(l.size());
    for (size_t i = 0; i < l.size(); ++i) sum += p[i] = std::exp(double(l[i]) / temperature - mx);
    for (auto& x : p) x /= sum;
    return p;
}

TEST(Sampler, GreedyIsArgmaxWithLowestIndexOnTies) {
    SamplingParams p;
    p.temperature = 0.0f;
    Sampler s(p);
    std::vector<float> l = {0.5f, 2.0f, -1.0f, 2.0f};
    EXPECT_EQ(s.sample(l, {}, {}), 1);
}

TEST(Sampler, SameSeedSameTokens) {
    std::mt19937_64 rng(std::random_device{}());
    auto logits = random_logits(rng, 1000);
    SamplingParams p;
    p.temperature = 0.8f;
    p.top_p = 0.9f;
    p.seed = rng();
    Sampler a(p), b(p);
    for (int i = 0; i < 200; ++i) {
        auto la = logits, lb = logits;
        ASSERT_EQ(a.sample(la, {}, {}), b.sample(lb, {}, {}));
    }
}

TEST(Sampler, TemperatureSamplesTheSoftmax) {
    std::mt19937_64 rng(std::random_device{}());
    auto logits = random_logits(rng, 8);
    SamplingParams p;
    p.temperature = 0.7f;
    p.seed = rng();
    const int draws = 200000;
    auto f = frequencies(p, logits, draws);
    auto ref = softmax(logits, 0.7f);
    for (size_t i = 0; i < ref.size(); ++i) {
        const double sd = std::sqrt(ref[i] * (1 - ref[i]) / draws);
        EXPECT_NEAR(f[int32_t(i)], ref[i], 5 * sd + 1e-4) << "token " << i;
    }
}

TEST(Sampler, TopKKeepsOnlyTheKMostLikely) {
    std::mt19937_64 rng(std::random_device{}());
    auto logits = random_logits(rng, 50);
    SamplingParams p;
    p.top_k = 3;
    p.seed = rng();
    std::vector<int32_t> order(50);
    for (int i = 0; i < 50; ++i) order[size_t(i)] = i;
    std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[size_t(a)] > logits[size_t(b)]; });
    auto f = frequencies(p, logits, 60000);
    double mass = 0.0;
    for (int i = 0; i < 3; ++i) mass += std::exp(double(logits[size_t(order[size_t(i)])]));
    for (const auto& [tok, freq] : f) {
        const bool kept = tok == order[0] || tok == order[1] || tok == order[2];
        ASSERT_TRUE(kept) << "token " << tok << " outside the top 3 was drawn";
        const double expect = std::exp(double(logits[size_t(tok)])) / mass;
        EXPECT_NEAR(freq, expect, 0.015);
    }
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
    // Probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.75 keeps the first two (0.8 >= 0.75).
    std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
    SamplingParams p;
    p.top_p = 0.75f;
    p.seed = 7;
    auto f = frequencies(p, logits, 40000);
    EXPECT_EQ(f.count(2), 0u);
    EXPECT_EQ(f.count(3), 0u);
    EXPECT_NEAR(f[0], 0.5 / 0.8, 0.01);
    EXPECT_NEAR(f[1], 0.3 / 0.8, 0.01);
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheTop) {
    std::vector<float> logits = {std::log(0.6f), std::log(0.25f), std::log(0.1f), std::log(0.05f)};
    SamplingParams p;
    p.min_p = 0.2f;  // threshold 0.12: keeps 0.6 and 0.25
    p.seed = 11;
    auto f = frequencies(p, logits, 40000);
    EXPECT_EQ(f.count(2), 0u);
    EXPECT_EQ(f.count(3), 0u);
    EXPECT_NEAR(f[0], 0.6 / 0.85, 0.01);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
    SamplingParams p;
    p.temperature = 0.0f;
    p.repetition_penalty = 2.0f;
    Sampler s(p);
    // Token 0 (logit 3) is in the prompt: 3 / 2 = 1.5 < token 1's 2.0. Token 2 (logit -1) seen: -2.
    std::vector<float> l = {3.0f, 2.0f, -1.0f};
    std::vector<int32_t> prompt = {0, 0, 2};
    EXPECT_EQ(s.sample(l, prompt, {}), 1);
    EXPECT_FLOAT_EQ(l[0], 1.5f);
    EXPECT_FLOAT_EQ(l[2], -2.0f);
    EXPECT_FLOAT_EQ(l[1], 2.0f);
}

TEST(Sampler, PresenceAndFrequencyPenaltiesCountTheOutputOnly) {
    SamplingParams p;
    p.temperature = 0.0f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    Sampler s(p);
    std::vector<float> l = {1.0f, 1.0f, 1.0f};
    std::vector<int32_t> prompt = {2, 2, 2};  // not penalized
    std::vector<int32_t> generated = {0, 0, 0, 1};
    s.sample(l, prompt, generated);
    EXPECT_FLOAT_EQ(l[0], 1.0f - 0.5f - 0.75f);
    EXPECT_FLOAT_EQ(l[1], 1.0f - 0.5f - 0.25f);
    EXPECT_FLOAT_EQ(l[2], 1.0f);
}

TEST(Sampler, RejectsInvalidParameters) {
    SamplingParams p;
    p.top_p = 0.0f;
    EXPECT_THROW(Sampler{p}, Error);
    p = {};
    p.temperature = -1.0f;
    EXPECT_THROW(Sampler{p}, Error);
    p = {};
    p.top_k = -2;
    EXPECT_THROW(Sampler{p}, Error);
    p = {};
    p.repetition_penalty = 0.0f;
    EXPECT_THROW(Sampler{p}, Error);
}

}  // namespace
}  // namespace turbolm
