// Beam search against exhaustive search: with a beam at least as wide as every sequence there is,
// the beam keeps them all and must return the best one; a narrow beam must return a sequence no
// better than that, and equal to a direct re-implementation of the same rule.
#include <cmath>
#include <functional>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "engine/beam_search.h"

namespace turbolm {
namespace {

// A made-up language model: log-probabilities of the next token depend on the whole prefix.
struct ToyModel {
    int vocab;
    uint64_t seed;
    std::vector<std::pair<int32_t, float>> next(const std::vector<int32_t>& prefix) const {
        uint64_t h = seed;
        for (int32_t t : prefix) h = h * 1000003u + uint64_t(t) + 1;
        std::mt19937_64 rng(h);
        std::vector<double> logits(static_cast<size_t>(vocab));
        double mx = -1e30, sum = 0;
        for (auto& l : logits) {
            l = std::normal_distribution<double>(0, 2)(rng);
            mx = std::max(mx, l);
        }
        for (double l : logits) sum += std::exp(l - mx);
        std::vector<std::pair<int32_t, float>> out;
        for (int t = 0; t < vocab; ++t) out.push_back({t, float(logits[size_t(t)] - mx - std::log(sum))});
        return out;
    }
};

BeamSearch::Result run(const ToyModel& m, int width, int64_t max_tokens, std::vector<int32_t> eos, float lp) {
    BeamSearch b(width, max_tokens, eos, lp);
    while (!b.done()) {
        const auto pending = b.pending();
        for (size_t i = 0; i < pending.size(); ++i) b.give(i, m.next(pending[i]));
    }
    return b.best();
}

TEST(BeamSearch, WideBeamFindsTheBestSequence) {
    const uint64_t seed = std::random_device{}();
    for (int trial = 0; trial < 20; ++trial) {
        ToyModel m{4, seed + uint64_t(trial)};
        const std::vector<int32_t> eos = {3};
        // Exhaustive: every sequence of up to 3 tokens that ends at EOS or at the length limit.
        float best = -1e30f;
        std::function<void(std::vector<int32_t>, float)> walk = [&](std::vector<int32_t> prefix, float score) {
            for (const auto& [tok, lp] : m.next(prefix)) {
                std::vector<int32_t> t = prefix;
                t.push_back(tok);
                const float s = score + lp;
                if (tok == 3 || t.size() == 3) {
                    best = std::max(best, s / float(t.size()));
                } else {
                    walk(t, s);
                }
            }
        };
        walk({}, 0.0f);
        const BeamSearch::Result r = run(m, 64, 3, eos, 1.0f);
        EXPECT_NEAR(r.score / float(r.tokens.size()), best, 1e-5) << "seed " << seed + uint64_t(trial);
    }
}

TEST(BeamSearch, NarrowBeamIsDeterministicAndNoBetterThanExhaustive) {
    ToyModel m{50, 7};
    const BeamSearch::Result a = run(m, 4, 8, {}, 1.0f), b = run(m, 4, 8, {}, 1.0f);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.tokens.size(), 8u);
    EXPECT_FALSE(a.ended_with_eos);
    // Width 1 is greedy: each step the most likely token.
    const BeamSearch::Result g = run(m, 1, 5, {}, 1.0f);
    std::vector<int32_t> greedy;
    for (int i = 0; i < 5; ++i) {
        auto next = m.next(greedy);
        greedy.push_back(std::max_element(next.begin(), next.end(), [](auto x, auto y) { return x.second < y.second; })->first);
    }
    EXPECT_EQ(g.tokens, greedy);
}

}  // namespace
}  // namespace turbolm
