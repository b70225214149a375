// Normalizers: rewrite text before added tokens (normalized ones) and pre-tokenization, as HF
// tokenizers' normalizers do. Supported: Sequence, NFC, NFD, NFKC, NFKD, Prepend, Replace (string
// or regex), Strip, Lowercase (ASCII letters only; others are refused at load).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace turbolm {

class Normalizer {
  public:
    virtual ~Normalizer() = default;
    // at_start says whether the first character of text comes from offset 0 of the input; HF's
    // Metaspace "first" scheme reads it, and a normalizer that replaces or removes the leading
    // characters can make it false, exactly as HF's alignments do.
    virtual void normalize(std::string& text, bool& at_start) const = 0;
};

// Throws kInvalidArgument (naming `where`) for a malformed spec, kUnimplemented for an unknown type.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& spec, const std::string& where);

}  // namespace turbolm
