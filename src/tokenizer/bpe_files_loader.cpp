// vocab.json + merges.txt (GPT-2's encoder.json + vocab.bpe): byte-level BPE as transformers builds
// it for GPT2Tokenizer, or for Qwen2Tokenizer (its own split regex and NFC) when the config says so.
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/loaders.h"
#include "tokenizer/pre_tokenizer_presets.h"

namespace turbolm {

namespace {

using json = nlohmann::json;

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail(StatusCode::kNotFound, file.string(), ": cannot open");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TokenizerParts load_bpe_files(const std::filesystem::path& vocab_file, const std::filesystem::path& merges_file,
                              const TokenizerConfig& config) {
    TokenizerParts parts;
    parts.source = str_cat(vocab_file.string(), " + ", merges_file.filename().string(), " (byte-level BPE)");
    json vocab;
    try {
        vocab = json::parse(read_file(vocab_file));
    } catch (const json::exception& e) {
        fail(StatusCode::kInvalidArgument, vocab_file.string(), ": not valid JSON: ", e.what());
    }
    if (!vocab.is_object()) fail(StatusCode::kInvalidArgument, vocab_file.string(), ": expected a token -> id object");
    StringMap<int32_t> ids;
    int32_t max_id = -1;
    for (const auto& [token, id] : vocab.items()) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0) {
            fail(StatusCode::kInvalidArgument, vocab_file.string(), ": token '", token, "' has no valid id");
        }
        ids.emplace(token, id.get<int32_t>());
        max_id = std::max(max_id, id.get<int32_t>());
    }
    parts.model_tokens.assign(static_cast<size_t>(max_id + 1), std::string());
    for (const auto& [token, id] : ids) parts.model_tokens[id] = token;

    const std::string merges_text = read_file(merges_file);
    std::istringstream lines(merges_text);
    std::string line;
    size_t line_no = 0;
    while (std::getline(lines, line)) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
        size_t sp = line.find(' ');
        if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
            fail(StatusCode::kInvalidArgument, merges_file.string(), ":", line_no, ": expected two tokens, got '", line,
                 "'");
        }
        std::string a = line.substr(0, sp), b = line.substr(sp + 1);
        auto ia = ids.find(a), ib = ids.find(b), ir = ids.find(a + b);
        if (ia == ids.end() || ib == ids.end() || ir == ids.end()) {
            fail(StatusCode::kInvalidArgument, merges_file.string(), ":", line_no, ": merge '", line,
                 "' uses a token that is not in ", vocab_file.filename().string());
        }
        parts.merges.push_back({ia->second, ib->second, ir->second, static_cast<uint32_t>(parts.merges.size())});
    }

    const bool qwen2 = config.tokenizer_class.starts_with("Qwen2");
    PreTokenizerPreset preset =
        qwen2 ? regex_preset(kQwen2Pattern) : gpt2_preset(config.add_prefix_space.value_or(false));
    if (qwen2) preset.normalizer = {{"type", "NFC"}};
    parts.normalizer = preset.normalizer;
    parts.pre_tokenizer = preset.pre_tokenizer;
    parts.decoder = {{"type", "ByteLevel"}};
    if (!qwen2 && !config.present) {
        // GPT-2 defaults: <|endoftext|> is bos, eos and unk, and is special.
        if (auto it = ids.find("<|endoftext|>"); it != ids.end()) {
            parts.added_tokens.push_back({"<|endoftext|>", it->second, true, false, false, true, false});
            parts.bos_token = parts.eos_token = "<|endoftext|>";
        }
    }
    return parts;
}

}  // namespace turbolm
