// Pre-tokenization of the well-known byte-level BPE families, written as tokenizer.json specs for
// the sources that do not carry their own (vocab.json + merges.txt, tiktoken ranks, GGUF).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace turbolm {

extern const char* const kLlama3Pattern;  // also cl100k_base's
extern const char* const kQwen2Pattern;   // also Qwen's qwen.tiktoken

// What a family needs besides its vocabulary.
struct PreTokenizerPreset {
    nlohmann::json normalizer;     // null when none
    nlohmann::json pre_tokenizer;  // always byte-level
    bool ignore_merges = false;
};

// GPT-2's ByteLevel pre-tokenizer with its own regex.
PreTokenizerPreset gpt2_preset(bool add_prefix_space = false);
// Split(regex, Isolated) followed by a regex-free ByteLevel: Llama-3 / Qwen2 / tiktoken style.
PreTokenizerPreset regex_preset(const std::string& pattern);
// The preset for a GGUF tokenizer.ggml.pre name (llama.cpp's names); nothing for an unknown name.
std::optional<PreTokenizerPreset> gguf_pre_preset(const std::string& name);

}  // namespace turbolm
