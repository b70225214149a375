// A compiled Unicode regular expression (PCRE2 in UTF + UCP mode, JIT-compiled where the platform
// allows) and the one operation the tokenizer stages need: all non-overlapping matches, left to
// right, the way HF tokenizers' Oniguruma-backed SysRegex::find_iter reports them.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace turbolm {

class Regex {
  public:
    // Throws kInvalidArgument naming the pattern when it does not compile.
    explicit Regex(std::string pattern);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    const std::string& pattern() const { return pattern_; }

    // Appends the [begin, end) byte ranges of every match in text to out. Empty matches are skipped.
    // Thread-safe: match data comes from a per-thread cache.
    void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

  private:
    struct Compiled;
    std::string pattern_;
    std::unique_ptr<Compiled> compiled_;
};

// Escapes every regex metacharacter of a literal string.
std::string regex_escape(std::string_view literal);

}  // namespace turbolm
