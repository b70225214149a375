// The tokenizer file readers. Each returns TokenizerParts for Tokenizer's constructor and throws
// turbolm::Error naming the file on anything malformed.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include "tokenizer/sentencepiece_proto.h"
#include "tokenizer/tokenizer_config.h"
#include "tokenizer/tokenizer_parts.h"

namespace turbolm {

// HF tokenizer.json.
TokenizerParts load_tokenizer_json(const std::filesystem::path& file);

// GPT-2 style byte-level BPE: vocab.json + merges.txt (or encoder.json + vocab.bpe). The
// tokenizer class in the config picks the pre-tokenizer (GPT-2's, or Qwen2's with NFC).
TokenizerParts load_bpe_files(const std::filesystem::path& vocab_file, const std::filesystem::path& merges_file,
                              const TokenizerConfig& config);

// SentencePiece BPE tokenizer.model (protobuf), read as HF's converted fast tokenizer reads it.
TokenizerParts load_sentencepiece(const std::filesystem::path& file, const TokenizerConfig& config);

// tiktoken ranks ("base64 rank" lines): Llama-3's tokenizer.model or Qwen's qwen.tiktoken.
TokenizerParts load_tiktoken(const std::filesystem::path& file);
// Whether a file looks like tiktoken ranks rather than a SentencePiece protobuf.
bool looks_like_tiktoken(const std::filesystem::path& file);

// Tokenizer metadata of a GGUF file.
TokenizerParts load_gguf_tokenizer(const std::filesystem::path& file);

}  // namespace turbolm

namespace turbolm {

// SentencePiece-style BPE (pieces with scores; merges implied by the scores) as HF's converter
// builds it: control and unknown pieces become special added tokens, user-defined ones plain added
// tokens; legacy mode prepends "▁" to every text segment (a normalizer), non-legacy only to the start
// of the input (Metaspace "first").
struct SpmBuildOptions {
    bool legacy = true;
    bool add_dummy_prefix = true;
    bool byte_fallback = false;
    std::optional<int32_t> unk_id;
};
TokenizerParts sentencepiece_bpe_parts(const std::vector<SentencePiece>& pieces, const SpmBuildOptions& options);

}  // namespace turbolm
