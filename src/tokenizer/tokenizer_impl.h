// Tokenizer's internals, shared by tokenizer.cpp and the incremental detokenizer.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_cache.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoders.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/tokenizer.h"

namespace turbolm {

// Buffers one encode call reuses across its segments.
struct EncodeScratch {
    std::vector<PreToken> words;
    PreTokenStore store;
};

struct Tokenizer::Impl {
    std::string source;
    std::unique_ptr<BpeModel> model;
    int32_t model_size = 0;
    AddedVocabulary added;
    std::unique_ptr<Normalizer> normalizer;
    std::unique_ptr<PreTokenizer> pre_tokenizer;
    PostProcessor post;
    std::unique_ptr<Decoder> decoder;

    std::vector<std::string> id_to_token;
    std::vector<uint8_t> special;
    std::optional<int32_t> bos_id, eos_id;
    std::string bos_token, eos_token;
    bool clean_up = false;
    std::string chat_template;

    std::optional<int32_t> find_token(std::string_view token) const;
    void encode(std::string_view text, bool add_special_tokens, std::vector<int32_t>& out) const;
    void encode_text(std::string_view text, bool at_start, BpeCache& cache, EncodeScratch& scratch,
                     std::vector<int32_t>& out) const;
    std::optional<std::string> token_for_decode(int32_t id, bool skip_special_tokens) const;
};

}  // namespace turbolm
