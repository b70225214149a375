// ROUGE-1, ROUGE-2 and ROUGE-L F1 of a generated text against a reference, as Google's rouge-score
// package computes them with its default tokenizer and no stemming: text is lowercased, every run of
// characters other than a-z and 0-9 becomes a space, and the words are the space-separated pieces.
// ROUGE-N clips each n-gram's matches to its count in the other text; ROUGE-L is the longest common
// subsequence of the two word sequences (rouge-score's "rougeL", not the per-sentence "rougeLsum").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace turbolm::eval {

struct RougeScore {
    double precision = 0;  // matches / words (or n-grams) of the generated text
    double recall = 0;     // matches / words (or n-grams) of the reference
    double f1 = 0;         // 0 when precision + recall is 0
};

struct RougeScores {
    RougeScore rouge1, rouge2, rougeL;
};

// Only ASCII letters are lowercased: every other byte is a separator anyway, so words hold a-z, 0-9.
std::vector<std::string> rouge_tokenize(std::string_view text);

RougeScore rouge_n(const std::vector<std::string>& generated, const std::vector<std::string>& reference, int n);
RougeScore rouge_l(const std::vector<std::string>& generated, const std::vector<std::string>& reference);
RougeScores rouge(std::string_view generated, std::string_view reference);

}  // namespace turbolm::eval
