// Tokenizers that give exactly the ids Hugging Face `tokenizers` / transformers give, from whatever
// a model directory ships, and the reverse: decode and streaming detokenization.
//
// Sources, in order of preference when loading a directory:
//   tokenizer.json                      HF fast-tokenizer description (BPE models)
//   vocab.json + merges.txt             GPT-2 style byte-level BPE (also encoder.json + vocab.bpe)
//   tokenizer.model                     SentencePiece BPE protobuf, or tiktoken ranks (told apart by content)
//   *.tiktoken                          tiktoken ranks (Qwen)
// plus tokenizer_config.json / special_tokens_map.json / chat_template.jinja beside them, and GGUF
// tokenizer metadata through load_gguf().
//
// A Tokenizer is immutable after loading; every const method may be called from many threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace turbolm {

struct TokenizerParts;

class Tokenizer {
  public:
    virtual ~Tokenizer();

    // Throws turbolm::Error: kNotFound (no tokenizer file; the message names the directory and what
    // was looked for), kDataLoss / kInvalidArgument (malformed file, naming the file and the
    // problem), kUnimplemented (a valid file using a feature this build does not have).
    static std::unique_ptr<Tokenizer> load(const std::filesystem::path& model_dir);
    static std::unique_ptr<Tokenizer> load_gguf(const std::filesystem::path& gguf_file);
    // Loads one specific file (tokenizer.json, vocab.json, encoder.json, tokenizer.model,
    // *.tiktoken or *.gguf); configuration files are still read from its directory.
    static std::unique_ptr<Tokenizer> load_file(const std::filesystem::path& file);

    explicit Tokenizer(TokenizerParts parts);

    // Text to ids. Special tokens written in the text are recognised, as HF does by default.
    // add_special_tokens adds what HF's post-processor adds (BOS for Llama, nothing for GPT-2).
    // Invalid UTF-8 in text is read as U+FFFD.
    std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
    // Ids to text, as HF's decode (clean_up_tokenization_spaces as configured). Ids outside the
    // vocabulary are skipped.
    std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

    int32_t vocab_size() const;  // model vocabulary and added tokens: one more than the largest id
    std::optional<int32_t> token_to_id(std::string_view token) const;
    std::string id_to_token(int32_t id) const;  // "" for an unknown id
    bool is_special(int32_t id) const;

    std::optional<int32_t> bos_id() const;
    std::optional<int32_t> eos_id() const;
    std::string bos_token() const;
    std::string eos_token() const;
    // Raw Jinja source of the chat template; empty when the model has none.
    const std::string& chat_template() const;
    // What was loaded ("tokenizer.json", "sentencepiece tokenizer.model", ...), for messages.
    const std::string& source() const;

    // Decoding steps used by IncrementalDetokenizer.
    std::optional<std::string> token_for_decode(int32_t id, bool skip_special_tokens) const;
    bool clean_up_tokenization_spaces() const;

    struct Impl;
    const Impl& impl() const { return *impl_; }

  private:
    std::unique_ptr<Impl> impl_;
};

// Streaming detokenization: push ids one at a time; each call returns the text that became final.
// Never returns a broken UTF-8 sequence, and the concatenation of everything returned (flush()
// included) equals decode(all ids) exactly: byte-fallback runs, byte-level partial characters,
// SentencePiece's leading-space rule and clean-up of spaces are all held back until settled.
class IncrementalDetokenizer {
  public:
    explicit IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens = false);
    ~IncrementalDetokenizer();
    IncrementalDetokenizer(IncrementalDetokenizer&&) noexcept;

    std::string push(int32_t id);
    std::string flush();

  private:
    struct State;
    const Tokenizer* tokenizer_;
    bool skip_special_tokens_;
    std::unique_ptr<State> state_;
};

}  // namespace turbolm
