// A small tokenizer.json written for these tests (tests/fixtures/tokenizer/toy_tokenizer.json)
// exercises what the real vocabularies do not: added tokens with lstrip / rstrip / single_word /
// normalized, NFC before normalized added tokens, Digits + Metaspace(split), unk fusing, byte
// fallback, a BOS+EOS template. toy_expected.json holds what HF tokenizers gives for each input
// (make_hf_expected.js regenerates it); these tests need no third-party files.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace turbolm::test {
namespace {

TEST(ToyTokenizer, MatchesHfOnEveryCase) {
    const auto dir = fixtures_dir() / "tokenizer";
    auto tok = Tokenizer::load_file(dir / "toy_tokenizer.json");
    std::ifstream in(dir / "toy_expected.json");
    nlohmann::json expected = nlohmann::json::parse(in);
    ASSERT_GT(expected.at("cases").size(), 20u);
    for (const auto& c : expected.at("cases")) {
        const std::string text = c.at("text").get<std::string>();
        const auto ids = c.at("ids").get<std::vector<int32_t>>();
        const auto with_special = c.at("ids_with_special").get<std::vector<int32_t>>();
        EXPECT_EQ(tok->encode(text, false), ids) << "'" << text << "'";
        EXPECT_EQ(tok->encode(text, true), with_special) << "'" << text << "'";
        EXPECT_EQ(tok->decode(with_special, false), c.at("decoded").get<std::string>()) << "'" << text << "'";
        EXPECT_EQ(tok->decode(with_special, true), c.at("decoded_skip_special").get<std::string>())
            << "'" << text << "'";
        for (bool skip : {false, true}) {
            IncrementalDetokenizer detok(*tok, skip);
            std::string streamed;
            for (int32_t id : with_special) streamed += detok.push(id);
            streamed += detok.flush();
            EXPECT_EQ(streamed, tok->decode(with_special, skip)) << "'" << text << "'";
        }
    }
    EXPECT_EQ(tok->bos_id(), std::nullopt);  // no tokenizer_config.json: nothing names a BOS
    EXPECT_TRUE(tok->is_special(1));
    EXPECT_FALSE(tok->is_special(tok->token_to_id("foo").value()));
}

TEST(Unicode, NormalFormsAndLossyDecoding) {
    std::string out;
    EXPECT_FALSE(unicode::normalize(unicode::NormalForm::kNfc, "plain ascii and caf\xC3\xA9", out));
    ASSERT_TRUE(unicode::normalize(unicode::NormalForm::kNfc, "cafe\xCC\x81", out));  // e + U+0301
    EXPECT_EQ(out, "caf\xC3\xA9");
    ASSERT_TRUE(unicode::normalize(unicode::NormalForm::kNfd, "\xC3\xA9", out));
    EXPECT_EQ(out, "e\xCC\x81");
    ASSERT_TRUE(unicode::normalize(unicode::NormalForm::kNfkc, "\xEF\xAC\x81 \xC2\xBD", out));  // U+FB01 ligature, 1/2
    EXPECT_EQ(out,
              "fi 1\xE2\x81\x84"
              "2");
    ASSERT_TRUE(unicode::normalize(unicode::NormalForm::kNfc, "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", out));  // jamo
    EXPECT_EQ(out, "\xEA\xB0\x81");                                                                           // U+AC01
    // Rust's from_utf8_lossy: one U+FFFD per maximal invalid subpart.
    EXPECT_EQ(unicode::to_valid_utf8("a\xF0\x9F\xA6z"), "a\xEF\xBF\xBDz");
    EXPECT_EQ(unicode::to_valid_utf8("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");
    EXPECT_EQ(unicode::to_valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    EXPECT_EQ(unicode::incomplete_utf8_tail("ab\xF0\x9F\xA6"), 3u);
    EXPECT_EQ(unicode::incomplete_utf8_tail("ab\xF0\x9F\xA6\x99"), 0u);
    EXPECT_EQ(unicode::incomplete_utf8_tail("ab\xC3"), 1u);
    EXPECT_EQ(unicode::incomplete_utf8_tail("ab\xFF"), 0u);
}

}  // namespace
}  // namespace turbolm::test
