#include "tokenizer/cleanup.h"

#include <algorithm>
#include <utility>

namespace turbolm {

namespace {

// In transformers' order; each is one left-to-right pass of Python's str.replace.
constexpr std::pair<std::string_view, std::string_view> kReplacements[] = {
    {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
    {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
};
// Every pattern starts with its only space and is at most this long.
constexpr size_t kLongestPattern = 4;

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    size_t p = s.find(from);
    if (p == std::string::npos) return;
    std::string out;
    out.reserve(s.size());
    size_t prev = 0;
    for (; p != std::string::npos; p = s.find(from, p + from.size())) {
        out.append(s, prev, p - prev);
        out += to;
        prev = p + from.size();
    }
    out.append(s, prev, std::string::npos);
    s.swap(out);
}

}  // namespace

std::string clean_up_tokenization(std::string_view text) {
    std::string s(text);
    for (auto [from, to] : kReplacements) replace_all(s, from, to);
    return s;
}

std::string CleanupStream::push(std::string_view text) {
    pending_ += text;
    // Cut where no pattern can straddle: no space among the kLongestPattern - 1 bytes before the
    // cut. Replacements only ever delete spaces, so this holds through all the passes.
    size_t cut = pending_.size();
    while (cut > 0) {
        size_t from = cut >= kLongestPattern - 1 ? cut - (kLongestPattern - 1) : 0;
        size_t space = pending_.find(' ', from);
        if (space == std::string::npos || space >= cut) break;
        cut = space;
    }
    std::string ready = clean_up_tokenization(std::string_view(pending_).substr(0, cut));
    pending_.erase(0, cut);
    return ready;
}

std::string CleanupStream::flush() {
    std::string ready = clean_up_tokenization(pending_);
    pending_.clear();
    return ready;
}

}  // namespace turbolm
