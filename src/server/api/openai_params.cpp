#include "server/api/openai_params.h"

#include <limits>

#include "server/api/json_errors.h"
#include "server/api/json_fields.h"
#include "server/api/sampling_fields.h"

namespace turbolm::server {

namespace {

using nlohmann::json;
using namespace fields;

constexpr int64_t kMaxN = 64;
constexpr int64_t kMaxLogprobs = 20;  // vLLM's default max_logprobs
constexpr size_t kMaxPrompts = 256;   // prompts in one completions batch
constexpr int64_t kMaxBeamWidth = 16;

// Fields both APIs read the same way, and what they leave to check once all are read.
struct Common {
    std::optional<std::string> model;
    std::optional<int64_t> best_of;
    bool use_beam_search = false;
    bool stream_options_given = false;
};

bool read_common(const std::string& name, const json& v, OpenAiRequest& r, Common& c) {
    if (read_sampling_field(name, v, r.params)) return true;
    if (name == "model") {
        if (!v.is_null()) c.model = string(v, name);
    } else if (name == "n") {
        if (!v.is_null()) r.params.n = int(integer_in(v, name, 1, kMaxN));
    } else if (name == "best_of") {
        if (!v.is_null()) c.best_of = integer_in(v, name, 1, kMaxN);
    } else if (name == "use_beam_search") {
        if (!v.is_null()) c.use_beam_search = boolean(v, name);
    } else if (name == "length_penalty") {
        if (!v.is_null()) r.params.length_penalty = float(number(v, name));
    } else if (name == "stream") {
        if (!v.is_null()) r.stream = boolean(v, name);
    } else if (name == "stream_options") {
        if (v.is_null()) return true;
        c.stream_options_given = true;
        for (const auto& [key, item] : object(v, name).items()) {
            const std::string full = "stream_options." + key;
            if (key == "include_usage") {
                if (!item.is_null()) r.include_usage = boolean(item, full);
            } else if (key == "continuous_usage_stats") {
                if (!item.is_null() && boolean(item, full)) unsupported(full, "usage in every chunk");
            } else {
                unrecognized(full);
            }
        }
    } else if (name == "return_token_ids") {
        if (!v.is_null()) r.return_token_ids = boolean(v, name);
    } else if (name == "user") {
        if (!v.is_null()) string(v, name);  // an end-user id for abuse tracking: nothing to track here
    } else if (name == "logit_bias") {
        if (!v.is_null() && !object(v, name).empty()) unsupported(name, "biasing logits");
    } else {
        return false;
    }
    return true;
}

void max_tokens_field(const std::string& name, const json& v, OpenAiRequest& r) {
    if (!v.is_null()) r.max_tokens = integer_in(v, name, 1, std::numeric_limits<int64_t>::max());
}

void finish_common(OpenAiRequest& r, const Common& c, const std::string& served_model) {
    if (c.stream_options_given && !r.stream)
        throw ApiError(400, "'stream_options' can only be given when 'stream' is true", "stream_options");
    if (c.use_beam_search) {
        // vLLM's former beam search: best_of is the width. The engine returns the best beam only.
        if (r.params.n != 1) unsupported("n", "more than one completion with beam search");
        const int64_t width = c.best_of.value_or(0);
        if (width < 2 || width > kMaxBeamWidth)
            throw ApiError(400, "beam search takes its width from 'best_of', in [2, " + std::to_string(kMaxBeamWidth) +
                                    "]", "best_of");
        r.params.beam_width = int(width);
        if (r.logprobs) unsupported("logprobs", "log-probabilities with beam search");
    } else if (c.best_of && *c.best_of != r.params.n) {
        unsupported("best_of", "best_of other than n (choosing among extra completions)");
    }
    if (c.model && *c.model != served_model)
        throw ApiError(404, "The model `" + *c.model + "` does not exist.", "model");
}

std::vector<PromptInput> read_prompts(const json& v) {
    const std::string name = "prompt";
    if (v.is_string()) return {PromptInput{v.get<std::string>(), {}}};
    if (!v.is_array()) throw ApiError(400, "'prompt' must be a string, an array of strings or of token ids", name);
    if (v.empty()) throw ApiError(400, "'prompt' is empty", name);
    if (v.front().is_number()) return {PromptInput{std::nullopt, token_ids(v, name)}};
    if (v.size() > kMaxPrompts)
        throw ApiError(400, "'prompt' holds more than " + std::to_string(kMaxPrompts) + " prompts", name);
    std::vector<PromptInput> prompts;
    for (const json& item : v) {
        if (item.is_string()) prompts.push_back({item.get<std::string>(), {}});
        else if (item.is_array()) prompts.push_back({std::nullopt, token_ids(item, name)});
        else throw ApiError(400, "'prompt' must be a string, an array of strings or of token ids", name);
    }
    return prompts;
}

// Chat content may be a list of parts; the template sees text, as vLLM renders string-format
// templates: the text parts joined by newlines.
json normalized_messages(const json& v) {
    if (!v.is_array() || v.empty()) throw ApiError(400, "'messages' must be a non-empty array of messages", "messages");
    json out = json::array();
    for (const json& m : v) {
        if (!m.is_object()) throw ApiError(400, "each of 'messages' must be an object", "messages");
        auto role = m.find("role");
        if (role == m.end() || !role->is_string())
            throw ApiError(400, "each of 'messages' needs a string 'role'", "messages");
        json message = m;
        auto content = m.find("content");
        if (content != m.end() && content->is_array()) {
            std::string text;
            for (const json& part : *content) {
                if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
                    throw ApiError(400, "content parts must be objects with a 'type'", "messages");
                if (part["type"] != "text") unsupported("messages", "content of type '" + part["type"].get<std::string>() + "'");
                if (!part.contains("text") || !part["text"].is_string())
                    throw ApiError(400, "a text content part needs a string 'text'", "messages");
                if (!text.empty()) text += "\n";
                text += part["text"].get<std::string>();
            }
            message["content"] = text;
        } else if (content != m.end() && !content->is_string() && !content->is_null()) {
            throw ApiError(400, "message 'content' must be a string or an array of content parts", "messages");
        }
        out.push_back(std::move(message));
    }
    return out;
}

}  // namespace

OpenAiRequest parse_completion_request(const json& body, const std::string& served_model) {
    OpenAiRequest r;
    Common c;
    bool has_prompt = false;
    for (const auto& [name, v] : body.items()) {
        if (read_common(name, v, r, c)) continue;
        if (name == "prompt") {
            has_prompt = true;
            r.prompts = read_prompts(v);
        } else if (name == "max_tokens") {
            max_tokens_field(name, v, r);
        } else if (name == "logprobs") {
            if (!v.is_null()) r.logprobs = int(integer_in(v, name, 0, kMaxLogprobs));
        } else if (name == "echo") {
            if (!v.is_null()) r.echo = boolean(v, name);
        } else if (name == "suffix") {
            if (!v.is_null() && !string(v, name).empty()) unsupported(name, "text after the completion (suffix)");
        } else {
            unrecognized(name);
        }
    }
    if (!has_prompt) throw ApiError(400, "'prompt' is required", "prompt");
    // Completions default to 16 tokens (OpenAI's and vLLM's default); null asks for the rest of the context.
    if (!body.contains("max_tokens")) r.max_tokens = 16;
    if (r.echo) {
        if (r.logprobs) unsupported("echo", "echo with logprobs (log-probabilities of the prompt)");
        for (const PromptInput& p : r.prompts)
            if (!p.text) unsupported("echo", "echo of a prompt given as token ids");
    }
    finish_common(r, c, served_model);
    return r;
}

OpenAiRequest parse_chat_request(const json& body, const std::string& served_model) {
    OpenAiRequest r;
    r.chat = true;
    Common c;
    bool has_messages = false, logprobs = false;
    std::optional<int64_t> top_logprobs, max_tokens, max_completion_tokens;
    for (const auto& [name, v] : body.items()) {
        if (read_common(name, v, r, c)) continue;
        if (name == "messages") {
            has_messages = true;
            r.messages_json = normalized_messages(v).dump();
        } else if (name == "max_tokens") {
            if (!v.is_null()) max_tokens = integer_in(v, name, 1, std::numeric_limits<int64_t>::max());
        } else if (name == "max_completion_tokens") {
            if (!v.is_null()) max_completion_tokens = integer_in(v, name, 1, std::numeric_limits<int64_t>::max());
        } else if (name == "logprobs") {
            if (!v.is_null()) logprobs = boolean(v, name);
        } else if (name == "top_logprobs") {
            if (!v.is_null()) top_logprobs = integer_in(v, name, 0, kMaxLogprobs);
        } else if (name == "add_generation_prompt") {
            if (!v.is_null()) r.add_generation_prompt = boolean(v, name);
        } else if (name == "response_format") {
            if (v.is_null()) continue;
            const json& f = object(v, name);
            if (!f.contains("type") || f["type"] != "text") unsupported(name, "a response format other than text");
        } else if (name == "tools") {
            if (!v.is_null() && (!v.is_array() || !v.empty())) unsupported(name, "function calling");
        } else if (name == "tool_choice") {
            if (!v.is_null() && v != "none" && v != "auto") unsupported(name, "function calling");
        } else if (name == "parallel_tool_calls") {
            if (!v.is_null()) boolean(v, name);  // meaningless without functions to call
        } else {
            unrecognized(name);
        }
    }
    if (!has_messages) throw ApiError(400, "'messages' is required", "messages");
    r.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;  // unset: the rest of the context
    if (top_logprobs && !logprobs)
        throw ApiError(400, "'top_logprobs' needs 'logprobs' to be true", "top_logprobs");
    if (logprobs) r.logprobs = int(top_logprobs.value_or(0));
    finish_common(r, c, served_model);
    return r;
}

}  // namespace turbolm::server
