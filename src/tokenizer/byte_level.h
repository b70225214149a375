// GPT-2's reversible byte <-> printable-character map: byte-level BPE vocabularies spell every
// byte as one visible character (space is "Ġ", newline "Ċ"), so tokens stay valid strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace turbolm::byte_level {

// The character byte b is spelled with.
char32_t byte_to_char(uint8_t b);
// The UTF-8 of byte_to_char(b).
std::string_view byte_to_utf8(uint8_t b);
// The byte a character spells, or nothing when it is not one of the 256.
std::optional<uint8_t> char_to_byte(char32_t c);

// Spells raw bytes as byte-level characters ("\xc4 " -> "Ä¤Ġ"... ).
std::string encode(std::string_view bytes);
// Reverses encode(); fails (returns false) when a character is not one of the 256.
bool decode(std::string_view text, std::string& bytes);

}  // namespace turbolm::byte_level
