// Chooses the next token from a row of logits: penalties, temperature, top-k, top-p, min-p, then a
// draw from a per-request seeded generator. Deterministic for a given seed and history.
#pragma once

#include <span>
#include <vector>

#include "core/rng.h"
#include "sampling/sampling_params.h"

namespace turbolm {

class Sampler {
public:
    // Throws Error(kInvalidArgument) when params are invalid. Without a seed one is drawn at random.
    explicit Sampler(const SamplingParams& params);

    // Picks a token. `logits` (one row, vocab long) is modified in place. `prompt` and `generated`
    // feed the penalties.
    int32_t sample(std::span<float> logits, std::span<const int32_t> prompt, std::span<const int32_t> generated);
    uint64_t seed() const { return seed_; }

private:
    void apply_penalties(std::span<float> logits, std::span<const int32_t> prompt,
                         std::span<const int32_t> generated);

    SamplingParams params_;
    uint64_t seed_;
    Rng rng_;
    std::vector<int32_t> counts_;  // scratch: occurrences of each token in the output
    std::vector<std::pair<float, int32_t>> candidates_;
};

// Index of the largest logit (the lowest index among ties, as torch.argmax).
int32_t argmax(std::span<const float> logits);

}  // namespace turbolm
