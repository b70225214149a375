#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/loaders.h"

namespace turbolm {

namespace {

using json = nlohmann::json;

int32_t vocab_id(const StringMap<int32_t>& vocab, const std::string& token, const std::string& where) {
    auto it = vocab.find(token);
    if (it == vocab.end())
        fail(StatusCode::kInvalidArgument, where, ": merge uses '", token, "', which is not in the vocab");
    return it->second;
}

void read_bpe_model(const json& model, const std::string& where, TokenizerParts& parts) {
    std::string type = model.value("type", std::string("BPE"));
    if (type != "BPE") fail(StatusCode::kUnimplemented, where, ": model type '", type, "' is not supported (only BPE)");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        if (model.contains(key) && model.at(key).is_string() && !model.at(key).get<std::string>().empty()) {
            fail(StatusCode::kUnimplemented, where, ": BPE ", key, " is not supported");
        }
    }
    const json& vocab = model.at("vocab");
    if (!vocab.is_object()) fail(StatusCode::kInvalidArgument, where, ": model.vocab must be an object");
    StringMap<int32_t> ids;
    ids.reserve(vocab.size());
    int32_t max_id = -1;
    for (const auto& [token, id] : vocab.items()) {
        int32_t v = id.get<int32_t>();
        if (v < 0) fail(StatusCode::kInvalidArgument, where, ": token '", token, "' has negative id ", v);
        ids.emplace(token, v);
        max_id = std::max(max_id, v);
    }
    parts.model_tokens.assign(static_cast<size_t>(max_id + 1), std::string());
    for (const auto& [token, id] : ids) parts.model_tokens[id] = token;

    const json& merges = model.value("merges", json::array());
    parts.merges.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const json& m = merges[rank];
        std::string a, b;
        if (m.is_string()) {
            const std::string& s = m.get_ref<const std::string&>();
            size_t sp = s.find(' ');
            if (sp == std::string::npos) fail(StatusCode::kInvalidArgument, where, ": merge '", s, "' has no space");
            a = s.substr(0, sp);
            b = s.substr(sp + 1);
        } else if (m.is_array() && m.size() == 2) {
            a = m[0].get<std::string>();
            b = m[1].get<std::string>();
        } else {
            fail(StatusCode::kInvalidArgument, where, ": merge ", rank, " is neither \"a b\" nor [a, b]");
        }
        BpeMerge merge;
        merge.left = vocab_id(ids, a, where);
        merge.right = vocab_id(ids, b, where);
        merge.result = vocab_id(ids, a + b, where);
        merge.rank = static_cast<uint32_t>(rank);
        parts.merges.push_back(merge);
    }
    parts.bpe.byte_fallback = model.value("byte_fallback", false);
    parts.bpe.fuse_unk = model.value("fuse_unk", false);
    parts.bpe.ignore_merges = model.value("ignore_merges", false);
    parts.bpe.word_marker = "\xE2\x96\x81";
    if (model.contains("unk_token") && model.at("unk_token").is_string()) {
        auto it = ids.find(model.at("unk_token").get<std::string>());
        if (it != ids.end()) parts.bpe.unk_id = it->second;
    }
}

}  // namespace

TokenizerParts load_tokenizer_json(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail(StatusCode::kNotFound, file.string(), ": cannot open");
    std::ostringstream text;
    text << in.rdbuf();
    json j;
    try {
        j = json::parse(text.str());
    } catch (const json::exception& e) {
        fail(StatusCode::kInvalidArgument, file.string(), ": not valid JSON: ", e.what());
    }
    const std::string where = file.string();
    if (!j.is_object() || !j.contains("model")) {
        fail(StatusCode::kInvalidArgument, where, ": not a tokenizer.json (no \"model\" object)");
    }
    TokenizerParts parts;
    parts.source = str_cat(where, " (tokenizer.json)");
    try {
        read_bpe_model(j.at("model"), where, parts);
        for (const json& t : j.value("added_tokens", json::array())) {
            parts.added_tokens.push_back(added_token_from_json(t, t.at("id").get<int32_t>()));
        }
        parts.normalizer = j.value("normalizer", json());
        parts.pre_tokenizer = j.value("pre_tokenizer", json());
        parts.post_processor = j.value("post_processor", json());
        parts.decoder = j.value("decoder", json());
    } catch (const json::exception& e) {
        fail(StatusCode::kInvalidArgument, where, ": ", e.what());
    }
    return parts;
}

}  // namespace turbolm
