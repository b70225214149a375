// UTF-8 and Unicode helpers shared by the tokenizer stages: decoding with the exact error rules of
// Rust's String::from_utf8_lossy (which HF tokenizers uses), the character classes HF tests with
// Rust's char methods, and the four normalization forms.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace turbolm::unicode {

inline constexpr char32_t kReplacementChar = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// One step of UTF-8 decoding at s[i].
struct Utf8Step {
    char32_t cp;      // the code point when valid
    uint32_t length;  // bytes consumed: the character, or the maximal invalid subpart (>= 1)
    bool valid;
    bool incomplete;  // invalid only because the input ended inside a character that could be valid
};
Utf8Step utf8_step(std::string_view s, size_t i);

// Length of the character starting with leading byte c (1 for bytes that cannot start a character).
inline uint32_t utf8_lead_length(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xF0) return c <= 0xF4 ? 4 : 1;
    if (c >= 0xE0) return 3;
    if (c >= 0xC2) return 2;
    return 1;
}

bool is_valid_utf8(std::string_view s);
// Replaces each maximal invalid subpart with U+FFFD, exactly as Rust's from_utf8_lossy.
std::string to_valid_utf8(std::string_view s);
// Bytes at the end of s that start a character the input ended inside of (0 to 3). The rest of s
// converts with to_valid_utf8 the same way whatever bytes come later.
size_t incomplete_utf8_tail(std::string_view s);

void append_utf8(std::string& out, char32_t cp);
size_t utf8_length(char32_t cp);

// Code points of s (s must be valid UTF-8; invalid bytes come out as U+FFFD).
std::u32string to_utf32(std::string_view s);
std::string to_utf8(std::u32string_view s);

// Rust's char::is_whitespace (the White_Space property).
bool is_whitespace(char32_t c);
// The regex class \w as Rust's regex crate has it (Alphabetic, M, Nd, Pc, Join_Control).
bool is_word_char(char32_t c);

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };
// Unicode normalization; returns false (leaving out untouched) when s is already in that form.
bool normalize(NormalForm form, std::string_view s, std::string& out);

}  // namespace turbolm::unicode
