// ROUGE against values worked out by hand (rouge-score's rules: precision and recall divide by
// max(count, 1), F1 = 2PR / (P + R), n-gram matches clipped to the smaller count).
#include <gtest/gtest.h>

#include "eval_rouge.h"

namespace turbolm::eval {
namespace {

void expect_score(const RougeScore& s, double p, double r, double f) {
    EXPECT_NEAR(s.precision, p, 1e-12);
    EXPECT_NEAR(s.recall, r, 1e-12);
    EXPECT_NEAR(s.f1, f, 1e-12);
}

TEST(Rouge, TokenizesLikeRougeScore) {
    // Lowercased; every run of non-alphanumerics (apostrophes, commas, non-ASCII) separates words.
    EXPECT_EQ(rouge_tokenize("In 1611, the KJV's text -- \"Let there be light\"!"),
              (std::vector<std::string>{"in", "1611", "the", "kjv", "s", "text", "let", "there", "be", "light"}));
    EXPECT_EQ(rouge_tokenize("caf\xc3\xa9 na\xc3\xafve"), (std::vector<std::string>{"caf", "na", "ve"}));
    EXPECT_TRUE(rouge_tokenize(" ...!? ").empty());
}

TEST(Rouge, OneWordSwapped) {
    // generated: the cat sat on the mat      reference: the cat is on the mat
    // unigrams: the x2, cat, on, mat match = 5 of 6 on each side -> P = R = F = 5/6
    // bigrams: the-cat, on-the, the-mat match = 3 of 5 on each side -> 3/5
    // LCS: the cat on the mat = 5 -> 5/6
    const RougeScores s = rouge("The cat sat on the mat.", "the cat is on the mat");
    expect_score(s.rouge1, 5.0 / 6, 5.0 / 6, 5.0 / 6);
    expect_score(s.rouge2, 3.0 / 5, 3.0 / 5, 3.0 / 5);
    expect_score(s.rougeL, 5.0 / 6, 5.0 / 6, 5.0 / 6);
}

TEST(Rouge, LongerGeneratedText) {
    // generated: a b c d      reference: a c
    // unigrams: a, c match: P = 2/4, R = 2/2, F = 2 * 0.5 * 1 / 1.5 = 2/3
    // bigrams: ab, bc, cd against ac: none match
    // LCS: a c = 2, the same as unigrams here
    const RougeScores s = rouge("a b c d", "a c");
    expect_score(s.rouge1, 0.5, 1.0, 2.0 / 3);
    expect_score(s.rouge2, 0.0, 0.0, 0.0);
    expect_score(s.rougeL, 0.5, 1.0, 2.0 / 3);
}

TEST(Rouge, RepeatedWordsAreClipped) {
    // generated: the the the the      reference: the cat the
    // unigrams: "the" 4 times against 2 -> 2 matches: P = 2/4, R = 2/3, F = 2 (1/3) / (7/6) = 4/7
    // bigrams: the-the x3 against the-cat, cat-the: none
    // LCS: the the = 2 -> as unigrams
    const RougeScores s = rouge("the the the the", "the cat the");
    expect_score(s.rouge1, 0.5, 2.0 / 3, 4.0 / 7);
    expect_score(s.rouge2, 0.0, 0.0, 0.0);
    expect_score(s.rougeL, 0.5, 2.0 / 3, 4.0 / 7);
}

TEST(Rouge, OrderMattersOnlyForBigramsAndLcs) {
    // generated: c b a      reference: a b c
    // unigrams all match: 1; bigrams cb, ba against ab, bc: none; LCS of a reversal = 1 -> 1/3
    const RougeScores s = rouge("c b a", "a b c");
    expect_score(s.rouge1, 1, 1, 1);
    expect_score(s.rouge2, 0, 0, 0);
    expect_score(s.rougeL, 1.0 / 3, 1.0 / 3, 1.0 / 3);
}

TEST(Rouge, EmptyTextsScoreZero) {
    for (const RougeScores& s : {rouge("", "the cat"), rouge("!!!", "the cat"), rouge("the cat", ""), rouge("", "")}) {
        expect_score(s.rouge1, 0, 0, 0);
        expect_score(s.rouge2, 0, 0, 0);
        expect_score(s.rougeL, 0, 0, 0);
    }
    // One word has no bigrams: ROUGE-2 is 0 even for identical texts.
    const RougeScores one = rouge("Amen.", "amen");
    expect_score(one.rouge1, 1, 1, 1);
    expect_score(one.rouge2, 0, 0, 0);
    expect_score(one.rougeL, 1, 1, 1);
}

}  // namespace
}  // namespace turbolm::eval
