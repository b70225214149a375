#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/unicode.h"

namespace turbolm::byte_level {

namespace {

struct Tables {
    std::array<char32_t, 256> to_char{};
    std::array<std::string, 256> to_utf8{};
    std::array<int16_t, 512> from_char{};  // every mapped character is below U+0144

    Tables() {
        from_char.fill(-1);
        // Printable Latin-1 bytes stand for themselves; the others are shifted past U+00FF in order.
        auto printable = [](int b) {
            return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        };
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            char32_t c = printable(b) ? static_cast<char32_t>(b) : next++;
            to_char[b] = c;
            unicode::append_utf8(to_utf8[b], c);
            from_char[c] = static_cast<int16_t>(b);
        }
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

}  // namespace

char32_t byte_to_char(uint8_t b) {
    return tables().to_char[b];
}

std::string_view byte_to_utf8(uint8_t b) {
    return tables().to_utf8[b];
}

std::optional<uint8_t> char_to_byte(char32_t c) {
    if (c >= 512) return std::nullopt;
    int16_t b = tables().from_char[c];
    if (b < 0) return std::nullopt;
    return static_cast<uint8_t>(b);
}

std::string encode(std::string_view bytes) {
    const Tables& t = tables();
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) out.append(t.to_utf8[b]);
    return out;
}

bool decode(std::string_view text, std::string& bytes) {
    bytes.clear();
    for (size_t i = 0; i < text.size();) {
        unicode::Utf8Step st = unicode::utf8_step(text, i);
        if (!st.valid) return false;
        auto b = char_to_byte(st.cp);
        if (!b) return false;
        bytes.push_back(static_cast<char>(*b));
        i += st.length;
    }
    return true;
}

}  // namespace turbolm::byte_level
