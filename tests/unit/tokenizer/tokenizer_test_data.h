// Shared by the tokenizer tests: llama.cpp's tokenizer test vectors (inputs and the ids HF gives
// for them) and the tokenizers the vectors belong to, all read from the shared assets folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace turbolm::test {

struct VocabCase {
    std::string text;
    std::vector<int32_t> ids;
};

std::filesystem::path assets_dir();
std::filesystem::path vocab_tests_dir();

// Reads ggml-vocab-<name>.gguf.inp / .out; fails the current test when they do not pair up.
std::vector<VocabCase> read_vocab_cases(const std::string& name);
// Just the inputs.
std::vector<std::string> read_vocab_inputs(const std::string& name);

// One tokenizer the tests run: a name for messages, the file or folder it needs, and how to load it.
struct TokenizerSource {
    std::string name;        // e.g. "gpt-2 (encoder.json + vocab.bpe)"
    std::string vector_set;  // llama.cpp vector set it must reproduce
    std::filesystem::path path;
    std::function<std::unique_ptr<Tokenizer>()> load;
};
std::vector<TokenizerSource> all_tokenizer_sources();
inline void PrintTo(const TokenizerSource& s, std::ostream* os) {
    *os << s.name;
}

}  // namespace turbolm::test
