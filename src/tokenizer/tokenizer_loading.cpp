// Tokenizer::load / load_file / load_gguf: find the tokenizer files, pick the reader, add the
// configuration that lives beside them.
#include "core/error.h"
#include "tokenizer/loaders.h"
#include "tokenizer/tokenizer.h"

namespace turbolm {

namespace {

namespace fs = std::filesystem;

bool is_file(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

std::unique_ptr<Tokenizer> finish(TokenizerParts parts, const TokenizerConfig& config, bool take_added_tokens) {
    apply_tokenizer_config(config, take_added_tokens, parts);
    return std::make_unique<Tokenizer>(std::move(parts));
}

std::unique_ptr<Tokenizer> load_model_file(const fs::path& file, const TokenizerConfig& config) {
    if (looks_like_tiktoken(file)) return finish(load_tiktoken(file), config, true);
    return finish(load_sentencepiece(file, config), config, true);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const fs::path& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        if (is_file(dir)) return load_file(dir);
        fail(StatusCode::kNotFound, dir.string(), ": no such model directory");
    }
    const TokenizerConfig config = read_tokenizer_config(dir);
    if (is_file(dir / "tokenizer.json")) return finish(load_tokenizer_json(dir / "tokenizer.json"), config, false);
    for (auto [vocab, merges] : {std::pair{"vocab.json", "merges.txt"}, std::pair{"encoder.json", "vocab.bpe"}}) {
        if (is_file(dir / vocab) && is_file(dir / merges)) {
            return finish(load_bpe_files(dir / vocab, dir / merges, config), config, true);
        }
    }
    if (is_file(dir / "tokenizer.model")) return load_model_file(dir / "tokenizer.model", config);
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
        if (e.is_regular_file() && e.path().extension() == ".tiktoken")
            return finish(load_tiktoken(e.path()), config, true);
    }
    fail(StatusCode::kNotFound, dir.string(),
         ": no tokenizer found (looked for tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe, "
         "tokenizer.model, *.tiktoken)");
}

std::unique_ptr<Tokenizer> Tokenizer::load_file(const fs::path& file) {
    if (!is_file(file)) fail(StatusCode::kNotFound, file.string(), ": no such tokenizer file");
    const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
    const std::string name = file.filename().string();
    const std::string ext = file.extension().string();
    if (ext == ".gguf") return load_gguf(file);
    const TokenizerConfig config = read_tokenizer_config(dir);
    if (ext == ".tiktoken") return finish(load_tiktoken(file), config, true);
    if (name == "vocab.json" || name == "encoder.json") {
        fs::path merges = dir / (name == "vocab.json" ? "merges.txt" : "vocab.bpe");
        if (!is_file(merges))
            fail(StatusCode::kNotFound, file.string(), ": ", merges.filename().string(), " is missing beside it");
        return finish(load_bpe_files(file, merges, config), config, true);
    }
    if (ext == ".model") return load_model_file(file, config);
    return finish(load_tokenizer_json(file), config, false);
}

std::unique_ptr<Tokenizer> Tokenizer::load_gguf(const fs::path& file) {
    return std::make_unique<Tokenizer>(load_gguf_tokenizer(file));
}

}  // namespace turbolm
