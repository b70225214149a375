// Loading failures say what is wrong and where: missing files (kNotFound naming the folder and
// what was looked for), malformed tokenizer.json, truncated GGUF and tokenizer.model (kDataLoss).
#include <fstream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "gguf_writer.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_data.h"

namespace turbolm::test {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / ("turbolm_tok_errors_" + std::to_string(::getpid())) / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

void write(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_prefix(const fs::path& p, size_t n) {
    std::ifstream in(p, std::ios::binary);
    std::string s(n, '\0');
    in.read(s.data(), static_cast<std::streamsize>(n));
    s.resize(static_cast<size_t>(in.gcount()));
    return s;
}

// Runs fn, expecting turbolm::Error with `code` and every string of `mentions` in its message.
template <typename Fn>
void expect_error(Fn fn, StatusCode code, const std::vector<std::string>& mentions) {
    try {
        fn();
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), code) << e.what();
        for (const std::string& m : mentions) EXPECT_NE(std::string(e.what()).find(m), std::string::npos) << e.what();
    }
}

TEST(TokenizerErrors, MissingDirectory) {
    fs::path dir = fresh_dir("gone") / "nowhere";
    expect_error([&] { Tokenizer::load(dir); }, StatusCode::kNotFound, {dir.string()});
}

TEST(TokenizerErrors, DirectoryWithoutTokenizerFiles) {
    fs::path dir = fresh_dir("empty");
    write(dir / "config.json", "{}");
    expect_error([&] { Tokenizer::load(dir); }, StatusCode::kNotFound,
                 {dir.string(), "tokenizer.json", "vocab.json", "tokenizer.model"});
}

TEST(TokenizerErrors, MalformedTokenizerJson) {
    fs::path dir = fresh_dir("bad_json");
    write(dir / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0,");
    expect_error([&] { Tokenizer::load(dir); }, StatusCode::kInvalidArgument,
                 {(dir / "tokenizer.json").string(), "JSON"});

    write(dir / "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}})");
    expect_error([&] { Tokenizer::load(dir); }, StatusCode::kInvalidArgument, {"tokenizer.json", "'c'"});

    write(dir / "tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})");
    expect_error([&] { Tokenizer::load(dir); }, StatusCode::kUnimplemented, {"tokenizer.json", "WordPiece"});

    write(dir / "tokenizer.json", R"({"normalizer": null})");
    expect_error([&] { Tokenizer::load(dir); }, StatusCode::kInvalidArgument, {"tokenizer.json", "model"});
}

TEST(TokenizerErrors, MalformedConfig) {
    fs::path dir = fresh_dir("bad_config");
    write(dir / "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
    write(dir / "tokenizer_config.json", "{ nope");
    expect_error([&] { Tokenizer::load(dir); }, StatusCode::kInvalidArgument, {"tokenizer_config.json"});
}

TEST(TokenizerErrors, TruncatedGguf) {
    fs::path dir = fresh_dir("gguf");
    GgufWriter w;
    w.kv_string("tokenizer.ggml.model", "gpt2");
    w.kv_strings("tokenizer.ggml.tokens", {"a", "b", "ab"});
    w.kv_strings("tokenizer.ggml.merges", {"a b"});
    std::string full = w.bytes();
    write(dir / "ok.gguf", full);
    auto tok = Tokenizer::load_gguf(dir / "ok.gguf");
    EXPECT_EQ(tok->encode("abba", false), (std::vector<int32_t>{2, 1, 0}));
    for (size_t n : {size_t{0}, size_t{3}, size_t{20}, full.size() / 2, full.size() - 1}) {
        write(dir / "cut.gguf", full.substr(0, n));
        expect_error([&] { Tokenizer::load_gguf(dir / "cut.gguf"); }, StatusCode::kDataLoss,
                     {(dir / "cut.gguf").string()});
    }
    GgufWriter no_tokenizer;
    no_tokenizer.kv_string("general.name", "x");
    write(dir / "none.gguf", no_tokenizer.bytes());
    expect_error([&] { Tokenizer::load_gguf(dir / "none.gguf"); }, StatusCode::kNotFound, {"tokenizer.ggml.model"});
}

TEST(TokenizerErrors, TruncatedGgufVocabFile) {
    fs::path src = vocab_tests_dir() / "ggml-vocab-llama-spm.gguf";
    TURBOLM_SKIP_IF_MISSING(src);
    fs::path cut = fresh_dir("gguf_real") / "ggml-vocab-llama-spm.gguf";
    write(cut, read_prefix(src, 300000));
    expect_error([&] { Tokenizer::load_gguf(cut); }, StatusCode::kDataLoss, {cut.string(), "truncated"});
}

TEST(TokenizerErrors, TruncatedSentencePieceModel) {
    fs::path src = assets_dir() / "llama2-tokenizer" / "tokenizer.model";
    TURBOLM_SKIP_IF_MISSING(src);
    fs::path dir = fresh_dir("spm");
    write(dir / "tokenizer.model", read_prefix(src, 250000));
    expect_error([&] { Tokenizer::load(dir); }, StatusCode::kDataLoss,
                 {(dir / "tokenizer.model").string(), "truncated"});
    write(dir / "tokenizer.model", std::string("\x0a\xff\xff\xff\xff\x0f", 6));
    expect_error([&] { Tokenizer::load(dir); }, StatusCode::kDataLoss, {"tokenizer.model"});
}

TEST(TokenizerErrors, TruncatedTiktokenModel) {
    fs::path src = assets_dir() / "llama3-tokenizer" / "tokenizer.model";
    TURBOLM_SKIP_IF_MISSING(src);
    fs::path dir = fresh_dir("tiktoken");
    write(dir / "tokenizer.model", read_prefix(src, 100));  // ends inside a line, before most single bytes
    expect_error([&] { Tokenizer::load(dir); }, StatusCode::kDataLoss, {(dir / "tokenizer.model").string()});
}

}  // namespace
}  // namespace turbolm::test
