#include <algorithm>

#include "core/error.h"
#include "tokenizer/loaders.h"
#include "tokenizer/unicode.h"

namespace turbolm {

namespace {

using json = nlohmann::json;

const char* const kMarker = "\xE2\x96\x81";  // "▁"

// The merges HF's converter derives from a SentencePiece vocabulary: every split of a piece into
// two pieces, ordered by the piece's score (highest first), then piece id, then the halves' ids.
std::vector<BpeMerge> merges_from_scores(const std::vector<SentencePiece>& pieces) {
    StringMap<int32_t> ids;
    ids.reserve(pieces.size());
    for (size_t i = 0; i < pieces.size(); ++i) ids[pieces[i].piece] = static_cast<int32_t>(i);
    struct Candidate {
        float score;
        int32_t piece, left, right;
    };
    std::vector<Candidate> candidates;
    for (size_t i = 0; i < pieces.size(); ++i) {
        const std::string& p = pieces[i].piece;
        for (size_t k = unicode::utf8_lead_length(static_cast<unsigned char>(p[0])); k < p.size();
             k += unicode::utf8_lead_length(static_cast<unsigned char>(p[k]))) {
            auto l = ids.find(std::string_view(p).substr(0, k));
            if (l == ids.end()) continue;
            auto r = ids.find(std::string_view(p).substr(k));
            if (r == ids.end()) continue;
            candidates.push_back({pieces[i].score, static_cast<int32_t>(i), l->second, r->second});
        }
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    std::vector<BpeMerge> merges;
    merges.reserve(candidates.size());
    for (const Candidate& c : candidates) {
        merges.push_back({c.left, c.right, ids[pieces[c.piece].piece], static_cast<uint32_t>(merges.size())});
    }
    return merges;
}

}  // namespace

TokenizerParts sentencepiece_bpe_parts(const std::vector<SentencePiece>& pieces, const SpmBuildOptions& options) {
    TokenizerParts parts;
    parts.model_tokens.reserve(pieces.size());
    for (const SentencePiece& p : pieces) parts.model_tokens.push_back(p.piece);
    parts.merges = merges_from_scores(pieces);
    parts.bpe.byte_fallback = options.byte_fallback;
    parts.bpe.fuse_unk = true;
    parts.bpe.unk_id = options.unk_id;
    parts.bpe.word_marker = kMarker;
    for (size_t i = 0; i < pieces.size(); ++i) {
        PieceType t = pieces[i].type;
        if (t == PieceType::kControl || t == PieceType::kUnknown || t == PieceType::kUserDefined) {
            AddedToken a;
            a.content = pieces[i].piece;
            a.id = static_cast<int32_t>(i);
            a.special = t != PieceType::kUserDefined;
            parts.added_tokens.push_back(a);
        }
    }
    if (options.legacy) {
        json steps = json::array();
        if (options.add_dummy_prefix) steps.push_back({{"type", "Prepend"}, {"prepend", kMarker}});
        steps.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMarker}});
        parts.normalizer = {{"type", "Sequence"}, {"normalizers", steps}};
    } else {
        parts.pre_tokenizer = {{"type", "Metaspace"},
                               {"replacement", kMarker},
                               {"prepend_scheme", options.add_dummy_prefix ? "first" : "never"},
                               {"split", false}};
    }
    json decoders = json::array({{{"type", "Replace"}, {"pattern", {{"String", kMarker}}}, {"content", " "}},
                                 {{"type", "ByteFallback"}},
                                 {{"type", "Fuse"}}});
    if (options.add_dummy_prefix) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    parts.decoder = {{"type", "Sequence"}, {"decoders", decoders}};
    return parts;
}

TokenizerParts load_sentencepiece(const std::filesystem::path& file, const TokenizerConfig& config) {
    SentencePieceModel m = read_sentencepiece_model(file);
    const std::string where = file.string();
    if (m.model_type != 2) {
        fail(StatusCode::kUnimplemented, where, ": SentencePiece model type ", m.model_type,
             " is not supported (only BPE, type 2)");
    }
    if (!m.precompiled_charsmap.empty() && m.normalizer_name != "identity") {
        fail(StatusCode::kUnimplemented, where, ": SentencePiece normalization '", m.normalizer_name,
             "' (precompiled charsmap) is not supported");
    }
    if (m.treat_whitespace_as_suffix) {
        fail(StatusCode::kUnimplemented, where, ": treat_whitespace_as_suffix is not supported");
    }
    SpmBuildOptions options;
    options.legacy = config.legacy.value_or(true);
    options.add_dummy_prefix = config.add_prefix_space.value_or(m.add_dummy_prefix);
    options.byte_fallback = m.byte_fallback;
    auto valid = [&](int id) { return id >= 0 && static_cast<size_t>(id) < m.pieces.size(); };
    if (valid(m.unk_id)) options.unk_id = m.unk_id;
    TokenizerParts parts = sentencepiece_bpe_parts(m.pieces, options);
    parts.source = str_cat(where, " (SentencePiece BPE)");
    if (valid(m.bos_id)) parts.bos_id = m.bos_id;
    if (valid(m.eos_id)) parts.eos_id = m.eos_id;
    // Llama-family tokenizers add BOS (and not EOS) unless the config says otherwise.
    parts.add_bos = config.add_bos_token.value_or(true);
    parts.add_eos = config.add_eos_token.value_or(false);
    return parts;
}

}  // namespace turbolm
