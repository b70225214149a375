// IncrementalDetokenizer: the decoder pipeline run as a stream (see decoders.h), followed by the
// streaming form of clean_up_tokenization_spaces when the tokenizer uses it.
#include "tokenizer/cleanup.h"
#include "tokenizer/decoders.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace turbolm {

struct IncrementalDetokenizer::State {
    explicit State(const Tokenizer& t) : stream(t.impl().decoder.get()) {}
    DecodeStream stream;
    CleanupStream cleanup;
};

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_tokens_(skip_special_tokens), state_(std::make_unique<State>(tokenizer)) {}

IncrementalDetokenizer::~IncrementalDetokenizer() = default;
IncrementalDetokenizer::IncrementalDetokenizer(IncrementalDetokenizer&&) noexcept = default;

std::string IncrementalDetokenizer::push(int32_t id) {
    auto token = tokenizer_->token_for_decode(id, skip_special_tokens_);
    if (!token) return {};
    std::string text = state_->stream.push(std::move(*token));
    if (!tokenizer_->clean_up_tokenization_spaces()) return text;
    return state_->cleanup.push(text);
}

std::string IncrementalDetokenizer::flush() {
    std::string text = state_->stream.flush();
    if (!tokenizer_->clean_up_tokenization_spaces()) return text;
    return state_->cleanup.push(text) + state_->cleanup.flush();
}

}  // namespace turbolm
