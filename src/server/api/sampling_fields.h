// The sampling fields that OpenAI's completions and chat APIs (with vLLM's extras) and the KServe
// generate extension share, read into GenerationParams with vLLM's ranges.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "turbolm/engine.h"

namespace turbolm::server {

// Reads `name` into `params` when it is one of the shared fields (temperature, top_p, top_k,
// min_p, the penalties, seed, stop, stop_token_ids, ignore_eos, include_stop_str_in_output,
// priority, min_tokens, skip_special_tokens) and returns true; false for any other name.
// A null value leaves the default. Throws ApiError(400) for a bad value.
bool read_sampling_field(const std::string& name, const nlohmann::json& value, GenerationParams& params);

// Stop token ids must name tokens of the vocabulary. Throws ApiError(400).
void check_stop_token_ids(const GenerationParams& params, int64_t vocab_size);

}  // namespace turbolm::server
