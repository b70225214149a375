#include "eval_text.h"

#include <chrono>

#include "eval_windows.h"

namespace turbolm::eval {

namespace {

// Logits [window length, n_vocab] on the CPU, from a cache emptied first.
Tensor window_logits(const Model& model, KvCache& kv, std::span<const int32_t> window, double* seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    kv.truncate(0);
    Tensor logits = model.forward(window, kv, /*all_logits=*/true);
    *seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return logits;
}

std::span<const float> row(const Tensor& logits, int64_t i) {
    return {logits.data<float>() + i * logits.size(1), size_t(logits.size(1))};
}

}  // namespace

TextEvalResult evaluate_text(const Model& baseline, const Model& candidate, std::span<const int32_t> tokens,
                             const TextEvalOptions& options) {
    TURBOLM_REQUIRE(baseline.config().n_vocab == candidate.config().n_vocab, "the baseline's vocabulary has ",
                    baseline.config().n_vocab, " tokens and the candidate's ", candidate.config().n_vocab);
    const std::vector<EvalWindow> windows = eval_windows(int64_t(tokens.size()), options.ctx, options.stride);
    TURBOLM_REQUIRE(!windows.empty(), "the text has ", tokens.size(), " tokens; scoring needs at least 2");
    TextEvalResult r;
    r.text_tokens = int64_t(tokens.size());
    r.windows = int64_t(windows.size());
    const int64_t capacity = std::min<int64_t>(options.ctx, int64_t(tokens.size()));
    KvCache kv_base = baseline.new_kv_cache(capacity), kv_cand = candidate.new_kv_cache(capacity);
    // One untimed token through each model first: one-time costs (threads starting, the first touch
    // of memory-mapped weights) would otherwise land on whichever model runs first.
    for (auto [model, kv] : {std::pair{&baseline, &kv_base}, std::pair{&candidate, &kv_cand}}) {
        model->forward(tokens.first(1), *kv);
        kv->truncate(0);
    }
    LogitComparison comparison;
    for (size_t w = 0; w < windows.size(); ++w) {
        const EvalWindow& win = windows[w];
        const auto ids = tokens.subspan(size_t(win.begin), size_t(win.end - win.begin));
        const Tensor base = window_logits(baseline, kv_base, ids, &r.baseline.seconds);
        const Tensor cand = window_logits(candidate, kv_cand, ids, &r.candidate.seconds);
        for (int64_t t = win.first_target; t < win.end; ++t) {
            const int64_t i = t - 1 - win.begin;  // the row that predicts token t
            r.baseline.nll_sum += token_nll(row(base, i), tokens[size_t(t)]);
            r.candidate.nll_sum += token_nll(row(cand, i), tokens[size_t(t)]);
            comparison.add(row(base, i), row(cand, i));
        }
        r.baseline.tokens += win.n_targets();
        r.candidate.tokens += win.n_targets();
        if (options.on_window) options.on_window(int64_t(w + 1), int64_t(windows.size()));
    }
    r.comparison = comparison.result();
    return r;
}

}  // namespace turbolm::eval
