#include "tokenizer/pre_tokenizer_presets.h"

#include <initializer_list>

#include "tokenizer/pre_tokenizers.h"

namespace turbolm {

const char* const kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

namespace {

using json = nlohmann::json;

json split(const std::string& pattern) {
    return {{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}};
}

json byte_level(bool use_regex) {
    return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
}

// Splits by each regex in turn, then maps to bytes.
PreTokenizerPreset splits(std::initializer_list<const char*> patterns) {
    json steps = json::array();
    for (const char* p : patterns) steps.push_back(split(p));
    steps.push_back(byte_level(false));
    PreTokenizerPreset preset;
    preset.pre_tokenizer = {{"type", "Sequence"}, {"pretokenizers", steps}};
    return preset;
}

}  // namespace

PreTokenizerPreset gpt2_preset(bool add_prefix_space) {
    PreTokenizerPreset preset;
    preset.pre_tokenizer = byte_level(true);
    preset.pre_tokenizer["add_prefix_space"] = add_prefix_space;
    return preset;
}

PreTokenizerPreset regex_preset(const std::string& pattern) {
    PreTokenizerPreset preset;
    preset.pre_tokenizer = {{"type", "Sequence"}, {"pretokenizers", {split(pattern), byte_level(false)}}};
    return preset;
}

std::optional<PreTokenizerPreset> gguf_pre_preset(const std::string& name) {
    if (name == "default" || name == "gpt-2" || name == "gpt2" || name == "olmo" || name == "jais")
        return gpt2_preset();
    if (name == "mpt") {
        // GPT-NeoX's tokenizer: NFC, then GPT-2's byte-level split.
        PreTokenizerPreset p = gpt2_preset();
        p.normalizer = {{"type", "NFC"}};
        return p;
    }
    if (name == "llama3" || name == "llama-v3" || name == "llama-bpe" || name == "falcon3") {
        PreTokenizerPreset p = regex_preset(kLlama3Pattern);
        p.ignore_merges = true;
        return p;
    }
    if (name == "qwen2" || name == "stablelm2" || name == "deepseek-r1-qwen" || name == "megrez") {
        PreTokenizerPreset p = regex_preset(kQwen2Pattern);
        p.normalizer = {{"type", "NFC"}};
        return p;
    }
    if (name == "starcoder" || name == "refact" || name == "command-r" || name == "smollm" || name == "codeshell" ||
        name == "exaone" || name == "minerva-7b") {
        PreTokenizerPreset p;
        p.pre_tokenizer = {{"type", "Sequence"},
                           {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level(true)}}};
        return p;
    }
    if (name == "deepseek-coder") {
        return splits(
            {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+", R"(\p{N})"});
    }
    if (name == "deepseek-llm") {
        return splits(
            {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+", R"(\p{N}+)"});
    }
    if (name == "falcon") {
        return splits({R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2Pattern, "[0-9][0-9][0-9]"});
    }
    if (name == "poro-chat" || name == "bloom" || name == "gpt3-finnish") {
        return splits({R"( ?[^(\s|.,!?…。，、।۔،)]+)"});
    }
    return std::nullopt;
}

}  // namespace turbolm
