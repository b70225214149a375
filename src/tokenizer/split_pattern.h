// What HF tokenizers' Split does with a pattern: find the matches, label every stretch of the text
// as match or not (optionally inverted), then group the stretches by a SplitBehavior.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/regex.h"

namespace turbolm {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

class SplitPattern {
  public:
    virtual ~SplitPattern() = default;
    // Appends the non-overlapping [begin, end) matches in text, left to right.
    virtual void find(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const = 0;
};

class RegexPattern : public SplitPattern {
  public:
    explicit RegexPattern(std::string pattern) : regex_(std::move(pattern)) {}
    void find(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const override {
        regex_.find_all(text, out);
    }

  private:
    Regex regex_;
};

class LiteralPattern : public SplitPattern {
  public:
    explicit LiteralPattern(std::string literal) : literal_(std::move(literal)) {}
    void find(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const override {
        if (literal_.empty()) return;
        for (size_t pos = text.find(literal_); pos != std::string_view::npos;
             pos = text.find(literal_, pos + literal_.size())) {
            out.emplace_back(pos, pos + literal_.size());
        }
    }

  private:
    std::string literal_;
};

struct SplitPart {
    size_t begin, end;
};

// The non-empty pieces of text that Split(pattern, behavior, invert) keeps.
void split_parts(const SplitPattern& pattern, std::string_view text, bool invert, SplitBehavior behavior,
                 std::vector<SplitPart>& out);

}  // namespace turbolm
