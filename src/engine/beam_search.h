// Beam search over a request's continuations, independent of how distributions are computed: it
// asks for the next-token log-probabilities after each live hypothesis (pending()), takes the most
// likely alternatives of each (give()), and keeps the `width` best continuations by summed
// log-probability. A hypothesis that emits an end-of-sequence id is finished; the search ends when
// `width` hypotheses have finished or the live ones reach max_tokens (HF's early_stopping=True).
// Finished hypotheses are ranked by score / length^length_penalty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace turbolm {

class BeamSearch {
public:
    BeamSearch(int width, int64_t max_tokens, std::vector<int32_t> eos_ids, float length_penalty = 1.0f);

    // Tokens generated so far by each live hypothesis whose distribution is wanted next.
    const std::vector<std::vector<int32_t>>& pending() const { return live_tokens_; }
    // The most likely next tokens after pending()[i] with their log-probabilities (at least `width`
    // of them, or the whole vocabulary). Once every pending hypothesis has been given, the search
    // advances one token and pending() holds the next round.
    void give(size_t i, std::vector<std::pair<int32_t, float>> top);
    bool done() const { return done_; }

    struct Result {
        std::vector<int32_t> tokens;
        float score = 0.0f;   // summed log-probability
        bool ended_with_eos = false;
    };
    Result best() const;

private:
    void advance();
    float normalized(const Result& r) const;

    int width_;
    int64_t max_tokens_;
    std::vector<int32_t> eos_;
    float length_penalty_;
    std::vector<std::vector<int32_t>> live_tokens_;
    std::vector<float> live_scores_;
    std::vector<std::vector<std::pair<int32_t, float>>> given_;
    std::vector<bool> has_given_;
    std::vector<Result> finished_;
    bool done_ = false;
};

}  // namespace turbolm
