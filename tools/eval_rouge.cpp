#include "eval_rouge.h"

#include <algorithm>
#include <map>

namespace turbolm::eval {

namespace {

// rouge-score's f-measure: precision and recall divide by max(count, 1), so an empty side scores 0.
RougeScore score(double matches, size_t generated_count, size_t reference_count) {
    RougeScore s;
    s.precision = matches / double(std::max<size_t>(generated_count, 1));
    s.recall = matches / double(std::max<size_t>(reference_count, 1));
    s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
    return s;
}

std::map<std::vector<std::string>, size_t> count_ngrams(const std::vector<std::string>& words, int n) {
    std::map<std::vector<std::string>, size_t> counts;
    for (size_t i = 0; i + size_t(n) <= words.size(); ++i)
        ++counts[std::vector<std::string>(words.begin() + i, words.begin() + i + n)];
    return counts;
}

size_t total(const std::map<std::vector<std::string>, size_t>& counts) {
    size_t n = 0;
    for (const auto& [gram, c] : counts) n += c;
    return n;
}

}  // namespace

std::vector<std::string> rouge_tokenize(std::string_view text) {
    std::vector<std::string> words;
    std::string word;
    for (char ch : text) {
        const char c = (ch >= 'A' && ch <= 'Z') ? char(ch - 'A' + 'a') : ch;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            word += c;
        } else if (!word.empty()) {
            words.push_back(std::move(word));
            word.clear();
        }
    }
    if (!word.empty()) words.push_back(std::move(word));
    return words;
}

RougeScore rouge_n(const std::vector<std::string>& generated, const std::vector<std::string>& reference, int n) {
    const auto gen = count_ngrams(generated, n), ref = count_ngrams(reference, n);
    size_t matches = 0;
    for (const auto& [gram, c] : gen) {
        auto it = ref.find(gram);
        if (it != ref.end()) matches += std::min(c, it->second);
    }
    return score(double(matches), total(gen), total(ref));
}

RougeScore rouge_l(const std::vector<std::string>& generated, const std::vector<std::string>& reference) {
    if (generated.empty() || reference.empty()) return {};
    // Longest common subsequence by dynamic programming, one row of the table at a time.
    std::vector<size_t> prev(reference.size() + 1, 0), cur(reference.size() + 1, 0);
    for (const auto& g : generated) {
        for (size_t j = 0; j < reference.size(); ++j)
            cur[j + 1] = g == reference[j] ? prev[j] + 1 : std::max(prev[j + 1], cur[j]);
        std::swap(prev, cur);
    }
    return score(double(prev[reference.size()]), generated.size(), reference.size());
}

RougeScores rouge(std::string_view generated, std::string_view reference) {
    const auto gen = rouge_tokenize(generated), ref = rouge_tokenize(reference);
    return {rouge_n(gen, ref, 1), rouge_n(gen, ref, 2), rouge_l(gen, ref)};
}

}  // namespace turbolm::eval
