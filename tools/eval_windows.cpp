#include "eval_windows.h"

#include <algorithm>

#include "core/error.h"

namespace turbolm::eval {

std::vector<EvalWindow> eval_windows(int64_t n_tokens, int64_t ctx, int64_t stride) {
    TURBOLM_REQUIRE(ctx >= 2, "--ctx must be at least 2 tokens, not ", ctx);
    TURBOLM_REQUIRE(stride >= 1, "--stride must be at least 1 token, not ", stride);
    std::vector<EvalWindow> windows;
    int64_t prev_end = 0;
    for (int64_t begin = 0; begin < n_tokens; begin += stride) {
        const int64_t end = std::min(begin + ctx, n_tokens);
        const EvalWindow w{begin, end, std::max(begin + 1, prev_end)};
        if (w.n_targets() > 0) windows.push_back(w);
        prev_end = end;
        if (end == n_tokens) break;
    }
    return windows;
}

}  // namespace turbolm::eval
