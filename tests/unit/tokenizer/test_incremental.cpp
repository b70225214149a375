// The incremental detokenizer must give exactly decode()'s text, piece by piece, and never a
// broken UTF-8 sequence: on every test input and on random id sequences (a fresh seed each run).
#include <random>

#include <gtest/gtest.h>

#include "support/test_paths.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/cleanup.h"
#include "tokenizer/unicode.h"
#include "tokenizer_test_data.h"

namespace turbolm::test {
namespace {

// Pushes ids one at a time; checks each piece is valid UTF-8 and returns the concatenation.
std::string stream_decode(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip, std::string* error) {
    IncrementalDetokenizer detok(tok, skip);
    std::string all;
    for (size_t i = 0; i <= ids.size(); ++i) {
        std::string piece = i < ids.size() ? detok.push(ids[i]) : detok.flush();
        if (!unicode::is_valid_utf8(piece) && error->empty()) *error = "invalid UTF-8 after id " + std::to_string(i);
        all += piece;
    }
    return all;
}

std::string ids_str(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += " " + std::to_string(id);
    return s;
}

class Incremental : public ::testing::TestWithParam<TokenizerSource> {};

TEST_P(Incremental, MatchesDecodeOnTestInputs) {
    const TokenizerSource& src = GetParam();
    TURBOLM_SKIP_IF_MISSING(src.path);
    TURBOLM_SKIP_IF_MISSING(vocab_tests_dir());
    auto tok = src.load();
    std::vector<std::string> inputs = read_vocab_inputs("gpt-2");
    inputs.push_back("<s>[INST] hi [/INST]</s><|endoftext|><|begin_of_text|>\xF0\x9F\xA6\x99<|im_end|>");
    for (const std::string& text : inputs) {
        std::vector<int32_t> ids = tok->encode(text, true);
        for (bool skip : {false, true}) {
            std::string error;
            EXPECT_EQ(stream_decode(*tok, ids, skip, &error), tok->decode(ids, skip))
                << src.name << ": '" << text << "'";
            EXPECT_EQ(error, "") << src.name << ": '" << text << "'";
        }
    }
}

// Ids that produce partial characters: the single-byte tokens (byte-level "Ā".."ÿ" spellings or
// SentencePiece "<0xXX>"), which random sequences should hit often.
std::vector<int32_t> byte_token_ids(const Tokenizer& tok) {
    std::vector<int32_t> ids;
    static const char* kHex = "0123456789ABCDEF";
    for (int b = 0x80; b < 0x100; ++b) {
        std::string spm = std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
        if (auto id = tok.token_to_id(spm)) ids.push_back(*id);
    }
    // Byte-level vocabularies spell byte b >= 0x80 as one character (GPT-2's byte alphabet).
    for (int b = 0x80; b < 0x100; ++b) {
        if (auto id = tok.token_to_id(byte_level::byte_to_utf8(static_cast<uint8_t>(b)))) ids.push_back(*id);
    }
    for (const char* s : {"\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\xA6\x99", "\xD0\x96"}) {
        for (int32_t id : tok.encode(s, false)) ids.push_back(id);
    }
    return ids;
}

TEST_P(Incremental, MatchesDecodeOnRandomIds) {
    const TokenizerSource& src = GetParam();
    TURBOLM_SKIP_IF_MISSING(src.path);
    auto tok = src.load();
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const std::vector<int32_t> bytes = byte_token_ids(*tok);
    const int32_t n = tok->vocab_size();
    for (int round = 0; round < 300; ++round) {
        std::vector<int32_t> ids(rng() % 40);
        for (int32_t& id : ids) {
            uint64_t r = rng() % 10;
            if (r < 4 && !bytes.empty()) {
                id = bytes[rng() % bytes.size()];
            } else if (r == 4) {
                id = static_cast<int32_t>(rng() % 300);  // specials, bytes and short tokens live low
            } else if (r == 5) {
                id = n - 1 - static_cast<int32_t>(rng() % 300);  // added tokens live high
            } else if (r == 6 && rng() % 8 == 0) {
                id = rng() % 2 ? -1 : n;  // out of range: skipped by both
            } else {
                id = static_cast<int32_t>(rng() % static_cast<uint64_t>(n));
            }
        }
        for (bool skip : {false, true}) {
            std::string error;
            std::string streamed = stream_decode(*tok, ids, skip, &error);
            ASSERT_EQ(streamed, tok->decode(ids, skip))
                << src.name << " seed " << seed << " round " << round << " skip " << skip << " ids" << ids_str(ids);
            ASSERT_EQ(error, "") << src.name << " seed " << seed << " ids" << ids_str(ids);
        }
    }
}

std::string param_name(const ::testing::TestParamInfo<TokenizerSource>& info) {
    std::string s;
    for (char c : info.param.name) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return s;
}

INSTANTIATE_TEST_SUITE_P(Hf, Incremental, ::testing::ValuesIn(all_tokenizer_sources()), param_name);

// clean_up_tokenization_spaces, streamed in random cuts, equals the batch clean-up.
TEST(Cleanup, StreamEqualsBatch) {
    EXPECT_EQ(clean_up_tokenization("Hello , world ! I do n't know . It 's ok ' ok ' ?"),
              "Hello, world! I don't know. It's ok'ok '?");  // " ?" goes before " ' ", as in transformers
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const std::vector<std::string> parts = {" ", ".",  ",",  "!", "?", "'",    "n",   "t",   "s",
                                            "m", "ve", "re", "a", "b", " n't", " 's", " ' ", "\xC3\xA9"};
    for (int round = 0; round < 2000; ++round) {
        std::string text;
        for (int i = rng() % 30; i > 0; --i) text += parts[rng() % parts.size()];
        CleanupStream stream;
        std::string out;
        for (size_t pos = 0; pos < text.size();) {
            size_t len = 1 + rng() % 4;
            out += stream.push(text.substr(pos, len));
            pos += len;
        }
        out += stream.flush();
        ASSERT_EQ(out, clean_up_tokenization(text)) << "seed " << seed << " text '" << text << "'";
    }
}

}  // namespace
}  // namespace turbolm::test
