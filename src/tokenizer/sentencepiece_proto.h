// Reader for SentencePiece's tokenizer.model: the protobuf wire format of ModelProto, decoded by
// hand for the fields a tokenizer needs (pieces, trainer and normalizer settings).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace turbolm {

enum class PieceType : int { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct SentencePiece {
    std::string piece;
    float score = 0.0f;
    PieceType type = PieceType::kNormal;
};

struct SentencePieceModel {
    std::vector<SentencePiece> pieces;
    // TrainerSpec
    int model_type = 1;  // 1 unigram, 2 BPE, 3 word, 4 char
    bool byte_fallback = false;
    int unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
    bool treat_whitespace_as_suffix = false;
    // NormalizerSpec
    std::string normalizer_name;
    std::string precompiled_charsmap;
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = true;
    bool escape_whitespaces = true;
};

// Throws kDataLoss naming `where` when the bytes are not a well-formed ModelProto.
SentencePieceModel parse_sentencepiece_model(std::string_view bytes, const std::string& where);
SentencePieceModel read_sentencepiece_model(const std::filesystem::path& file);

}  // namespace turbolm
