// What a loader hands to Tokenizer: the model's vocabulary and merges, added tokens, and the
// pipeline stages in HF tokenizer.json form (loaders for other formats describe their stages in
// the same JSON, so that one builder serves all of them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"

namespace turbolm {

struct TokenizerParts {
    std::string source;  // for messages: the file, and what it was read as

    std::vector<std::string> model_tokens;  // model vocabulary, id -> spelling ("" for a hole)
    std::vector<BpeMerge> merges;
    BpeOptions bpe;
    std::vector<AddedToken> added_tokens;

    nlohmann::json normalizer;      // null when absent
    nlohmann::json pre_tokenizer;   // null when absent
    nlohmann::json post_processor;  // null when absent
    nlohmann::json decoder;         // null when absent

    // Set by configuration (tokenizer_config.json, GGUF keys, built-in presets).
    std::optional<std::string> bos_token, eos_token;
    std::optional<int32_t> bos_id, eos_id;
    // When set, replace the post-processor by [bos if add_bos] sequence [eos if add_eos].
    std::optional<bool> add_bos, add_eos;
    bool clean_up_tokenization_spaces = false;
    std::string chat_template;
};

}  // namespace turbolm
