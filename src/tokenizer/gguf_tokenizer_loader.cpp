// Tokenizer metadata of a GGUF file (tokenizer.ggml.*), as llama.cpp's converter writes it: "gpt2"
// is byte-level BPE with explicit merges and a pre-tokenizer named by tokenizer.ggml.pre; "llama"
// is SentencePiece BPE with scores and token types.
#include "core/error.h"
#include "io/gguf_reader.h"
#include "tokenizer/loaders.h"
#include "tokenizer/pre_tokenizer_presets.h"

namespace turbolm {

namespace {

// llama.cpp's token types; they match SentencePiece's piece types.
constexpr int64_t kTypeControl = 3;
constexpr int64_t kTypeUserDefined = 4;

std::vector<int64_t> token_types(const GgufReader& gguf, size_t n) {
    std::vector<int64_t> types(n, 1);
    if (const GgufValue* v = gguf.find("tokenizer.ggml.token_type")) {
        types = v->to_ints();
        if (types.size() != n) {
            fail(StatusCode::kDataLoss, gguf.path().string(), ": tokenizer.ggml.token_type has ", types.size(),
                 " entries for ", n, " tokens");
        }
    }
    return types;
}

TokenizerParts byte_level_parts(const GgufReader& gguf, const std::vector<std::string>& tokens) {
    const std::string where = gguf.path().string();
    TokenizerParts parts;
    parts.model_tokens = tokens;
    StringMap<int32_t> ids;
    ids.reserve(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) ids.emplace(tokens[i], static_cast<int32_t>(i));
    if (const GgufValue* merges = gguf.find("tokenizer.ggml.merges")) {
        const auto& lines = merges->as_strings();
        parts.merges.reserve(lines.size());
        for (size_t rank = 0; rank < lines.size(); ++rank) {
            const std::string& m = lines[rank];
            size_t sp = m.find(' ', 1);
            if (sp == std::string::npos)
                fail(StatusCode::kDataLoss, where, ": merge ", rank, " '", m, "' has no space");
            std::string a = m.substr(0, sp), b = m.substr(sp + 1);
            auto ia = ids.find(a), ib = ids.find(b), ir = ids.find(a + b);
            if (ia == ids.end() || ib == ids.end() || ir == ids.end()) {
                fail(StatusCode::kDataLoss, where, ": merge ", rank, " '", m, "' uses a token outside the vocabulary");
            }
            parts.merges.push_back({ia->second, ib->second, ir->second, static_cast<uint32_t>(rank)});
        }
    }
    std::string pre = gguf.get_string("tokenizer.ggml.pre").value_or("default");
    std::optional<PreTokenizerPreset> preset = gguf_pre_preset(pre);
    if (!preset) fail(StatusCode::kUnimplemented, where, ": pre-tokenizer '", pre, "' is not supported");
    parts.normalizer = preset->normalizer;
    parts.pre_tokenizer = preset->pre_tokenizer;
    parts.bpe.ignore_merges = preset->ignore_merges;
    parts.decoder = {{"type", "ByteLevel"}};
    std::vector<int64_t> types = token_types(gguf, tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (types[i] != kTypeControl && types[i] != kTypeUserDefined) continue;
        AddedToken a;
        a.content = tokens[i];
        a.id = static_cast<int32_t>(i);
        a.special = types[i] == kTypeControl;
        a.normalized = !a.special;
        parts.added_tokens.push_back(a);
    }
    parts.source = str_cat(where, " (GGUF byte-level BPE, pre '", pre, "')");
    return parts;
}

TokenizerParts sentencepiece_parts(const GgufReader& gguf, const std::vector<std::string>& tokens) {
    const std::string where = gguf.path().string();
    std::vector<float> scores(tokens.size(), 0.0f);
    if (const GgufValue* v = gguf.find("tokenizer.ggml.scores")) {
        scores = v->to_floats();
        if (scores.size() != tokens.size()) {
            fail(StatusCode::kDataLoss, where, ": tokenizer.ggml.scores has ", scores.size(), " entries for ",
                 tokens.size(), " tokens");
        }
    }
    std::vector<int64_t> types = token_types(gguf, tokens.size());
    std::vector<SentencePiece> pieces(tokens.size());
    SpmBuildOptions options;
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (types[i] < 1 || types[i] > 6)
            fail(StatusCode::kDataLoss, where, ": token ", i, " has unknown type ", types[i]);
        pieces[i] = {tokens[i], scores[i], static_cast<PieceType>(types[i])};
        if (pieces[i].type == PieceType::kByte) options.byte_fallback = true;
        if (pieces[i].type == PieceType::kUnknown && !options.unk_id) options.unk_id = static_cast<int32_t>(i);
    }
    if (auto unk = gguf.get_int("tokenizer.ggml.unknown_token_id")) {
        if (*unk >= 0 && static_cast<size_t>(*unk) < tokens.size()) options.unk_id = static_cast<int32_t>(*unk);
    }
    options.add_dummy_prefix = gguf.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
    options.legacy = true;  // llama.cpp prefixes every text fragment after a special token
    TokenizerParts parts = sentencepiece_bpe_parts(pieces, options);
    parts.add_bos = true;
    parts.add_eos = false;
    parts.source = str_cat(where, " (GGUF SentencePiece BPE)");
    return parts;
}

}  // namespace

TokenizerParts load_gguf_tokenizer(const std::filesystem::path& file) {
    GgufReader gguf = GgufReader::open(file);
    const std::string where = file.string();
    std::optional<std::string> model = gguf.get_string("tokenizer.ggml.model");
    if (!model) fail(StatusCode::kNotFound, where, ": no tokenizer metadata (tokenizer.ggml.model is missing)");
    const GgufValue& tokens_value = gguf.get("tokenizer.ggml.tokens");
    if (!tokens_value.is_array() || tokens_value.array_type() != GgufType::kString) {
        fail(StatusCode::kDataLoss, where, ": tokenizer.ggml.tokens is not an array of strings");
    }
    const std::vector<std::string>& tokens = tokens_value.as_strings();
    TokenizerParts parts;
    if (*model == "gpt2") {
        parts = byte_level_parts(gguf, tokens);
    } else if (*model == "llama") {
        parts = sentencepiece_parts(gguf, tokens);
    } else {
        fail(StatusCode::kUnimplemented, where, ": tokenizer model '", *model, "' is not supported (gpt2, llama)");
    }
    auto id_key = [&](const char* key) -> std::optional<int32_t> {
        auto v = gguf.get_int(key);
        if (!v || *v < 0 || static_cast<size_t>(*v) >= tokens.size()) return std::nullopt;
        return static_cast<int32_t>(*v);
    };
    parts.bos_id = id_key("tokenizer.ggml.bos_token_id");
    parts.eos_id = id_key("tokenizer.ggml.eos_token_id");
    if (auto b = gguf.get_bool("tokenizer.ggml.add_bos_token")) parts.add_bos = *b;
    if (auto e = gguf.get_bool("tokenizer.ggml.add_eos_token")) parts.add_eos = *e;
    if (!parts.add_bos) parts.add_bos = false;
    if (auto t = gguf.get_string("tokenizer.chat_template")) parts.chat_template = *t;
    return parts;
}

}  // namespace turbolm
