// Single-sequence generation on a contiguous KV cache: prefill the prompt, then decode one token at
// a time until a stop condition. The in-flight batching engine replaces this loop; the CLI and the
// golden tests use it today.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "models/model.h"
#include "sampling/sampling_params.h"

namespace turbolm {

struct GenerateOptions {
    int max_new_tokens = 64;
    SamplingParams sampling;
    std::vector<int32_t> stop_token_ids;  // generation ends after emitting one of these
    bool ignore_eos = false;              // keep going past stop tokens (benchmarks)
};

struct GenerateResult {
    std::vector<int32_t> tokens;  // generated ids (the stop token included when one ended generation)
    std::string finish_reason;    // "stop" or "length"
    uint64_t seed = 0;
    double prefill_seconds = 0;
    double decode_seconds = 0;  // from the first generated token to the last
    int64_t prompt_tokens = 0;
};

// Calls on_token for each new id as soon as it is chosen; returning false stops generation.
GenerateResult generate(const Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                        const std::function<bool(int32_t)>& on_token = nullptr);

}  // namespace turbolm
