#include "engine/beam_search.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "core/error.h"

namespace turbolm {

BeamSearch::BeamSearch(int width, int64_t max_tokens, std::vector<int32_t> eos_ids, float length_penalty)
    : width_(width), max_tokens_(max_tokens), eos_(std::move(eos_ids)), length_penalty_(length_penalty) {
    TURBOLM_REQUIRE(width >= 1 && max_tokens >= 1, "beam search needs a width and max_tokens of at least 1");
    live_tokens_.push_back({});
    live_scores_.push_back(0.0f);
    given_.resize(1);
    has_given_.assign(1, false);
}

void BeamSearch::give(size_t i, std::vector<std::pair<int32_t, float>> top) {
    TURBOLM_CHECK(!done_ && i < live_tokens_.size() && !has_given_[i], "beam search: unexpected distribution ", i);
    given_[i] = std::move(top);
    has_given_[i] = true;
    if (std::all_of(has_given_.begin(), has_given_.end(), [](bool b) { return b; })) advance();
}

float BeamSearch::normalized(const Result& r) const {
    return r.score / std::pow(float(std::max<size_t>(r.tokens.size(), 1)), length_penalty_);
}

void BeamSearch::advance() {
    // Every continuation of every live hypothesis, best first (ties: earlier hypothesis, lower id).
    std::vector<std::tuple<float, size_t, int32_t>> candidates;
    for (size_t h = 0; h < live_tokens_.size(); ++h)
        for (const auto& [tok, lp] : given_[h]) candidates.emplace_back(live_scores_[h] + lp, h, tok);
    std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
        if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) > std::get<0>(b);
        if (std::get<1>(a) != std::get<1>(b)) return std::get<1>(a) < std::get<1>(b);
        return std::get<2>(a) < std::get<2>(b);
    });
    std::vector<std::vector<int32_t>> next_tokens;
    std::vector<float> next_scores;
    for (const auto& [score, h, tok] : candidates) {
        if (int(next_tokens.size()) == width_ || int(finished_.size()) >= width_) break;
        std::vector<int32_t> tokens = live_tokens_[h];
        tokens.push_back(tok);
        if (std::find(eos_.begin(), eos_.end(), tok) != eos_.end()) {
            finished_.push_back({std::move(tokens), score, true});
        } else {
            next_tokens.push_back(std::move(tokens));
            next_scores.push_back(score);
        }
    }
    const bool at_limit = !next_tokens.empty() && int64_t(next_tokens[0].size()) >= max_tokens_;
    if (at_limit) {
        for (size_t i = 0; i < next_tokens.size(); ++i) finished_.push_back({next_tokens[i], next_scores[i], false});
        next_tokens.clear();
    }
    live_tokens_ = std::move(next_tokens);
    live_scores_ = std::move(next_scores);
    given_.assign(live_tokens_.size(), {});
    has_given_.assign(live_tokens_.size(), false);
    done_ = live_tokens_.empty() || int(finished_.size()) >= width_;
}

BeamSearch::Result BeamSearch::best() const {
    TURBOLM_CHECK(done_, "beam search has not finished");
    const Result* best = nullptr;
    for (const Result& r : finished_)
        if (!best || normalized(r) > normalized(*best)) best = &r;
    return best ? *best : Result{};
}

}  // namespace turbolm
