// Scores a tokenized text with a baseline and a candidate model over the same windows
// (eval_windows.h): each model's perplexity, and the candidate's logits against the baseline's at
// every scored position (eval_metrics.h). Window by window, both models' logits for one window are
// all that is held at a time.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <span>

#include "eval_metrics.h"
#include "models/model.h"

namespace turbolm::eval {

struct PerplexityResult {
    double nll_sum = 0;  // natural log
    int64_t tokens = 0;  // targets scored
    double seconds = 0;  // in the model's forward passes
    double mean_nll() const { return tokens ? nll_sum / double(tokens) : 0.0; }
    double perplexity() const { return std::exp(mean_nll()); }
};

struct TextEvalResult {
    int64_t text_tokens = 0;
    int64_t windows = 0;
    PerplexityResult baseline, candidate;
    LogitComparisonResult comparison;
};

struct TextEvalOptions {
    int64_t ctx = 512;
    int64_t stride = 512;
    // After each window: windows done and in all.
    std::function<void(int64_t, int64_t)> on_window;
};

TextEvalResult evaluate_text(const Model& baseline, const Model& candidate, std::span<const int32_t> tokens,
                             const TextEvalOptions& options);

}  // namespace turbolm::eval
