// tokenizer_config.json, special_tokens_map.json and chat_template.jinja: the transformers-level
// settings beside the tokenizer files (special token names, add_bos/eos, clean-up, chat template,
// the tokenizer class that decides how vocab.json + merges.txt or tokenizer.model are read).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/tokenizer_parts.h"

namespace turbolm {

struct TokenizerConfig {
    bool present = false;  // tokenizer_config.json exists
    std::string tokenizer_class;
    std::optional<std::string> bos_token, eos_token, unk_token, pad_token;
    std::optional<bool> add_bos_token, add_eos_token;
    std::optional<bool> add_prefix_space;
    std::optional<bool> legacy;
    bool clean_up_tokenization_spaces = false;
    std::vector<AddedToken> added_tokens;                // added_tokens_decoder
    std::vector<std::string> additional_special_tokens;  // names only
    std::string chat_template;
};

// Reads what exists of the three files in dir. Throws kInvalidArgument naming the file when one
// exists but is malformed.
TokenizerConfig read_tokenizer_config(const std::filesystem::path& dir);

// Applies the settings to parts. Added tokens from the config are taken only when the tokenizer
// file itself does not list them (vocab.json / tokenizer.model / tiktoken sources).
void apply_tokenizer_config(const TokenizerConfig& config, bool take_added_tokens, TokenizerParts& parts);

}  // namespace turbolm
