// The JSON shapes of OpenAI's completion and chat replies that are more than a few fields:
// log-probabilities in each API's format, and usage.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "turbolm/engine.h"

namespace turbolm::server {

// Completions' {"tokens", "token_logprobs", "top_logprobs": [{text: logprob}], "text_offset"}.
// text_offset counts bytes of the choice's text and moves past each token; the chosen token is
// among its top_logprobs, as vLLM lists it.
nlohmann::json completion_logprobs(const Engine& engine, const std::vector<TokenLogprobs>& tokens,
                                   int64_t& text_offset);

// Chat's {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}]}.
nlohmann::json chat_logprobs(const Engine& engine, const std::vector<TokenLogprobs>& tokens);

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens);

// JSON has no -inf: a token the penalties ruled out reads -9999, as in vLLM.
double json_logprob(float logprob);

}  // namespace turbolm::server
