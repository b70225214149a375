// decode(encode(x)) == x wherever HF gives the text back, and the two Mistral v0.3 files agree.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "support/test_paths.h"
#include "tokenizer_test_data.h"

namespace turbolm::test {
namespace {

// Extra inputs beyond llama.cpp's: special-token strings, byte fallback, decomposed accents.
const std::vector<std::string> kExtraInputs = {
    "<s>Hello</s> world",
    "[INST] What is 2+2? [/INST]",
    "<|endoftext|>x<|endoftext|>",
    "<|begin_of_text|>Hi<|eot_id|>",
    "<|im_start|>user\nhello<|im_end|>\n",
    "tab\there\r\nCRLF",
    "\xF0\x9F\xA6\x99\xF0\x9F\xA6\x99 llamas",
    "\xE2\x80\x8B zero width",
    "caf\xC3\xA9",
    "  leading and trailing  ",
    "it's, isn't; they'll . ! ?",
};

std::vector<std::string> inputs_for(const TokenizerSource& src) {
    std::vector<std::string> inputs = read_vocab_inputs(src.vector_set.empty() ? "gpt-2" : src.vector_set);
    inputs.insert(inputs.end(), kExtraInputs.begin(), kExtraInputs.end());
    return inputs;
}

// Where HF itself does not give the input back, and why:
//  - Mistral v0.3 (Metaspace, prepend_scheme "first") does not prepend "▁" to text that already
//    starts with a space, and its decoder strips the first space: " Hello" decodes as "Hello".
//    Text right after a special token gets no "▁" either, so "[INST] What" keeps its space.
//  - Llama-2 (legacy SentencePiece: "▁" prepended to every piece of text between special tokens)
//    decodes "<s>Hello" as "<s> Hello": the prefix after a special token is not stripped.
bool hf_round_trips(const TokenizerSource& src, const std::string& text) {
    if (src.name.starts_with("mistral") && text.starts_with(' ')) return false;
    if (src.name.starts_with("llama-spm") &&
        (text.find("<s>") != std::string::npos || text.find("</s>") != std::string::npos)) {
        return false;
    }
    return true;
}

class RoundTrip : public ::testing::TestWithParam<TokenizerSource> {};

TEST_P(RoundTrip, DecodeOfEncodeGivesTheTextBack) {
    const TokenizerSource& src = GetParam();
    TURBOLM_SKIP_IF_MISSING(src.path);
    TURBOLM_SKIP_IF_MISSING(vocab_tests_dir());
    auto tok = src.load();
    int checked = 0;
    for (const std::string& text : inputs_for(src)) {
        if (!hf_round_trips(src, text)) continue;
        std::vector<int32_t> ids = tok->encode(text, /*add_special_tokens=*/false);
        EXPECT_EQ(tok->decode(ids), text) << src.name;
        ++checked;
    }
    EXPECT_GT(checked, 40);
}

std::string param_name(const ::testing::TestParamInfo<TokenizerSource>& info) {
    std::string s;
    for (char c : info.param.name) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return s;
}

INSTANTIATE_TEST_SUITE_P(Hf, RoundTrip, ::testing::ValuesIn(all_tokenizer_sources()), param_name);

TEST(Mistral, TokenizerJsonAndTokenizerModelGiveTheSameIds) {
    const auto dir = assets_dir() / "mistral-v0.3-instruct-tokenizer";
    TURBOLM_SKIP_IF_MISSING(dir / "tokenizer.json");
    TURBOLM_SKIP_IF_MISSING(dir / "tokenizer.model");
    TURBOLM_SKIP_IF_MISSING(vocab_tests_dir());
    auto from_json = Tokenizer::load_file(dir / "tokenizer.json");
    auto from_model = Tokenizer::load_file(dir / "tokenizer.model");
    std::vector<std::string> inputs = read_vocab_inputs("llama-spm");
    inputs.insert(inputs.end(), kExtraInputs.begin(), kExtraInputs.end());
    for (const std::string& text : inputs) {
        for (bool special : {false, true}) {
            std::vector<int32_t> a = from_json->encode(text, special), b = from_model->encode(text, special);
            EXPECT_EQ(a, b) << "'" << text << "' add_special_tokens=" << special;
            EXPECT_EQ(from_json->decode(a), from_model->decode(a));
            EXPECT_EQ(from_json->decode(a, true), from_model->decode(a, true));
        }
    }
    EXPECT_EQ(from_json->vocab_size(), from_model->vocab_size());
    EXPECT_EQ(from_json->bos_id(), std::optional<int32_t>(1));
    EXPECT_EQ(from_model->bos_id(), std::optional<int32_t>(1));
    EXPECT_EQ(from_model->eos_id(), std::optional<int32_t>(2));
    EXPECT_EQ(from_model->encode("[INST]", false), std::vector<int32_t>{3});
    EXPECT_TRUE(from_model->is_special(3));
    EXPECT_FALSE(from_json->chat_template().empty());
}

TEST(SpecialTokens, BosEosAndTemplates) {
    TURBOLM_SKIP_IF_MISSING(assets_dir() / "llama3-tokenizer");
    auto llama3 = Tokenizer::load(assets_dir() / "llama3-tokenizer");
    EXPECT_EQ(llama3->bos_id(), std::optional<int32_t>(128000));
    EXPECT_EQ(llama3->eos_id(), std::optional<int32_t>(128001));
    EXPECT_EQ(llama3->bos_token(), "<|begin_of_text|>");
    EXPECT_EQ(llama3->vocab_size(), 128256);
    EXPECT_EQ(llama3->token_to_id("<|eot_id|>"), std::optional<int32_t>(128009));
    // Meta's Llama-3 and HF both add <|begin_of_text|> and nothing else.
    EXPECT_EQ(llama3->encode("Hello world"), (std::vector<int32_t>{128000, 9906, 1917}));
    EXPECT_EQ(llama3->encode("<|start_header_id|>user<|end_header_id|>", false),
              (std::vector<int32_t>{128006, 882, 128007}));
    EXPECT_EQ(llama3->decode(std::vector<int32_t>{128000, 9906, 1917}), "<|begin_of_text|>Hello world");
    EXPECT_EQ(llama3->decode(std::vector<int32_t>{128000, 9906, 1917}, true), "Hello world");
    EXPECT_EQ(llama3->id_to_token(1917), "\xC4\xA0world");  // "Ġworld", as HF spells it

    TURBOLM_SKIP_IF_MISSING(assets_dir() / "qwen2-tokenizer");
    auto qwen2 = Tokenizer::load(assets_dir() / "qwen2-tokenizer");
    EXPECT_FALSE(qwen2->bos_id());
    EXPECT_EQ(qwen2->eos_token(), "<|im_end|>");
    EXPECT_EQ(qwen2->eos_id(), std::optional<int32_t>(151645));
    EXPECT_TRUE(qwen2->chat_template().starts_with("{% set system_message"));
    EXPECT_EQ(qwen2->encode("<|im_start|>user", true), (std::vector<int32_t>{151644, 872}));
}

TEST(SpecialTokens, QwenTiktoken) {
    TURBOLM_SKIP_IF_MISSING(assets_dir() / "qwen-tokenizer");
    auto qwen = Tokenizer::load(assets_dir() / "qwen-tokenizer");
    EXPECT_EQ(qwen->token_to_id("<|endoftext|>"), std::optional<int32_t>(151643));
    EXPECT_EQ(qwen->token_to_id("<|im_start|>"), std::optional<int32_t>(151644));
    EXPECT_EQ(qwen->token_to_id("<|im_end|>"), std::optional<int32_t>(151645));
    EXPECT_EQ(qwen->token_to_id("<|extra_204|>"), std::optional<int32_t>(151850));
    EXPECT_EQ(qwen->vocab_size(), 151851);
    EXPECT_EQ(qwen->eos_id(), std::optional<int32_t>(151643));
    EXPECT_FALSE(qwen->bos_id());
    // Qwen2 kept Qwen's byte-level vocabulary: the same text gives the same ids with either.
    TURBOLM_SKIP_IF_MISSING(assets_dir() / "qwen2-tokenizer");
    auto qwen2 = Tokenizer::load(assets_dir() / "qwen2-tokenizer");
    for (const std::string& text : read_vocab_inputs("qwen2")) {
        EXPECT_EQ(qwen->encode(text, false), qwen2->encode(text, false)) << text;
    }
}

}  // namespace
}  // namespace turbolm::test

namespace turbolm::test {
namespace {

// encode/decode are const and share one word cache pool: concurrent calls give the same ids.
TEST(Concurrency, EncodeFromManyThreads) {
    TURBOLM_SKIP_IF_MISSING(assets_dir() / "gpt2-tokenizer");
    TURBOLM_SKIP_IF_MISSING(vocab_tests_dir());
    auto tok = Tokenizer::load(assets_dir() / "gpt2-tokenizer");
    const std::vector<std::string> inputs = read_vocab_inputs("gpt-2");
    std::vector<std::vector<int32_t>> expected;
    for (const std::string& text : inputs) expected.push_back(tok->encode(text));
    std::vector<std::thread> threads;
    std::atomic<int> mismatches{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < 50; ++round) {
                for (size_t i = 0; i < inputs.size(); ++i) {
                    size_t k = (i + static_cast<size_t>(t) * 7 + static_cast<size_t>(round)) % inputs.size();
                    if (tok->encode(inputs[k]) != expected[k]) ++mismatches;
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace turbolm::test
