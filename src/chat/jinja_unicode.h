// UTF-8 helpers for the template interpreter. Python strings index by code point, so slicing,
// length and character iteration decode to code points first. Bytes that are not valid UTF-8 decode to
// U+DC80..U+DCFF (Python's "surrogateescape") and encode back to the same byte, so no input is lost.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace turbolm::jinja {

std::u32string utf8_decode(std::string_view s);
// The code point starting at byte i and its length in bytes (1 for an invalid byte, decoded as above).
char32_t utf8_decode_one(std::string_view s, size_t i, size_t* len);
std::string utf8_encode(std::u32string_view s);
void utf8_append(std::string& out, char32_t cp);
// Number of code points.
size_t utf8_length(std::string_view s);

// str.isspace() / the regex class \s.
bool is_space(char32_t cp);
// Line boundaries of str.splitlines().
bool is_line_break(char32_t cp);
// str.isalnum()-like word characters (\w): letters, digits, underscore. Exact for ASCII; non-ASCII letters
// are approximated as every code point outside the common punctuation, symbol and space blocks.
bool is_word_char(char32_t cp);
bool is_digit(char32_t cp);
bool is_alpha(char32_t cp);
// str.isprintable(): decides which characters repr() escapes.
bool is_printable(char32_t cp);
// True for characters with case (so that title() and capitalize() know word boundaries).
bool is_cased(char32_t cp);
bool is_upper(char32_t cp);
bool is_lower(char32_t cp);

// Case mapping, including Python's multi-character special cases (ß, ligatures) and titlecase digraphs.
// Covers ASCII, Latin-1, Latin Extended-A and Additional, the regular pairs of Latin Extended-B, Greek
// (without polytonic accents), Cyrillic, Armenian, roman numerals, circled and fullwidth letters; other
// characters are left unchanged.
std::string to_upper(std::string_view s);
std::string to_lower(std::string_view s);
void append_upper(std::u32string& out, char32_t cp);
void append_lower(std::u32string& out, char32_t cp);
// Titlecase, as str.title() and str.capitalize() apply to the first letter of a word.
void append_title(std::u32string& out, char32_t cp);
// Lowercase of s[i], with the final-sigma rule that needs the neighbours.
void append_lower_at(std::u32string& out, const std::u32string& s, size_t i);

// Python's str.strip/lstrip/rstrip. With chars == nullptr, strips whitespace.
std::string strip(std::string_view s, const std::string* chars, bool left, bool right);

}  // namespace turbolm::jinja
