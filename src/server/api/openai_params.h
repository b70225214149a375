// The bodies of POST /v1/completions and /v1/chat/completions, validated and read into what the
// engine is asked: the fields OpenAI documents plus vLLM's sampling extras. A field outside that
// set is refused, as OpenAI does ("Unrecognized request argument supplied"), so that a typo does
// not pass silently; a known field asking for something not implemented is refused by name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "turbolm/engine.h"

namespace turbolm::server {

struct PromptInput {
    std::optional<std::string> text;  // a text prompt, tokenized as the engine encodes prompts
    std::vector<int32_t> ids;         // otherwise token ids
};

struct OpenAiRequest {
    bool chat = false;
    std::vector<PromptInput> prompts;  // completions: one per prompt of a batch
    std::string messages_json;         // chat: the conversation (content parts joined into text)
    bool add_generation_prompt = true;
    GenerationParams params;           // max_tokens is settled once the prompt's length is known
    std::optional<int64_t> max_tokens;
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage
    bool return_token_ids = false;  // vLLM's extension: each choice (and chunk) carries its token ids
    bool echo = false;           // completions: the prompt's text before each completion
    // Completions: `logprobs` (alternatives per token); chat: `top_logprobs` when `logprobs` is true.
    std::optional<int> logprobs;
};

// Both throw ApiError: 400 for a malformed or unsupported field, 404 for a model not served.
OpenAiRequest parse_completion_request(const nlohmann::json& body, const std::string& served_model);
OpenAiRequest parse_chat_request(const nlohmann::json& body, const std::string& served_model);

}  // namespace turbolm::server
