// The CPU engine over a paged KV cache: see paged_forward_check.h.
#include <algorithm>

#include <gtest/gtest.h>

#include "models/paged_forward_check.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

class PagedForward : public ::testing::TestWithParam<std::string> {};

TEST_P(PagedForward, MixedChunksMatchEachSequenceAlone) {
    const auto dir = test::fixtures_dir() / "hf-tiny" / GetParam();
    TURBOLM_SKIP_IF_MISSING(dir);
    test::check_paged_forward(dir, Device::kCpu, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PagedForward,
                         ::testing::Values("llama-gqa", "mistral-sliding-window", "qwen3-qk-norm", "gpt2", "falcon-mqa",
                                           "mixtral-moe", "qwen2-qkv-bias"),
                         [](const auto& info) {
                             std::string n = info.param;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

}  // namespace
}  // namespace turbolm
