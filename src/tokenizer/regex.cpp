#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"

namespace turbolm {

struct Regex::Compiled {
    pcre2_code* code = nullptr;
    bool jit = false;
    ~Compiled() { pcre2_code_free(code); }
};

namespace {

// Match data is sized for the largest pattern seen on this thread and reused across calls.
struct MatchData {
    pcre2_match_data* data = nullptr;
    ~MatchData() { pcre2_match_data_free(data); }
};

pcre2_match_data* thread_match_data(const pcre2_code* code) {
    thread_local MatchData md;
    uint32_t pairs = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &pairs);
    pairs += 1;
    if (!md.data || pcre2_get_ovector_count(md.data) < pairs) {
        pcre2_match_data_free(md.data);
        md.data = pcre2_match_data_create(std::max<uint32_t>(pairs, 16), nullptr);
    }
    return md.data;
}

// Oniguruma's \s (what HF patterns are written for) is Unicode White_Space; PCRE2's also takes
// U+180E, which stopped being a space in Unicode 6.3. Spelling the class out keeps the two equal.
constexpr std::string_view kSpaceClassBody =
    R"(\t-\r\x20\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000})";

std::string onig_compatible(std::string_view pattern) {
    std::string out;
    out.reserve(pattern.size() + 64);
    bool in_class = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
        char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            char n = pattern[i + 1];
            if (n == 's') {
                out += in_class ? std::string(kSpaceClassBody) : "[" + std::string(kSpaceClassBody) + "]";
            } else if (n == 'S' && !in_class) {
                out += "[^" + std::string(kSpaceClassBody) + "]";
            } else {
                out.push_back(c);
                out.push_back(n);
            }
            ++i;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            out.push_back(c);
            // A ']' right after '[' or '[^' is a literal member.
            if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
            if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);
            continue;
        }
        if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
            size_t end = pattern.find(":]", i + 2);
            if (end != std::string_view::npos) {
                out.append(pattern.substr(i, end + 2 - i));
                i = end + 1;
                continue;
            }
        }
        if (in_class && c == ']') in_class = false;
        out.push_back(c);
    }
    return out;
}

}  // namespace

Regex::Regex(std::string pattern) : pattern_(std::move(pattern)), compiled_(std::make_unique<Compiled>()) {
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    const std::string translated = onig_compatible(pattern_);
    compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                    PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &error_offset, nullptr);
    if (!compiled_->code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof(message));
        fail(StatusCode::kInvalidArgument, "regex /", pattern_, "/ does not compile at offset ", error_offset, ": ",
             reinterpret_cast<const char*>(message));
    }
    compiled_->jit = pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
    pcre2_match_data* md = thread_match_data(compiled_->code);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    const size_t n = text.size();
    size_t start = 0;
    while (start <= n) {
        int rc = compiled_->jit ? pcre2_jit_match(compiled_->code, subject, n, start, 0, md, nullptr)
                                : pcre2_match(compiled_->code, subject, n, start, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(rc, message, sizeof(message));
            fail(StatusCode::kInvalidArgument, "regex /", pattern_,
                 "/ failed: ", reinterpret_cast<const char*>(message));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        size_t b = ov[0], e = ov[1];
        if (e > b) {
            out.emplace_back(b, e);
            start = e;
        } else {
            // Empty match: step over one character, as Oniguruma's iterator does.
            if (b >= n) break;
            start = b + 1;
            while (start < n && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
        }
    }
}

std::string regex_escape(std::string_view literal) {
    std::string out;
    for (char c : literal) {
        if (std::string_view("\\^$.|?*+()[]{}-/#").find(c) != std::string_view::npos) out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

}  // namespace turbolm
