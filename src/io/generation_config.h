// generation_config.json: the end-of-sequence ids and the sampling defaults a model ships with.
// The file is optional; a missing file gives empty defaults, a malformed one is an error.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

namespace turbolm {

struct GenerationConfig {
    std::vector<int32_t> eos_token_ids;  // "eos_token_id" may be one id or a list
    std::optional<int32_t> bos_token_id;
    std::optional<int32_t> pad_token_id;
    std::optional<bool> do_sample;
    std::optional<float> temperature;
    std::optional<float> top_p;
    std::optional<int> top_k;
    std::optional<float> min_p;
    std::optional<float> repetition_penalty;
    std::optional<int> max_new_tokens;
    std::optional<int> max_length;

    // Reads <dir>/generation_config.json when present.
    static GenerationConfig load(const std::filesystem::path& dir);
};

}  // namespace turbolm
