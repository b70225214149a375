#include "chat/jinja_unicode.h"

#include "core/utf8.h"

namespace turbolm::jinja {

char32_t utf8_decode_one(std::string_view s, size_t i, size_t* len) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    *len = 1;
    if (b0 < 0x80) return b0;
    size_t n = 0;
    char32_t cp = 0;
    char32_t min_cp = 0;
    if ((b0 & 0xE0) == 0xC0) {
        n = 2, cp = b0 & 0x1F, min_cp = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        n = 3, cp = b0 & 0x0F, min_cp = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        n = 4, cp = b0 & 0x07, min_cp = 0x10000;
    }
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) {
            ok = false;
        } else {
            cp = (cp << 6) | (b & 0x3F);
        }
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid: keep the byte as an escape.
    if (!ok || cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xDC00 + b0;
    *len = n;
    return cp;
}

std::u32string utf8_decode(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        size_t len = 1;
        out.push_back(utf8_decode_one(s, i, &len));
        i += len;
    }
    return out;
}

void utf8_append(std::string& out, char32_t cp) {
    if (cp >= 0xDC80 && cp <= 0xDCFF) {
        out.push_back(static_cast<char>(cp - 0xDC00));  // an escaped invalid byte goes back as it came
    } else {
        append_utf8_code_point(out, cp);
    }
}

std::string utf8_encode(std::u32string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t cp : s) utf8_append(out, cp);
    return out;
}

size_t utf8_length(std::string_view s) {
    bool ascii = true;
    for (char c : s) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            ascii = false;
            break;
        }
    }
    return ascii ? s.size() : utf8_decode(s).size();
}

bool is_space(char32_t cp) {
    if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_line_break(char32_t cp) {
    return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D || cp == 0x1E ||
           cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

bool is_digit(char32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return cp == 0xB2 || cp == 0xB3 || cp == 0xB9 || (cp >= 0x660 && cp <= 0x669) || (cp >= 0x6F0 && cp <= 0x6F9) ||
           (cp >= 0x966 && cp <= 0x96F) || (cp >= 0xFF10 && cp <= 0xFF19);
}

bool is_word_char(char32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    if (cp <= 0xBF) {
        return cp == 0xAA || cp == 0xB2 || cp == 0xB3 || cp == 0xB5 || cp == 0xB9 || cp == 0xBA ||
               (cp >= 0xBC && cp <= 0xBE);
    }
    if (cp == 0xD7 || cp == 0xF7) return false;
    if (is_space(cp)) return false;
    if (cp >= 0x300 && cp <= 0x36F) return false;    // combining marks
    if (cp >= 0x2000 && cp <= 0x206F) return false;  // general punctuation
    if (cp >= 0x20A0 && cp <= 0x20FF) return false;  // currency, combining marks for symbols
    if (cp >= 0x2190 && cp <= 0x2BFF) return false;  // arrows, math, technical, box drawing, shapes, dingbats
    if (cp >= 0x3000 && cp <= 0x303F) return (cp >= 0x3005 && cp <= 0x3007) || (cp >= 0x3021 && cp <= 0x3029);
    if (cp >= 0xD800 && cp <= 0xF8FF) return false;  // surrogates, private use
    if (cp >= 0xFE00 && cp <= 0xFE0F) return false;  // variation selectors
    if (cp >= 0xFF00 && cp <= 0xFF65) {
        return (cp >= 0xFF10 && cp <= 0xFF19) || (cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A);
    }
    if (cp >= 0x1F000 && cp <= 0x1FAFF) return false;  // emoji and pictographs
    if (cp >= 0xF0000) return false;
    return true;
}

bool is_alpha(char32_t cp) {
    if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    if (cp >= 0x2070 && cp <= 0x209F) return false;  // super- and subscript digits
    if (cp >= 0x2150 && cp <= 0x218F) return false;  // number forms: fractions, roman numerals
    if (cp >= 0x2460 && cp <= 0x24FF && !(cp >= 0x249C && cp <= 0x24E9)) return false;  // enclosed numbers
    if (cp == 0x3007 || (cp >= 0x3021 && cp <= 0x3029)) return false;                   // CJK numerals
    return is_word_char(cp) && !is_digit(cp) && !(cp >= 0xBC && cp <= 0xBE);
}

bool is_printable(char32_t cp) {
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0)) return false;
    if (cp < 0x300) return cp != 0xAD;
    if (is_space(cp)) return false;  // every space but ' ' (handled above) is Zs, Zl or Zp
    if ((cp >= 0x600 && cp <= 0x605) || cp == 0x61C || cp == 0x6DD || cp == 0x70F || cp == 0x8E2 || cp == 0x180E) {
        return false;
    }
    if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F)) {
        return false;
    }
    if (cp >= 0xD800 && cp <= 0xF8FF) return false;  // surrogates, private use
    if ((cp >= 0xFDD0 && cp <= 0xFDEF) || cp == 0xFEFF || (cp >= 0xFFF0 && cp <= 0xFFFB)) return false;
    if ((cp & 0xFFFE) == 0xFFFE) return false;  // noncharacters U+xFFFE, U+xFFFF
    if (cp == 0xE0001 || (cp >= 0xE0020 && cp <= 0xE007F) || cp >= 0xF0000) return false;
    return true;
}

namespace {

// Simple one-to-one case mapping for the blocks listed in the header. Returns cp when there is none.
char32_t upper_simple(char32_t cp) {
    if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
    if (cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) return cp - 32;
    if (cp == 0xFF) return 0x178;
    if (cp == 0xB5) return 0x39C;
    if (cp >= 0x100 && cp <= 0x17F) {
        if ((cp <= 0x12F) || (cp >= 0x132 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) {
            return (cp & 1) ? cp - 1 : cp;
        }
        if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return (cp & 1) ? cp : cp - 1;
        if (cp == 0x131) return 'I';
        if (cp == 0x17F) return 'S';
        return cp;
    }
    if (cp >= 0x1C4 && cp <= 0x1CC) return cp - (cp - 0x1C4) % 3;  // DŽ Dž dž, LJ Lj lj, NJ Nj nj
    if (cp >= 0x1F1 && cp <= 0x1F3) return 0x1F1;
    if (cp >= 0x1CD && cp <= 0x1DC) return (cp & 1) ? cp : cp - 1;
    if ((cp >= 0x1DE && cp <= 0x1EF) || (cp >= 0x1F8 && cp <= 0x21F) || (cp >= 0x222 && cp <= 0x233) ||
        (cp >= 0x246 && cp <= 0x24F) || cp == 0x1F5) {
        return (cp & 1) ? cp - 1 : cp;
    }
    if (cp >= 0x3B1 && cp <= 0x3CB && cp != 0x3C2) return cp - 32;
    if (cp == 0x3C2) return 0x3A3;
    if (cp == 0x3AC) return 0x386;
    if (cp >= 0x3AD && cp <= 0x3AF) return cp - 37;
    if (cp == 0x3CC) return 0x38C;
    if (cp == 0x3CD || cp == 0x3CE) return cp - 63;
    if (cp >= 0x430 && cp <= 0x44F) return cp - 32;
    if (cp >= 0x450 && cp <= 0x45F) return cp - 80;
    if ((cp >= 0x460 && cp <= 0x481) || (cp >= 0x48A && cp <= 0x4BF) || (cp >= 0x4D0 && cp <= 0x52F)) {
        return (cp & 1) ? cp - 1 : cp;
    }
    if (cp >= 0x4C1 && cp <= 0x4CE) return (cp & 1) ? cp : cp - 1;
    if (cp == 0x4CF) return 0x4C0;
    if (cp >= 0x561 && cp <= 0x586) return cp - 48;
    if ((cp >= 0x1E00 && cp <= 0x1E95) || (cp >= 0x1EA0 && cp <= 0x1EFF)) return (cp & 1) ? cp - 1 : cp;
    if (cp >= 0x2170 && cp <= 0x217F) return cp - 16;  // roman numerals
    if (cp >= 0x24D0 && cp <= 0x24E9) return cp - 26;  // circled letters
    if (cp >= 0xFF41 && cp <= 0xFF5A) return cp - 32;
    return cp;
}

char32_t lower_simple(char32_t cp) {
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
    if (cp >= 0x100 && cp <= 0x17F) {
        if ((cp <= 0x12F) || (cp >= 0x132 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) {
            return (cp & 1) ? cp : cp + 1;
        }
        if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return (cp & 1) ? cp + 1 : cp;
        if (cp == 0x178) return 0xFF;
        return cp;
    }
    if (cp >= 0x1C4 && cp <= 0x1CC) return cp + 2 - (cp - 0x1C4) % 3;
    if (cp >= 0x1F1 && cp <= 0x1F3) return 0x1F3;
    if (cp >= 0x1CD && cp <= 0x1DC) return (cp & 1) ? cp + 1 : cp;
    if ((cp >= 0x1DE && cp <= 0x1EF) || (cp >= 0x1F8 && cp <= 0x21F) || (cp >= 0x222 && cp <= 0x233) ||
        (cp >= 0x246 && cp <= 0x24F) || cp == 0x1F4) {
        return (cp & 1) ? cp : cp + 1;
    }
    if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) return cp + 32;
    if (cp == 0x386) return 0x3AC;
    if (cp >= 0x388 && cp <= 0x38A) return cp + 37;
    if (cp == 0x38C) return 0x3CC;
    if (cp == 0x38E || cp == 0x38F) return cp + 63;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
    if ((cp >= 0x460 && cp <= 0x481) || (cp >= 0x48A && cp <= 0x4BF) || (cp >= 0x4D0 && cp <= 0x52F)) {
        return (cp & 1) ? cp : cp + 1;
    }
    if (cp >= 0x4C1 && cp <= 0x4CE) return (cp & 1) ? cp + 1 : cp;
    if (cp == 0x4C0) return 0x4CF;
    if (cp >= 0x531 && cp <= 0x556) return cp + 48;
    if ((cp >= 0x1E00 && cp <= 0x1E95) || (cp >= 0x1EA0 && cp <= 0x1EFF)) return (cp & 1) ? cp : cp + 1;
    if (cp == 0x1E9E) return 0xDF;
    if (cp >= 0x2160 && cp <= 0x216F) return cp + 16;
    if (cp >= 0x24B6 && cp <= 0x24CF) return cp + 26;
    if (cp >= 0xFF21 && cp <= 0xFF3A) return cp + 32;
    return cp;
}

}  // namespace

namespace {

bool is_titlecase_digraph(char32_t cp) {
    return cp == 0x1C5 || cp == 0x1C8 || cp == 0x1CB || cp == 0x1F2;
}

// Characters whose uppercase or titlecase is several characters (Unicode SpecialCasing).
const char32_t* special_upper(char32_t cp, bool title) {
    switch (cp) {
        case 0xDF:
            return title ? U"Ss" : U"SS";
        case 0x149:
            return U"\u02BCN";
        case 0x1F0:
            return U"J\u030C";
        case 0xFB00:
            return title ? U"Ff" : U"FF";
        case 0xFB01:
            return title ? U"Fi" : U"FI";
        case 0xFB02:
            return title ? U"Fl" : U"FL";
        case 0xFB03:
            return title ? U"Ffi" : U"FFI";
        case 0xFB04:
            return title ? U"Ffl" : U"FFL";
        case 0xFB05:
        case 0xFB06:
            return title ? U"St" : U"ST";
        default:
            return nullptr;
    }
}

}  // namespace

bool is_upper(char32_t cp) {
    return (lower_simple(cp) != cp && !is_titlecase_digraph(cp)) || cp == 0x130;
}
bool is_lower(char32_t cp) {
    return (upper_simple(cp) != cp && !is_titlecase_digraph(cp)) || special_upper(cp, false) || cp == 0x138 ||
           cp == 0x3B0 || cp == 0x390;
}
bool is_cased(char32_t cp) {
    return is_upper(cp) || is_lower(cp) || is_titlecase_digraph(cp);
}

void append_upper(std::u32string& out, char32_t cp) {
    if (const char32_t* s = special_upper(cp, false)) {
        out += s;
    } else {
        out.push_back(upper_simple(cp));
    }
}

void append_title(std::u32string& out, char32_t cp) {
    if (const char32_t* s = special_upper(cp, true)) {
        out += s;
    } else if ((cp >= 0x1C4 && cp <= 0x1CC) || (cp >= 0x1F1 && cp <= 0x1F3)) {
        out.push_back(upper_simple(cp) + 1);  // the titlecase form follows the uppercase one
    } else {
        out.push_back(upper_simple(cp));
    }
}

void append_lower_at(std::u32string& out, const std::u32string& s, size_t i) {
    // Greek capital sigma becomes final sigma at the end of a word, as Python's lower() does.
    if (s[i] == 0x3A3 && i > 0 && is_cased(s[i - 1]) && (i + 1 == s.size() || !is_cased(s[i + 1]))) {
        out.push_back(0x3C2);
    } else {
        append_lower(out, s[i]);
    }
}

void append_lower(std::u32string& out, char32_t cp) {
    if (cp == 0x130) {
        out += U"i\u0307";
    } else {
        out.push_back(lower_simple(cp));
    }
}

std::string to_upper(std::string_view s) {
    std::string ascii;
    ascii.reserve(s.size());
    for (char c : s) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            std::u32string out;
            for (char32_t cp : utf8_decode(s)) append_upper(out, cp);
            return utf8_encode(out);
        }
        ascii.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c);
    }
    return ascii;
}

std::string to_lower(std::string_view s) {
    std::string ascii;
    ascii.reserve(s.size());
    for (char c : s) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            const std::u32string in = utf8_decode(s);
            std::u32string out;
            for (size_t i = 0; i < in.size(); ++i) append_lower_at(out, in, i);
            return utf8_encode(out);
        }
        ascii.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
    }
    return ascii;
}

std::string strip(std::string_view s, const std::string* chars, bool left, bool right) {
    // Only the ends are decoded: templates trim every message, so this stays linear in what is removed.
    std::u32string set;
    if (chars) set = utf8_decode(*chars);
    auto strippable = [&](char32_t cp) { return chars ? set.find(cp) != std::u32string::npos : is_space(cp); };
    size_t b = 0;
    size_t e = s.size();
    size_t len = 1;
    if (left) {
        while (b < e && strippable(utf8_decode_one(s, b, &len))) b += len;
    }
    if (right) {
        while (e > b) {
            size_t k = e - 1;
            while (k > b && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80 && e - k < 4) --k;
            char32_t cp = utf8_decode_one(s, k, &len);
            if (k + len != e) {  // not one whole character: the last byte stands alone
                k = e - 1;
                cp = utf8_decode_one(s, k, &len);
            }
            if (!strippable(cp)) break;
            e = k;
        }
    }
    return std::string(s.substr(b, e - b));
}

}  // namespace turbolm::jinja
