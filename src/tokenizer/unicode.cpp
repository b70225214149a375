#include "tokenizer/unicode.h"

#include "core/utf8.h"

#include <algorithm>

#include "tokenizer/unicode_tables.h"

namespace turbolm::unicode {

namespace tables = unicode_tables;

Utf8Step utf8_step(std::string_view s, size_t i) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    unsigned char c = p[i];
    if (c < 0x80) return {c, 1, true, false};
    uint32_t need = utf8_lead_length(c);
    if (need == 1) return {kReplacementChar, 1, false, false};
    // Second-byte ranges that keep the sequence well-formed (no overlongs, surrogates or > U+10FFFF).
    unsigned char lo = 0x80, hi = 0xBF;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    char32_t cp = need == 2 ? (c & 0x1F) : need == 3 ? (c & 0x0F) : (c & 0x07);
    for (uint32_t k = 1; k < need; ++k) {
        if (i + k >= n) return {kReplacementChar, k, false, true};
        unsigned char b = p[i + k];
        unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (b < l || b > h) return {kReplacementChar, k, false, false};
        cp = (cp << 6) | (b & 0x3F);
    }
    return {cp, need, true, false};
}

bool is_valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        Utf8Step st = utf8_step(s, i);
        if (!st.valid) return false;
        i += st.length;
    }
    return true;
}

std::string to_valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t run = 0;  // start of the pending valid run
    for (size_t i = 0; i < s.size();) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        Utf8Step st = utf8_step(s, i);
        if (st.valid) {
            i += st.length;
            continue;
        }
        out.append(s.substr(run, i - run));
        out.append(kReplacementUtf8);
        i += st.length;
        run = i;
    }
    out.append(s.substr(run));
    return out;
}

size_t incomplete_utf8_tail(std::string_view s) {
    // Only the last 3 bytes can belong to an unfinished character.
    size_t start = s.size() > 3 ? s.size() - 3 : 0;
    for (size_t i = start; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0xC2 || c > 0xF4) continue;  // not a leading byte
        Utf8Step st = utf8_step(s, i);
        if (st.incomplete) return s.size() - i;
    }
    return 0;
}

size_t utf8_length(char32_t cp) {
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

void append_utf8(std::string& out, char32_t cp) { append_utf8_code_point(out, cp); }

std::u32string to_utf32(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        Utf8Step st = utf8_step(s, i);
        out.push_back(st.cp);
        i += st.length;
    }
    return out;
}

std::string to_utf8(std::u32string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s) append_utf8(out, c);
    return out;
}

bool is_whitespace(char32_t c) {
    if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
    if (c < 0x85) return false;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

namespace {

bool in_ranges(const tables::CodepointRange* ranges, size_t n, char32_t c) {
    const tables::CodepointRange* end = ranges + n;
    const tables::CodepointRange* it =
        std::upper_bound(ranges, end, c, [](char32_t v, const tables::CodepointRange& r) { return v < r.first; });
    return it != ranges && c <= (it - 1)->last;
}

uint8_t combining_class(char32_t c) {
    if (c < 0x300) return 0;
    const tables::CccRange* end = tables::kCcc + tables::kCccSize;
    const tables::CccRange* it =
        std::upper_bound(tables::kCcc, end, c, [](char32_t v, const tables::CccRange& r) { return v < r.first; });
    if (it == tables::kCcc || c > (it - 1)->last) return 0;
    return (it - 1)->ccc;
}

const tables::Decomposition* find_decomposition(const tables::Decomposition* table, size_t n, char32_t c) {
    const tables::Decomposition* end = table + n;
    const tables::Decomposition* it =
        std::lower_bound(table, end, c, [](const tables::Decomposition& d, char32_t v) { return d.cp < v; });
    return it != end && it->cp == c ? it : nullptr;
}

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

void decompose(char32_t c, bool compat, std::u32string& out) {
    if (c < 0xC0) {
        if (!compat || c < 0xA0) {
            out.push_back(c);
            return;
        }
    }
    if (c >= kSBase && c < kSBase + kSCount) {
        char32_t s = c - kSBase;
        out.push_back(kLBase + s / kNCount);
        out.push_back(kVBase + (s % kNCount) / kTCount);
        if (s % kTCount) out.push_back(kTBase + s % kTCount);
        return;
    }
    if (compat) {
        if (const auto* d = find_decomposition(tables::kCompat, tables::kCompatSize, c)) {
            out.append(tables::kCompatData + d->offset, d->length);
            return;
        }
    }
    if (const auto* d = find_decomposition(tables::kCanonical, tables::kCanonicalSize, c)) {
        out.append(tables::kCanonicalData + d->offset, d->length);
        return;
    }
    out.push_back(c);
}

// Canonical ordering: a stable sort of each run of non-starters by combining class.
void reorder(std::u32string& s) {
    for (size_t i = 0; i < s.size();) {
        if (combining_class(s[i]) == 0) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < s.size() && combining_class(s[j]) != 0) ++j;
        std::stable_sort(s.begin() + i, s.begin() + j,
                         [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
        i = j;
    }
}

bool compose_pair(char32_t a, char32_t b, char32_t& out) {
    if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
        out = kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
        return true;
    }
    if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount) {
        out = a + (b - kTBase);
        return true;
    }
    uint64_t key = (static_cast<uint64_t>(a) << 21) | b;
    const tables::Composition* end = tables::kCompositions + tables::kCompositionsSize;
    const tables::Composition* it = std::lower_bound(
        tables::kCompositions, end, key, [](const tables::Composition& c, uint64_t k) { return c.key < k; });
    if (it == end || it->key != key) return false;
    out = it->composite;
    return true;
}

void compose(std::u32string& s) {
    std::u32string out;
    out.reserve(s.size());
    ptrdiff_t starter = -1;
    int last_cc = -1;  // class of the last character kept after the starter; -1 when none
    for (char32_t c : s) {
        int cc = combining_class(c);
        if (starter >= 0 && (last_cc == -1 || (last_cc != 0 && last_cc < cc))) {
            char32_t composite;
            if (compose_pair(out[starter], c, composite)) {
                out[starter] = composite;
                continue;
            }
        }
        if (cc == 0) {
            starter = static_cast<ptrdiff_t>(out.size());
            last_cc = -1;
        } else {
            last_cc = cc;
        }
        out.push_back(c);
    }
    s.swap(out);
}

}  // namespace

bool is_word_char(char32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    return in_ranges(tables::kWordChar, tables::kWordCharSize, c);
}

bool normalize(NormalForm form, std::string_view s, std::string& out) {
    const bool compat = form == NormalForm::kNfkc || form == NormalForm::kNfkd;
    const bool composed = form == NormalForm::kNfc || form == NormalForm::kNfkc;
    // Quick check: text made only of stable characters is already normalized. For the decomposed
    // forms every character with a decomposition is unstable too, which the composed-form tables
    // do not cover, so those take the slow path whenever anything outside ASCII appears.
    bool stable = true;
    for (size_t i = 0; i < s.size() && stable;) {
        unsigned char b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            ++i;
            continue;
        }
        Utf8Step st = utf8_step(s, i);
        i += st.length;
        if (!composed) {
            stable = false;
        } else if (st.cp >= 0x300 || compat) {
            stable = compat ? !in_ranges(tables::kNfkcUnstable, tables::kNfkcUnstableSize, st.cp)
                            : !in_ranges(tables::kNfcUnstable, tables::kNfcUnstableSize, st.cp);
        }
    }
    if (stable) return false;
    std::u32string decomposed;
    decomposed.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        Utf8Step st = utf8_step(s, i);
        i += st.length;
        decompose(st.cp, compat, decomposed);
    }
    reorder(decomposed);
    if (composed) compose(decomposed);
    std::string result = to_utf8(decomposed);
    if (result == s) return false;
    out = std::move(result);
    return true;
}

}  // namespace turbolm::unicode
