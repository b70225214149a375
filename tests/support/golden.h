// Reading the golden outputs that HF transformers produced for a checkpoint (golden.safetensors).
#pragma once

#include <filesystem>
#include <vector>

#include "core/tensor.h"

namespace turbolm::test {

struct GoldenPrompt {
    std::vector<int32_t> ids;
    Tensor logits;  // f32 [len, vocab]
    std::vector<int32_t> greedy;
    std::vector<float> greedy_margin;
};

// All prompts of <dir>/golden.safetensors, in index order.
std::vector<GoldenPrompt> load_goldens(const std::filesystem::path& dir);

}  // namespace turbolm::test
