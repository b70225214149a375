// Unicode data for normalization forms, generated into unicode_tables.cpp by
// tools/gen_unicode_tables.py. All tables are sorted by code point (or key) for binary search.
#pragma once

#include <cstddef>
#include <cstdint>

namespace turbolm::unicode_tables {

struct CccRange {
    char32_t first, last;
    uint8_t ccc;  // canonical combining class, nonzero
};
struct Decomposition {
    char32_t cp;
    uint32_t offset, length;  // into the matching *Data array; the full (recursive) decomposition
};
struct Composition {
    uint64_t key;  // first << 21 | second
    char32_t composite;
};
struct CodepointRange {
    char32_t first, last;
};

extern const char* const kUnicodeVersion;
extern const CccRange kCcc[];
extern const size_t kCccSize;
extern const char32_t kCanonicalData[];
extern const Decomposition kCanonical[];  // NFD of each code point that has one (Hangul excluded)
extern const size_t kCanonicalSize;
extern const char32_t kCompatData[];
extern const Decomposition kCompat[];  // NFKD where it differs from NFD
extern const size_t kCompatSize;
extern const Composition kCompositions[];  // primary composites (exclusions left out)
extern const size_t kCompositionsSize;
// Code points whose presence may make NFC (NFKC) differ from the input; text without any of them
// is already normalized.
extern const CodepointRange kNfcUnstable[];
extern const size_t kNfcUnstableSize;
extern const CodepointRange kNfkcUnstable[];
extern const size_t kNfkcUnstableSize;
// Characters of the regex class \w (Alphabetic, M, Nd, Pc, Join_Control) as Rust's regex crate
// defines it; HF uses it for the word boundaries of single_word added tokens.
extern const CodepointRange kWordChar[];
extern const size_t kWordCharSize;

}  // namespace turbolm::unicode_tables
