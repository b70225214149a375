// The GPU engine over a paged KV cache (blocks of 3 positions, shuffled): see
// tests/models/paged_forward_check.h.
#include <gtest/gtest.h>

#include "models/paged_forward_check.h"
#include "ops/ops.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

TEST(GpuPagedForward, MixedChunksMatchEachSequenceAlone) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    for (const char* name : {"llama-gqa", "mistral-sliding-window", "qwen3-qk-norm", "gpt2", "falcon-mqa", "mixtral-moe"}) {
        SCOPED_TRACE(name);
        // f16 compute: products of different row counts round differently.
        test::check_paged_forward(test::fixtures_dir() / "hf-tiny" / name, Device::kCuda, 5e-3);
    }
}

}  // namespace
}  // namespace turbolm
