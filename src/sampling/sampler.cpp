#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"

namespace turbolm {

std::string SamplingParams::validate() const {
    if (!(temperature >= 0.0f) || !std::isfinite(temperature)) return "temperature must be >= 0";
    if (top_k < 0) return "top_k must be >= 0 (0 disables it)";
    if (!(top_p > 0.0f && top_p <= 1.0f)) return "top_p must be in (0, 1]";
    if (!(min_p >= 0.0f && min_p <= 1.0f)) return "min_p must be in [0, 1]";
    if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty)) return "repetition_penalty must be > 0";
    if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) return "presence_penalty must be in [-2, 2]";
    if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) return "frequency_penalty must be in [-2, 2]";
    return {};
}

int32_t argmax(std::span<const float> logits) {
    return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Sampler::Sampler(const SamplingParams& params) : params_(params) {
    std::string err = params.validate();
    if (!err.empty()) fail(StatusCode::kInvalidArgument, err);
    seed_ = params.seed ? *params.seed : (uint64_t(std::random_device{}()) << 32 | std::random_device{}());
    rng_.reseed(seed_);
}

void Sampler::apply_penalties(std::span<float> logits, std::span<const int32_t> prompt,
                              std::span<const int32_t> generated) {
    const int64_t vocab = int64_t(logits.size());
    auto in_vocab = [&](int32_t t) { return t >= 0 && t < vocab; };
    if (params_.repetition_penalty != 1.0f) {
        // Each distinct token once, whether it appears in the prompt, the output or both.
        std::vector<int32_t> seen;
        seen.reserve(prompt.size() + generated.size());
        seen.insert(seen.end(), prompt.begin(), prompt.end());
        seen.insert(seen.end(), generated.begin(), generated.end());
        std::sort(seen.begin(), seen.end());
        seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
        for (int32_t t : seen) {
            if (!in_vocab(t)) continue;
            float& l = logits[size_t(t)];
            l = l > 0.0f ? l / params_.repetition_penalty : l * params_.repetition_penalty;
        }
    }
    if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
        counts_.assign(size_t(vocab), 0);
        for (int32_t t : generated)
            if (in_vocab(t)) ++counts_[size_t(t)];
        for (int32_t t : generated) {
            if (!in_vocab(t) || counts_[size_t(t)] == 0) continue;
            logits[size_t(t)] -= params_.presence_penalty + params_.frequency_penalty * float(counts_[size_t(t)]);
            counts_[size_t(t)] = 0;  // apply once per distinct token
        }
    }
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> prompt,
                        std::span<const int32_t> generated) {
    TURBOLM_CHECK(!logits.empty(), "sampling from empty logits");
    apply_penalties(logits, prompt, generated);
    if (params_.greedy()) return argmax(logits);

    // Candidates sorted by logit, cut by top-k first; top-p and min-p then work on probabilities.
    const int64_t vocab = int64_t(logits.size());
    const float inv_t = 1.0f / params_.temperature;
    candidates_.resize(size_t(vocab));
    for (int64_t i = 0; i < vocab; ++i) candidates_[size_t(i)] = {logits[size_t(i)] * inv_t, int32_t(i)};
    auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
    int64_t n = vocab;
    if (params_.top_k > 0 && params_.top_k < vocab) {
        n = params_.top_k;
        std::partial_sort(candidates_.begin(), candidates_.begin() + n, candidates_.end(), by_logit);
    } else if (params_.top_p < 1.0f) {
        std::sort(candidates_.begin(), candidates_.end(), by_logit);
    } else {
        std::nth_element(candidates_.begin(), candidates_.begin(), candidates_.end(), by_logit);  // max first
    }
    const float max_logit = candidates_[0].first;
    double total = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        candidates_[size_t(i)].first = std::exp(candidates_[size_t(i)].first - max_logit);
        total += candidates_[size_t(i)].first;
    }
    if (params_.top_p < 1.0f) {
        // Keep the smallest prefix whose mass reaches top_p (at least one token).
        double cum = 0.0;
        int64_t keep = 0;
        while (keep < n) {
            cum += candidates_[size_t(keep)].first / total;
            ++keep;
            if (cum >= params_.top_p) break;
        }
        n = keep;
    }
    if (params_.min_p > 0.0f) {
        // The first candidate has the highest probability (weight exp(0) = 1).
        const float threshold = params_.min_p * candidates_[0].first;
        int64_t keep = 0;
        for (int64_t i = 0; i < n; ++i)
            if (candidates_[size_t(i)].first >= threshold) candidates_[size_t(keep++)] = candidates_[size_t(i)];
        n = std::max<int64_t>(keep, 1);
    }
    double mass = 0.0;
    for (int64_t i = 0; i < n; ++i) mass += candidates_[size_t(i)].first;
    double r = rng_.uniform() * mass;
    for (int64_t i = 0; i < n; ++i) {
        r -= candidates_[size_t(i)].first;
        if (r < 0.0) return candidates_[size_t(i)].second;
    }
    return candidates_[size_t(n - 1)].second;
}

}  // namespace turbolm
