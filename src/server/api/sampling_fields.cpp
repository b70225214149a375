#include "server/api/sampling_fields.h"

#include <algorithm>
#include <limits>

#include "server/api/json_errors.h"
#include "server/api/json_fields.h"

namespace turbolm::server {

namespace {

constexpr size_t kMaxStopStrings = 16;  // OpenAI allows 4; vLLM any number

}  // namespace

bool read_sampling_field(const std::string& name, const nlohmann::json& value, GenerationParams& p) {
    using namespace fields;
    static const char* const kNames[] = {"temperature", "top_p", "top_k", "min_p", "presence_penalty",
                                         "frequency_penalty", "repetition_penalty", "seed", "stop", "stop_token_ids",
                                         "ignore_eos", "include_stop_str_in_output", "priority", "min_tokens",
                                         "skip_special_tokens"};
    if (std::find(std::begin(kNames), std::end(kNames), name) == std::end(kNames)) return false;
    if (value.is_null()) return true;

    if (name == "temperature") {
        p.temperature = float(number_in(value, name, 0.0, 2.0));
    } else if (name == "top_p") {
        p.top_p = float(number_in(value, name, 0.0, 1.0, /*lo_open=*/true));
    } else if (name == "top_k") {
        // vLLM writes "no limit" as -1 (and 0 since v0.8); the engine as 0.
        const int64_t k = integer_in(value, name, -1, std::numeric_limits<int32_t>::max());
        p.top_k = k < 0 ? 0 : int(k);
    } else if (name == "min_p") {
        p.min_p = float(number_in(value, name, 0.0, 1.0));
    } else if (name == "presence_penalty") {
        p.presence_penalty = float(number_in(value, name, -2.0, 2.0));
    } else if (name == "frequency_penalty") {
        p.frequency_penalty = float(number_in(value, name, -2.0, 2.0));
    } else if (name == "repetition_penalty") {
        p.repetition_penalty = float(number_in(value, name, 0.0, 1e9, /*lo_open=*/true));
    } else if (name == "seed") {
        // Any 64-bit integer: negative seeds are as good as others once reinterpreted.
        p.seed = uint64_t(integer(value, name));
    } else if (name == "stop") {
        std::vector<std::string> stop = strings(value, name, kMaxStopStrings);
        std::erase(stop, std::string());  // an empty stop string would end every completion at once
        p.stop = std::move(stop);
    } else if (name == "stop_token_ids") {
        p.stop_token_ids = token_ids(value, name);
    } else if (name == "ignore_eos") {
        p.ignore_eos = boolean(value, name);
    } else if (name == "include_stop_str_in_output") {
        p.include_stop_str_in_output = boolean(value, name);
    } else if (name == "priority") {
        p.priority = int(integer_in(value, name, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
    } else if (name == "min_tokens") {
        if (integer_in(value, name, 0, std::numeric_limits<int32_t>::max()) > 0)
            unsupported(name, "a minimum number of tokens");
    } else if (name == "skip_special_tokens") {
        // Completions are always decoded without special tokens.
        if (!boolean(value, name)) unsupported(name, "keeping special tokens in the text (false)");
    }
    return true;
}

void check_stop_token_ids(const GenerationParams& params, int64_t vocab_size) {
    for (int32_t id : params.stop_token_ids)
        if (id >= vocab_size)
            throw ApiError(400, "'stop_token_ids' holds " + std::to_string(id) + ", outside the vocabulary of " +
                                    std::to_string(vocab_size) + " tokens", "stop_token_ids");
}

}  // namespace turbolm::server
