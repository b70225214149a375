// Added tokens (special or not) and how HF tokenizers finds them in text before anything else runs:
// leftmost-longest matching, with the single_word / lstrip / rstrip rules, in two passes (tokens
// with normalized=false on the raw text, normalized=true ones on the normalized text).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/string_map.h"

namespace turbolm {

struct AddedToken {
    std::string content;
    int32_t id = -1;
    bool special = false;
    bool lstrip = false;       // swallows whitespace before it
    bool rstrip = false;       // swallows whitespace after it
    bool normalized = false;   // matched in normalized text rather than the raw input
    bool single_word = false;  // only matches with no word character on either side
};

// An added token as tokenizer.json ("added_tokens") and tokenizer_config.json ("added_tokens_decoder")
// describe it; `normalized` defaults to the opposite of `special`, as in HF.
AddedToken added_token_from_json(const nlohmann::json& j, int32_t id);

class AddedVocabulary {
  public:
    // Adds or replaces (same content) a token.
    void add(const AddedToken& token);
    bool empty() const { return tokens_.empty(); }
    const std::vector<AddedToken>& tokens() const { return tokens_; }
    const AddedToken* by_id(int32_t id) const;
    const AddedToken* by_content(std::string_view content) const;

    // A stretch of text, or an added token when id >= 0.
    struct Segment {
        int32_t id;
        size_t begin, end;
    };
    // Splits text at the tokens of one pass (normalized == the tokens' flag). Call prepare() first.
    void split(std::string_view text, bool normalized, std::vector<Segment>& out) const;
    bool has_pass(bool normalized) const { return !matcher_[normalized].nodes.empty() && matcher_[normalized].any; }

    // Builds the matchers; call after the last add().
    void prepare();

  private:
    struct Matcher {
        struct Node {
            std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
            int32_t token = -1;                                 // index into tokens_
        };
        std::vector<Node> nodes;
        bool first_byte[256] = {};
        bool any = false;
    };
    void find_longest(const Matcher& m, std::string_view text, size_t at, int32_t& token, size_t& end) const;

    std::vector<AddedToken> tokens_;
    StringMap<size_t> by_content_;
    std::unordered_map<int32_t, size_t> by_id_;
    Matcher matcher_[2];
};

}  // namespace turbolm
