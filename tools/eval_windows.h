// The windows a long text is scored in, as in Hugging Face's perplexity guide ("Perplexity of
// fixed-length models"): windows of up to `ctx` tokens start every `stride` tokens, and each scores
// only the targets no earlier window scored, so every target is predicted once, from between
// ctx - stride and ctx - 1 tokens of context (the first window's from fewer). The first token of the
// text is never a target: nothing predicts it.
#pragma once

#include <cstdint>
#include <vector>

namespace turbolm::eval {

struct EvalWindow {
    int64_t begin = 0, end = 0;  // the tokens [begin, end) the model reads
    int64_t first_target = 0;    // targets [first_target, end), each predicted by the logits of the token before it
    int64_t n_targets() const { return end - first_target; }
};

// ctx >= 2 and stride >= 1 (a stride above ctx leaves tokens unscored, as HF's loop does).
std::vector<EvalWindow> eval_windows(int64_t n_tokens, int64_t ctx, int64_t stride);

}  // namespace turbolm::eval
