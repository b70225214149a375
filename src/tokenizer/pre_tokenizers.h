// Pre-tokenizers: cut normalized text into the words the model encodes one at a time, as HF
// tokenizers' pre_tokenizers do. Built from their tokenizer.json description (Sequence, Split,
// ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation, CharDelimiterSplit).
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace turbolm {

struct PreToken {
    std::string_view text;  // into the caller's text or a PreTokenStore
    bool at_start;          // begins at offset 0 of the original input (Metaspace's "first" scheme)
};

// Owns the text of pre-tokens that differ from the input (a prepended space, "▁" for " ").
class PreTokenStore {
  public:
    std::string_view keep(std::string s) {
        strings_.push_back(std::move(s));
        return strings_.back();
    }
    void clear() { strings_.clear(); }

  private:
    std::deque<std::string> strings_;
};

class PreTokenizer {
  public:
    virtual ~PreTokenizer() = default;
    // Replaces tokens with their pre-tokenized pieces, in order.
    virtual void pre_tokenize(std::vector<PreToken>& tokens, PreTokenStore& store) const = 0;
    // True when words reach the model as raw bytes (a ByteLevel step is present).
    virtual bool is_byte_level() const { return false; }
};

// Throws kInvalidArgument (naming `where` and the type) for a malformed or unknown pre-tokenizer.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& spec, const std::string& where);

// The pattern GPT-2's ByteLevel pre-tokenizer splits with.
extern const char* const kGpt2Pattern;

}  // namespace turbolm
