#include "tokenizer_test_data.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "support/test_paths.h"

namespace turbolm::test {

namespace fs = std::filesystem;

fs::path assets_dir() {
    return shared_dir() / "assets";
}
fs::path vocab_tests_dir() {
    return assets_dir() / "llamacpp-vocab-tests";
}

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

std::vector<std::string> read_vocab_inputs(const std::string& name) {
    const std::string text = slurp(vocab_tests_dir() / ("ggml-vocab-" + name + ".gguf.inp"));
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> inputs;
    size_t start = 0;
    for (size_t pos = text.find(sep); pos != std::string::npos; pos = text.find(sep, start)) {
        inputs.push_back(text.substr(start, pos - start));
        start = pos + sep.size();
    }
    return inputs;
}

std::vector<VocabCase> read_vocab_cases(const std::string& name) {
    std::vector<std::string> inputs = read_vocab_inputs(name);
    std::istringstream out(slurp(vocab_tests_dir() / ("ggml-vocab-" + name + ".gguf.out")));
    std::vector<VocabCase> cases;
    std::string line;
    for (const std::string& input : inputs) {
        if (!std::getline(out, line)) {
            ADD_FAILURE() << name << ": fewer .out lines than inputs";
            break;
        }
        VocabCase c{input, {}};
        std::istringstream ids(line);
        int32_t id;
        while (ids >> id) c.ids.push_back(id);
        cases.push_back(std::move(c));
    }
    EXPECT_EQ(cases.size(), 46u) << name;
    return cases;
}

std::vector<TokenizerSource> all_tokenizer_sources() {
    const fs::path a = assets_dir();
    const fs::path v = vocab_tests_dir();
    auto dir = [](fs::path p) { return [p] { return Tokenizer::load(p); }; };
    auto file = [](fs::path p) { return [p] { return Tokenizer::load_file(p); }; };
    auto gguf = [](fs::path p) { return [p] { return Tokenizer::load_gguf(p); }; };
    return {
        {"gpt-2 (encoder.json + vocab.bpe)", "gpt-2", a / "gpt2-tokenizer", dir(a / "gpt2-tokenizer")},
        {"gpt-2 (GGUF)", "gpt-2", v / "ggml-vocab-gpt-2.gguf", gguf(v / "ggml-vocab-gpt-2.gguf")},
        {"llama-spm (tokenizer.model)", "llama-spm", a / "llama2-tokenizer", dir(a / "llama2-tokenizer")},
        {"llama-spm (GGUF)", "llama-spm", v / "ggml-vocab-llama-spm.gguf", gguf(v / "ggml-vocab-llama-spm.gguf")},
        {"llama-bpe (Llama-3 tiktoken tokenizer.model)", "llama-bpe", a / "llama3-tokenizer",
         dir(a / "llama3-tokenizer")},
        {"qwen2 (vocab.json + merges.txt)", "qwen2", a / "qwen2-tokenizer", dir(a / "qwen2-tokenizer")},
        {"deepseek-coder (GGUF)", "deepseek-coder", v / "ggml-vocab-deepseek-coder.gguf",
         gguf(v / "ggml-vocab-deepseek-coder.gguf")},
        {"mpt (GGUF)", "mpt", v / "ggml-vocab-mpt.gguf", gguf(v / "ggml-vocab-mpt.gguf")},
        {"refact (GGUF)", "refact", v / "ggml-vocab-refact.gguf", gguf(v / "ggml-vocab-refact.gguf")},
        {"starcoder (GGUF)", "starcoder", v / "ggml-vocab-starcoder.gguf", gguf(v / "ggml-vocab-starcoder.gguf")},
        {"mistral-v0.3 (tokenizer.json)", "", a / "mistral-v0.3-instruct-tokenizer" / "tokenizer.json",
         file(a / "mistral-v0.3-instruct-tokenizer" / "tokenizer.json")},
        {"mistral-v0.3 (tokenizer.model)", "", a / "mistral-v0.3-instruct-tokenizer" / "tokenizer.model",
         file(a / "mistral-v0.3-instruct-tokenizer" / "tokenizer.model")},
        {"qwen (qwen.tiktoken)", "", a / "qwen-tokenizer", dir(a / "qwen-tokenizer")},
    };
}

}  // namespace turbolm::test
