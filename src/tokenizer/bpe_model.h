// Byte-pair encoding of one pre-tokenized word, with HF tokenizers' semantics: the word starts as
// one symbol per character (byte-level vocabularies: per byte), and the adjacent pair with the
// lowest merge rank is merged, leftmost first on ties, until no listed pair remains.
//
// Fast path: pair ranks live in an open-addressing table keyed by the two ids; short words merge
// in place with an O(n^2) scan over a rank array (cheap for the usual 2-10 symbols), long words
// with a heap over a linked list; recent words are cached.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/string_map.h"

namespace turbolm {

struct BpeMerge {
    int32_t left = 0;
    int32_t right = 0;
    int32_t result = 0;
    uint32_t rank = 0;  // lower merges first; equal ranks merge leftmost first
};

struct BpeOptions {
    // Words arrive as raw bytes and the vocabulary spells tokens in GPT-2's byte-level alphabet.
    bool byte_level = false;
    // Characters missing from the vocabulary become their UTF-8 bytes as "<0xXX>" tokens.
    bool byte_fallback = false;
    // Token for characters that are neither in the vocabulary nor byte-fallback-able; none drops them.
    std::optional<int32_t> unk_id;
    bool fuse_unk = false;  // consecutive unknown characters give one unk token
    // A word that is itself a token is emitted whole without merging (Llama-3, tiktoken).
    bool ignore_merges = false;
    // Word-boundary marker (SentencePiece's "▁"): when no token joins it to a preceding non-marker
    // character, merges never cross the position before it, so long texts are cut there first.
    std::string word_marker;
};

class BpeCache;

class BpeModel {
  public:
    // tokens[id] spells token id ("" for unused ids); merges refer to those ids.
    BpeModel(std::vector<std::string> tokens, const std::vector<BpeMerge>& merges, BpeOptions options);
    ~BpeModel();

    // Appends the ids of word. Thread-safe.
    void encode(std::string_view word, std::vector<int32_t>& out) const;
    // Same, with a caller-held cache (see CacheLease).
    void encode(std::string_view word, std::vector<int32_t>& out, BpeCache& cache) const;

    int32_t size() const { return static_cast<int32_t>(tokens_.size()); }
    const std::string& token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
    std::optional<int32_t> find(std::string_view token) const;
    const BpeOptions& options() const { return options_; }
    size_t merge_count() const { return merge_count_; }

    // Borrows a word cache from the model's pool for the duration of one encode call.
    class CacheLease {
      public:
        explicit CacheLease(const BpeModel& model);
        ~CacheLease();
        CacheLease(const CacheLease&) = delete;
        CacheLease& operator=(const CacheLease&) = delete;
        BpeCache& cache() { return *cache_; }

      private:
        const BpeModel& model_;
        std::unique_ptr<BpeCache> cache_;
    };

  private:
    struct PairTable;
    void encode_uncached(std::string_view word, std::vector<int32_t>& out) const;
    void initial_symbols(std::string_view word, std::vector<int32_t>& symbols) const;
    void merge_small(std::vector<int32_t>& symbols) const;
    void merge_large(std::vector<int32_t>& symbols) const;

    std::vector<std::string> tokens_;
    StringMap<int32_t> token_ids_;  // token spelling -> id
    StringMap<int32_t> byte_ids_;   // byte-level only: raw bytes of each token -> id
    std::unique_ptr<PairTable> pairs_;
    BpeOptions options_;
    size_t merge_count_ = 0;
    int32_t byte_token_[256];                           // byte-level: id of each single byte; byte fallback: "<0xXX>"
    int32_t ascii_token_[128];                          // char-level: id of each ASCII character, -1 when absent
    std::unordered_map<char32_t, int32_t> char_token_;  // char-level: single-character tokens
    bool split_at_marker_ = false;

    mutable std::mutex pool_mutex_;
    mutable std::vector<std::unique_ptr<BpeCache>> pool_;
};

}  // namespace turbolm
