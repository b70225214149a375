#include "tokenizer/sentencepiece_proto.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace turbolm {

namespace {

// One protobuf message's fields, read in order.
class WireReader {
  public:
    WireReader(std::string_view bytes, const std::string& where, size_t base)
        : bytes_(bytes), where_(where), base_(base) {}

    bool done() const { return pos_ >= bytes_.size(); }

    struct Field {
        uint32_t number;
        uint32_t wire_type;
        uint64_t varint = 0;     // wire type 0
        std::string_view bytes;  // wire types 1, 2, 5
        size_t offset = 0;       // of the payload, in the file
    };

    Field next() {
        Field f;
        uint64_t key = varint("field key");
        f.number = static_cast<uint32_t>(key >> 3);
        f.wire_type = static_cast<uint32_t>(key & 7);
        if (f.number == 0) corrupt("field number 0");
        f.offset = base_ + pos_;
        switch (f.wire_type) {
            case 0:
                f.varint = varint("varint");
                break;
            case 1:
                f.bytes = take(8, "fixed64");
                break;
            case 5:
                f.bytes = take(4, "fixed32");
                break;
            case 2: {
                uint64_t n = varint("length");
                f.offset = base_ + pos_;
                f.bytes = take(n, "length-delimited field");
                break;
            }
            default:
                corrupt(str_cat("unsupported wire type ", f.wire_type, " for field ", f.number));
        }
        return f;
    }

    [[noreturn]] void corrupt(const std::string& what) const {
        fail(StatusCode::kDataLoss, where_, ": malformed SentencePiece model at byte ", base_ + pos_, ": ", what);
    }

  private:
    uint64_t varint(const char* what) {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= bytes_.size()) {
                fail(StatusCode::kDataLoss, where_, ": truncated SentencePiece model: ", what, " runs past byte ",
                     base_ + pos_);
            }
            uint8_t b = static_cast<uint8_t>(bytes_[pos_++]);
            v |= static_cast<uint64_t>(b & 0x7F) << shift;
            if (b < 0x80) return v;
        }
        corrupt(str_cat(what, " is longer than 10 bytes"));
    }
    std::string_view take(uint64_t n, const char* what) {
        if (n > bytes_.size() - pos_) {
            fail(StatusCode::kDataLoss, where_, ": truncated SentencePiece model: ", what, " of ", n, " bytes at byte ",
                 base_ + pos_, " runs past the end (", base_ + bytes_.size(), " bytes)");
        }
        std::string_view s = bytes_.substr(pos_, n);
        pos_ += n;
        return s;
    }

    std::string_view bytes_;
    const std::string& where_;
    size_t base_;
    size_t pos_ = 0;
};

float as_float(const WireReader::Field& f) {
    float v = 0;
    if (f.wire_type == 5) std::memcpy(&v, f.bytes.data(), 4);
    return v;
}

int as_int(const WireReader::Field& f) {
    return static_cast<int>(static_cast<int64_t>(f.varint));
}

void read_piece(std::string_view bytes, size_t base, const std::string& where, SentencePieceModel& m) {
    WireReader r(bytes, where, base);
    SentencePiece p;
    bool has_piece = false;
    while (!r.done()) {
        WireReader::Field f = r.next();
        if (f.number == 1 && f.wire_type == 2) {
            p.piece = std::string(f.bytes);
            has_piece = true;
        } else if (f.number == 2) {
            p.score = as_float(f);
        } else if (f.number == 3 && f.wire_type == 0) {
            int t = as_int(f);
            if (t < 1 || t > 6) r.corrupt(str_cat("piece ", m.pieces.size(), " has unknown type ", t));
            p.type = static_cast<PieceType>(t);
        }
    }
    if (!has_piece) r.corrupt(str_cat("piece ", m.pieces.size(), " has no text"));
    m.pieces.push_back(std::move(p));
}

void read_trainer(std::string_view bytes, size_t base, const std::string& where, SentencePieceModel& m) {
    WireReader r(bytes, where, base);
    while (!r.done()) {
        WireReader::Field f = r.next();
        if (f.wire_type != 0) continue;
        switch (f.number) {
            case 3:
                m.model_type = as_int(f);
                break;
            case 24:
                m.treat_whitespace_as_suffix = f.varint != 0;
                break;
            case 35:
                m.byte_fallback = f.varint != 0;
                break;
            case 40:
                m.unk_id = as_int(f);
                break;
            case 41:
                m.bos_id = as_int(f);
                break;
            case 42:
                m.eos_id = as_int(f);
                break;
            case 43:
                m.pad_id = as_int(f);
                break;
            default:
                break;
        }
    }
}

void read_normalizer(std::string_view bytes, size_t base, const std::string& where, SentencePieceModel& m) {
    WireReader r(bytes, where, base);
    while (!r.done()) {
        WireReader::Field f = r.next();
        switch (f.number) {
            case 1:
                m.normalizer_name = std::string(f.bytes);
                break;
            case 2:
                m.precompiled_charsmap = std::string(f.bytes);
                break;
            case 3:
                m.add_dummy_prefix = f.varint != 0;
                break;
            case 4:
                m.remove_extra_whitespaces = f.varint != 0;
                break;
            case 5:
                m.escape_whitespaces = f.varint != 0;
                break;
            default:
                break;
        }
    }
}

}  // namespace

SentencePieceModel parse_sentencepiece_model(std::string_view bytes, const std::string& where) {
    SentencePieceModel m;
    WireReader r(bytes, where, 0);
    while (!r.done()) {
        WireReader::Field f = r.next();
        if (f.wire_type != 2) continue;
        if (f.number == 1) read_piece(f.bytes, f.offset, where, m);
        if (f.number == 2) read_trainer(f.bytes, f.offset, where, m);
        if (f.number == 3) read_normalizer(f.bytes, f.offset, where, m);
    }
    if (m.pieces.empty()) fail(StatusCode::kDataLoss, where, ": SentencePiece model has no pieces");
    return m;
}

SentencePieceModel read_sentencepiece_model(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail(StatusCode::kNotFound, file.string(), ": cannot open");
    std::ostringstream s;
    s << in.rdbuf();
    return parse_sentencepiece_model(s.str(), file.string());
}

}  // namespace turbolm
