// tiktoken rank files: one "base64(token bytes) rank" line per token. The split pattern and the
// special tokens are not in the file; they come from the family, recognised by the vocabulary size
// (Llama-3: 128000 ranks, Qwen: 151643, cl100k_base: 100256, o200k_base: 199998, r50k: 50256).
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/logging.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/loaders.h"
#include "tokenizer/pre_tokenizer_presets.h"

namespace turbolm {

namespace {

const char* const kO200kPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

bool decode_base64(std::string_view in, std::string& out) {
    out.clear();
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else if (c == '=')
            break;
        else
            return false;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    return true;
}

struct Family {
    const char* name;
    PreTokenizerPreset preset;
    std::vector<std::string> specials;  // ids follow the ranks, in order
    std::optional<std::string> bos, eos;
    bool add_bos = false;
};

Family llama3_family() {
    Family f{"Llama-3", regex_preset(kLlama3Pattern), {}, "<|begin_of_text|>", "<|end_of_text|>", true};
    f.specials = {"<|begin_of_text|>",
                  "<|end_of_text|>",
                  "<|reserved_special_token_0|>",
                  "<|reserved_special_token_1|>",
                  "<|finetune_right_pad_id|>",
                  "<|reserved_special_token_2|>",
                  "<|start_header_id|>",
                  "<|end_header_id|>",
                  "<|eom_id|>",
                  "<|eot_id|>",
                  "<|python_tag|>"};
    for (int i = 3; f.specials.size() < 256; ++i) f.specials.push_back(str_cat("<|reserved_special_token_", i, "|>"));
    return f;
}

Family qwen_family() {
    Family f{"Qwen",
             regex_preset(kQwen2Pattern),
             {"<|endoftext|>", "<|im_start|>", "<|im_end|>"},
             std::nullopt,
             "<|endoftext|>",
             false};
    f.preset.normalizer = {{"type", "NFC"}};  // QWenTokenizer normalizes to NFC before tiktoken
    for (int i = 0; i < 205; ++i) f.specials.push_back(str_cat("<|extra_", i, "|>"));
    return f;
}

Family family_for(size_t ranks, const std::filesystem::path& file) {
    if (ranks == 128000) return llama3_family();
    if (ranks == 151643) return qwen_family();
    if (ranks == 100256) {
        Family f{"cl100k_base",
                 regex_preset(kLlama3Pattern),
                 {"<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>"},
                 std::nullopt,
                 "<|endoftext|>",
                 false};
        return f;
    }
    if (ranks == 199998)
        return Family{"o200k_base", regex_preset(kO200kPattern), {"<|endoftext|>"}, std::nullopt, "<|endoftext|>",
                      false};
    if (ranks == 50256)
        return Family{"r50k_base", gpt2_preset(), {"<|endoftext|>"}, std::nullopt, "<|endoftext|>", false};
    log::warn(file.string(), ": ", ranks,
              " tiktoken ranks match no known family; using the Llama-3 split pattern and no special tokens");
    return Family{"unknown", regex_preset(kLlama3Pattern), {}, std::nullopt, std::nullopt, false};
}

}  // namespace

bool looks_like_tiktoken(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::string line;
    if (!in || !std::getline(in, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == line.size()) return false;
    for (size_t i = 0; i < sp; ++i) {
        char c = line[i];
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) return false;
    }
    for (size_t i = sp + 1; i < line.size(); ++i) {
        if (!std::isdigit(static_cast<unsigned char>(line[i]))) return false;
    }
    return true;
}

TokenizerParts load_tiktoken(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail(StatusCode::kNotFound, file.string(), ": cannot open");
    const std::string where = file.string();
    std::vector<std::string> by_rank;
    StringMap<int32_t> ids;
    std::string line, bytes;
    size_t line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        size_t sp = line.find(' ');
        if (sp == std::string::npos) fail(StatusCode::kDataLoss, where, ":", line_no, ": expected \"base64 rank\"");
        if (!decode_base64(std::string_view(line).substr(0, sp), bytes) || bytes.empty()) {
            fail(StatusCode::kDataLoss, where, ":", line_no, ": bad base64 token");
        }
        long rank = -1;
        try {
            size_t used = 0;
            rank = std::stol(line.substr(sp + 1), &used);
            if (used != line.size() - sp - 1) rank = -1;
        } catch (const std::exception&) {
            rank = -1;
        }
        if (rank < 0 || rank > 10'000'000) fail(StatusCode::kDataLoss, where, ":", line_no, ": bad rank");
        if (static_cast<size_t>(rank) >= by_rank.size()) by_rank.resize(static_cast<size_t>(rank) + 1);
        if (!by_rank[rank].empty()) fail(StatusCode::kDataLoss, where, ":", line_no, ": rank ", rank, " appears twice");
        by_rank[rank] = bytes;
        ids.emplace(bytes, static_cast<int32_t>(rank));
    }
    if (by_rank.empty()) fail(StatusCode::kDataLoss, where, ": no ranks");
    for (int b = 0; b < 256; ++b) {
        if (!ids.count(std::string(1, static_cast<char>(b)))) {
            fail(StatusCode::kDataLoss, where, ": truncated or malformed: byte ", b, " has no rank");
        }
    }

    TokenizerParts parts;
    Family family = family_for(by_rank.size(), file);
    parts.source = str_cat(where, " (tiktoken, ", family.name, ")");
    parts.model_tokens.reserve(by_rank.size());
    for (const std::string& b : by_rank)
        parts.model_tokens.push_back(b.empty() ? std::string() : byte_level::encode(b));
    // Two tokens merge when their concatenation is a token; its rank orders the merges.
    for (size_t rank = 0; rank < by_rank.size(); ++rank) {
        std::string_view t = by_rank[rank];
        for (size_t k = 1; k < t.size(); ++k) {
            auto l = ids.find(t.substr(0, k));
            if (l == ids.end()) continue;
            auto r = ids.find(t.substr(k));
            if (r == ids.end()) continue;
            parts.merges.push_back({l->second, r->second, static_cast<int32_t>(rank), static_cast<uint32_t>(rank)});
        }
    }
    parts.bpe.ignore_merges = true;
    parts.normalizer = family.preset.normalizer;
    parts.pre_tokenizer = family.preset.pre_tokenizer;
    parts.decoder = {{"type", "ByteLevel"}};
    int32_t next = static_cast<int32_t>(by_rank.size());
    for (const std::string& s : family.specials)
        parts.added_tokens.push_back({s, next++, true, false, false, false, false});
    parts.bos_token = family.bos;
    parts.eos_token = family.eos;
    if (family.add_bos) parts.add_bos = true;
    return parts;
}

}  // namespace turbolm
