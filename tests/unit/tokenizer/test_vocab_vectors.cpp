// Every tokenizer must reproduce, id for id, what HF produced for llama.cpp's tokenizer test inputs
// (add_special_tokens=False), whether it is read from the HF-side files or from a GGUF.
#include <gtest/gtest.h>

#include "support/test_paths.h"
#include "tokenizer_test_data.h"

namespace turbolm::test {
namespace {

std::string ids_str(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += " " + std::to_string(id);
    return s;
}

class VocabVectors : public ::testing::TestWithParam<TokenizerSource> {};

TEST_P(VocabVectors, EncodeMatchesHf) {
    const TokenizerSource& src = GetParam();
    TURBOLM_SKIP_IF_MISSING(src.path);
    TURBOLM_SKIP_IF_MISSING(vocab_tests_dir() / ("ggml-vocab-" + src.vector_set + ".gguf.out"));
    auto tok = src.load();
    int failures = 0;
    for (const VocabCase& c : read_vocab_cases(src.vector_set)) {
        std::vector<int32_t> got = tok->encode(c.text, /*add_special_tokens=*/false);
        EXPECT_EQ(got, c.ids) << src.name << " on '" << c.text << "'\n  expected" << ids_str(c.ids) << "\n  got     "
                              << ids_str(got);
        failures += got != c.ids;
    }
    EXPECT_EQ(failures, 0);
}

std::string param_name(const ::testing::TestParamInfo<TokenizerSource>& info) {
    std::string s;
    for (char c : info.param.name) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return s;
}

std::vector<TokenizerSource> with_vectors() {
    std::vector<TokenizerSource> out;
    for (auto& s : all_tokenizer_sources()) {
        if (!s.vector_set.empty()) out.push_back(s);
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(Hf, VocabVectors, ::testing::ValuesIn(with_vectors()), param_name);

}  // namespace
}  // namespace turbolm::test
