// Reading the golden outputs that HF transformers produced for a checkpoint (golden.safetensors).
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
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

// Every model with goldens: the hf-tiny fixtures, the demo model, and stories260K from the shared
// data (skipped by the tests when absent).
struct GoldenCase {
    std::string name;
    std::filesystem::path dir;
    friend void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }
};
std::vector<GoldenCase> golden_cases();
// "llama-gqa" -> "llama_gqa": a name gtest accepts.
std::string golden_case_test_name(const GoldenCase& c);

}  // namespace turbolm::test
