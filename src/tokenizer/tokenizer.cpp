#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "tokenizer/cleanup.h"
#include "tokenizer/decoders.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/tokenizer_parts.h"
#include "tokenizer/unicode.h"

namespace turbolm {

Tokenizer::~Tokenizer() = default;

Tokenizer::Tokenizer(TokenizerParts parts) : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.source = parts.source;
    const std::string& where = parts.source;

    // Model tokens must be text: a malformed spelling is shown with U+FFFD, as HF would refuse it.
    for (std::string& t : parts.model_tokens) {
        if (!unicode::is_valid_utf8(t)) t = unicode::to_valid_utf8(t);
    }
    if (!parts.normalizer.is_null()) m.normalizer = make_normalizer(parts.normalizer, where);
    if (!parts.pre_tokenizer.is_null()) m.pre_tokenizer = make_pre_tokenizer(parts.pre_tokenizer, where);
    if (!parts.decoder.is_null()) m.decoder = make_decoder(parts.decoder, where);
    parts.bpe.byte_level = m.pre_tokenizer && m.pre_tokenizer->is_byte_level();
    m.model_size = static_cast<int32_t>(parts.model_tokens.size());
    m.model = std::make_unique<BpeModel>(parts.model_tokens, parts.merges, parts.bpe);

    int32_t size = m.model_size;
    for (const AddedToken& t : parts.added_tokens) {
        if (t.id < 0) fail(StatusCode::kInvalidArgument, where, ": added token '", t.content, "' has a negative id");
        m.added.add(t);
        size = std::max(size, t.id + 1);
    }
    m.added.prepare();
    m.id_to_token.assign(static_cast<size_t>(size), std::string());
    m.special.assign(static_cast<size_t>(size), 0);
    for (int32_t id = 0; id < m.model_size; ++id) m.id_to_token[id] = parts.model_tokens[id];
    for (const AddedToken& t : m.added.tokens()) {
        m.id_to_token[t.id] = t.content;
        m.special[t.id] = t.special;
    }

    auto lookup = [&m](std::string_view token) { return m.find_token(token); };
    m.post = make_post_processor(parts.post_processor, where, lookup);

    auto resolve = [&](const std::optional<std::string>& token, std::optional<int32_t> id) -> std::optional<int32_t> {
        if (token) {
            if (auto found = m.find_token(*token)) return found;
        }
        if (id && *id >= 0 && *id < size) return id;
        return std::nullopt;
    };
    m.bos_id = resolve(parts.bos_token, parts.bos_id);
    m.eos_id = resolve(parts.eos_token, parts.eos_id);
    if (m.bos_id) m.bos_token = m.id_to_token[*m.bos_id];
    if (m.eos_id) m.eos_token = m.id_to_token[*m.eos_id];

    if (parts.add_bos || parts.add_eos) {
        // Explicit add_bos_token / add_eos_token settings rebuild the single-sequence template, as
        // transformers does for them.
        PostProcessor::Wrap wrap;
        if (parts.add_bos.value_or(false) && m.bos_id) wrap.prefix.push_back(*m.bos_id);
        if (parts.add_eos.value_or(false) && m.eos_id) wrap.suffix.push_back(*m.eos_id);
        if (!parts.add_bos) wrap.prefix = m.post.wrap().prefix;
        if (!parts.add_eos) wrap.suffix = m.post.wrap().suffix;
        m.post = PostProcessor(std::move(wrap));
    }
    m.clean_up = parts.clean_up_tokenization_spaces;
    m.chat_template = std::move(parts.chat_template);
}

std::optional<int32_t> Tokenizer::Impl::find_token(std::string_view token) const {
    if (const AddedToken* t = added.by_content(token)) return t->id;
    return model->find(token);
}

void Tokenizer::Impl::encode_text(std::string_view text, bool at_start, BpeCache& cache, EncodeScratch& scratch,
                                  std::vector<int32_t>& out) const {
    if (text.empty()) return;
    std::vector<PreToken>& words = scratch.words;
    words.clear();
    words.push_back({text, at_start});
    if (pre_tokenizer) {
        scratch.store.clear();
        pre_tokenizer->pre_tokenize(words, scratch.store);
    }
    for (const PreToken& w : words) model->encode(w.text, out, cache);
}

void Tokenizer::Impl::encode(std::string_view input, bool add_special_tokens, std::vector<int32_t>& out) const {
    std::string repaired;
    if (!unicode::is_valid_utf8(input)) {
        repaired = unicode::to_valid_utf8(input);
        input = repaired;
    }
    BpeModel::CacheLease lease(*model);
    EncodeScratch scratch;
    std::vector<AddedVocabulary::Segment> raw, normalized;
    added.split(input, /*normalized=*/false, raw);
    for (const AddedVocabulary::Segment& seg : raw) {
        if (seg.id >= 0) {
            out.push_back(seg.id);
            continue;
        }
        std::string_view text = input.substr(seg.begin, seg.end - seg.begin);
        if (text.empty()) continue;
        bool at_start = seg.begin == 0;
        std::string buffer;
        if (normalizer) {
            buffer.assign(text);
            normalizer->normalize(buffer, at_start);
            text = buffer;
        }
        if (!added.has_pass(true)) {
            encode_text(text, at_start, lease.cache(), scratch, out);
            continue;
        }
        normalized.clear();
        added.split(text, /*normalized=*/true, normalized);
        for (const AddedVocabulary::Segment& sub : normalized) {
            if (sub.id >= 0) {
                out.push_back(sub.id);
            } else {
                encode_text(text.substr(sub.begin, sub.end - sub.begin), at_start && sub.begin == 0, lease.cache(),
                            scratch, out);
            }
        }
    }
    if (add_special_tokens) post.apply(out);
}

std::optional<std::string> Tokenizer::Impl::token_for_decode(int32_t id, bool skip_special_tokens) const {
    if (const AddedToken* t = added.by_id(id)) {
        if (skip_special_tokens && t->special) return std::nullopt;
        return t->content;
    }
    if (id < 0 || id >= model_size) return std::nullopt;
    const std::string& t = model->token(id);
    if (t.empty()) return std::nullopt;
    return t;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    impl_->encode(text, add_special_tokens, out);
    return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
        if (auto t = impl_->token_for_decode(id, skip_special_tokens)) tokens.push_back(std::move(*t));
    }
    std::string text = decode_tokens(impl_->decoder.get(), std::move(tokens));
    if (impl_->clean_up) text = clean_up_tokenization(text);
    return text;
}

int32_t Tokenizer::vocab_size() const {
    return static_cast<int32_t>(impl_->id_to_token.size());
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
    return impl_->find_token(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
    if (id < 0 || id >= vocab_size()) return {};
    return impl_->id_to_token[static_cast<size_t>(id)];
}

bool Tokenizer::is_special(int32_t id) const {
    return id >= 0 && id < vocab_size() && impl_->special[static_cast<size_t>(id)];
}

std::optional<int32_t> Tokenizer::bos_id() const {
    return impl_->bos_id;
}
std::optional<int32_t> Tokenizer::eos_id() const {
    return impl_->eos_id;
}
std::string Tokenizer::bos_token() const {
    return impl_->bos_token;
}
std::string Tokenizer::eos_token() const {
    return impl_->eos_token;
}
const std::string& Tokenizer::chat_template() const {
    return impl_->chat_template;
}
const std::string& Tokenizer::source() const {
    return impl_->source;
}

std::optional<std::string> Tokenizer::token_for_decode(int32_t id, bool skip_special_tokens) const {
    return impl_->token_for_decode(id, skip_special_tokens);
}

bool Tokenizer::clean_up_tokenization_spaces() const {
    return impl_->clean_up;
}

}  // namespace turbolm
