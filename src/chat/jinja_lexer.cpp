#include "chat/jinja_lexer.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "chat/jinja_unicode.h"
#include "chat/jinja_value.h"

namespace turbolm::jinja {

void syntax_error(int line, int column, const std::string& message) {
    raise("TemplateSyntaxError", str_cat("syntax error at line ", line, ", column ", column, ": ", message));
}

std::string describe_token(const Token& t) {
    switch (t.type) {
        case TokenType::kData:
            return "template data";
        case TokenType::kVarBegin:
            return "begin of print statement";
        case TokenType::kVarEnd:
            return "end of print statement";
        case TokenType::kBlockBegin:
            return "begin of statement block";
        case TokenType::kBlockEnd:
            return "end of statement block";
        case TokenType::kEof:
            return "end of template";
        case TokenType::kString:
            return "string";
        case TokenType::kInteger:
            return "integer";
        case TokenType::kFloat:
            return "float";
        default:
            return t.text;
    }
}

namespace {

// Decodes the code point at s[i] (without validation beyond what whitespace tests need).
char32_t cp_at(std::string_view s, size_t i, size_t* len) {
    return utf8_decode_one(s, i, len);
}

// Index just past the whitespace (\s*) that starts at i.
size_t skip_space(std::string_view s, size_t i) {
    while (i < s.size()) {
        size_t len = 1;
        if (!is_space(cp_at(s, i, &len))) break;
        i += len;
    }
    return i;
}

std::string rstrip_space(std::string_view s) {
    size_t end = s.size();
    while (end > 0) {
        // Step back to the start of the previous code point.
        size_t start = end - 1;
        while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && end - start < 4) --start;
        size_t len = 1;
        const char32_t cp = cp_at(s, start, &len);
        if (start + len != end || !is_space(cp)) break;
        end = start;
    }
    return std::string(s.substr(0, end));
}

bool all_space(std::string_view s) {
    if (s.empty()) return false;
    return skip_space(s, 0) == s.size();
}

// Source with newlines normalized and jinja2's keep_trailing_newline=False applied.
std::string normalize_source(std::string_view source) {
    std::string out;
    out.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            out.push_back('\n');
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            out.push_back(source[i]);
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
    return is_name_start(c) || (c >= '0' && c <= '9');
}
bool is_dec(char c) {
    return c >= '0' && c <= '9';
}

// (\d+_)*\d+ starting at i; returns the end or npos.
size_t match_digits(std::string_view s, size_t i) {
    if (i >= s.size() || !is_dec(s[i])) return std::string_view::npos;
    size_t j = i;
    while (j < s.size() && is_dec(s[j])) ++j;
    while (j + 1 < s.size() && s[j] == '_' && is_dec(s[j + 1])) {
        ++j;
        while (j < s.size() && is_dec(s[j])) ++j;
    }
    return j;
}

// jinja2's float_re; returns the end or npos.
size_t match_float(std::string_view s, size_t i) {
    if (i > 0 && s[i - 1] == '.') return std::string_view::npos;
    const size_t int_end = match_digits(s, i);
    if (int_end == std::string_view::npos) return int_end;
    size_t j = int_end;
    size_t frac_end = std::string_view::npos;
    if (j < s.size() && s[j] == '.') frac_end = match_digits(s, j + 1);
    const size_t after_frac = frac_end != std::string_view::npos ? frac_end : j;
    if (after_frac < s.size() && (s[after_frac] == 'e' || s[after_frac] == 'E')) {
        size_t k = after_frac + 1;
        if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
        const size_t exp_end = match_digits(s, k);
        if (exp_end != std::string_view::npos) return exp_end;
    }
    return frac_end;
}

// jinja2's integer_re (binary, octal, hex, decimal with `_` separators); returns the end or npos.
size_t match_integer(std::string_view s, size_t i) {
    auto prefixed = [&](char lo, auto is_digit) -> size_t {
        if (i + 2 > s.size() || s[i] != '0' || (s[i + 1] | 0x20) != lo) return std::string_view::npos;
        size_t j = i + 2;
        size_t end = std::string_view::npos;
        while (true) {
            size_t k = j;
            if (k < s.size() && s[k] == '_') ++k;
            if (k < s.size() && is_digit(s[k])) {
                j = k + 1;
                end = j;
            } else {
                break;
            }
        }
        return end;
    };
    size_t end = prefixed('b', [](char c) { return c == '0' || c == '1'; });
    if (end == std::string_view::npos) end = prefixed('o', [](char c) { return c >= '0' && c <= '7'; });
    if (end == std::string_view::npos) {
        end = prefixed('x', [](char c) { return is_dec(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); });
    }
    if (end != std::string_view::npos) return end;
    if (i >= s.size() || !is_dec(s[i])) return std::string_view::npos;
    const char first = s[i];
    size_t j = i + 1;
    while (true) {
        size_t k = j;
        if (k < s.size() && s[k] == '_') ++k;
        if (k < s.size() && is_dec(s[k]) && (first != '0' || s[k] == '0')) {
            j = k + 1;
        } else {
            break;
        }
    }
    return j;
}

const char* const kOperators[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                  "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};

class Lexer {
  public:
    explicit Lexer(std::string_view source) : src_(normalize_source(source)) {
        line_starts_.push_back(0);
        for (size_t i = 0; i < src_.size(); ++i) {
            if (src_[i] == '\n') line_starts_.push_back(i + 1);
        }
    }

    std::vector<Token> run() {
        while (pos_ < src_.size()) lex_root();
        Token eof;
        eof.type = TokenType::kEof;
        locate(src_.size(), &eof.line, &eof.column);
        tokens_.push_back(std::move(eof));
        return std::move(tokens_);
    }

  private:
    // Line and column (in characters) of a byte offset. Tokens arrive in order, so counting resumes from
    // the previous position when it is on the same line.
    void locate(size_t pos, int* line, int* column) const {
        const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), pos);
        const size_t start = *(it - 1);
        *line = static_cast<int>(it - line_starts_.begin());
        size_t from = start;
        int col = 1;
        if (cache_line_start_ == start && cache_pos_ <= pos) {
            from = cache_pos_;
            col = cache_col_;
        }
        for (size_t i = from; i < pos; ++i) {
            if ((static_cast<unsigned char>(src_[i]) & 0xC0) != 0x80) ++col;
        }
        cache_line_start_ = start;
        cache_pos_ = pos;
        cache_col_ = col;
        *column = col;
    }

    [[noreturn]] void fail_at(size_t pos, const std::string& message) const {
        int line = 0;
        int column = 0;
        locate(pos, &line, &column);
        syntax_error(line, column, message);
    }

    void emit(TokenType type, std::string text, size_t pos) {
        Token t;
        t.type = type;
        t.text = std::move(text);
        locate(pos, &t.line, &t.column);
        tokens_.push_back(std::move(t));
    }

    // Applies `-` stripping or lstrip_blocks to the text before a tag, as jinja2's OptionalLStrip does.
    std::string strip_before(std::string_view text, char sign, bool is_variable) const {
        if (sign == '-') return rstrip_space(text);
        if (sign != '+' && !is_variable) {
            const size_t nl = text.rfind('\n');
            const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
            if ((l_pos > 0 || line_starting_) && all_space(text.substr(l_pos))) {
                return std::string(text.substr(0, l_pos));
            }
        }
        return std::string(text);
    }

    // Consumes a block end at pos_ (`+%}`, `-%}\s*`, `%}\n?`) if there is one.
    bool match_block_end() {
        std::string_view rest = std::string_view(src_).substr(pos_);
        if (rest.starts_with("+%}")) {
            pos_ += 3;
        } else if (rest.starts_with("-%}")) {
            pos_ = skip_space(src_, pos_ + 3);
        } else if (rest.starts_with("%}")) {
            pos_ += 2;
            if (pos_ < src_.size() && src_[pos_] == '\n') ++pos_;  // trim_blocks
        } else {
            return false;
        }
        line_starting_ = src_[pos_ - 1] == '\n';
        return true;
    }

    // `{%(-|+|)\s*raw\s*(-%}\s*|%})` at p; returns the end or npos.
    size_t match_raw_begin(size_t p) const {
        size_t i = p + 2;
        if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
        i = skip_space(src_, i);
        if (std::string_view(src_).substr(i, 3) != "raw") return std::string_view::npos;
        i = skip_space(src_, i + 3);
        std::string_view rest = std::string_view(src_).substr(i);
        if (rest.starts_with("-%}")) return skip_space(src_, i + 3);
        if (rest.starts_with("%}")) return i + 2;
        return std::string_view::npos;
    }

    void lex_root() {
        // The earliest tag opening from pos_.
        size_t i = pos_;
        char kind = 0;
        while (true) {
            i = src_.find('{', i);
            if (i == std::string::npos || i + 1 >= src_.size()) break;
            const char c = src_[i + 1];
            if (c == '{' || c == '%' || c == '#') {
                kind = c;
                break;
            }
            ++i;
        }
        if (kind == 0) {
            emit(TokenType::kData, src_.substr(pos_), pos_);
            pos_ = src_.size();
            return;
        }
        char sign = 0;
        if (i + 2 < src_.size() && (src_[i + 2] == '-' || src_[i + 2] == '+')) sign = src_[i + 2];
        const std::string text = strip_before(std::string_view(src_).substr(pos_, i - pos_), sign, kind == '{');
        if (!text.empty()) emit(TokenType::kData, text, pos_);
        if (kind == '%') {
            const size_t raw_end = match_raw_begin(i);
            if (raw_end != std::string_view::npos) {
                lex_raw(raw_end);
                return;
            }
        }
        pos_ = i + 2 + (sign ? 1 : 0);
        line_starting_ = false;
        if (kind == '#') {
            lex_comment(i);
        } else {
            emit(kind == '{' ? TokenType::kVarBegin : TokenType::kBlockBegin, kind == '{' ? "{{" : "{%", i);
            lex_tag(kind == '{');
        }
    }

    void lex_comment(size_t open) {
        size_t k = pos_;
        while (true) {
            k = src_.find("#}", k);
            if (k == std::string::npos) fail_at(open, "Missing end of comment tag");
            if (k > pos_ && src_[k - 1] == '-') {
                pos_ = skip_space(src_, k + 2);
            } else if (k > pos_ && src_[k - 1] == '+') {
                pos_ = k + 2;
            } else {
                pos_ = k + 2;
                if (pos_ < src_.size() && src_[pos_] == '\n') ++pos_;
            }
            break;
        }
        line_starting_ = src_[pos_ - 1] == '\n';
    }

    void lex_raw(size_t content_start) {
        line_starting_ = src_[content_start - 1] == '\n';
        // Find `{%(-|+|)\s*endraw\s*(+%}|-%}\s*|%}\n?)`.
        size_t k = content_start;
        while (true) {
            k = src_.find("{%", k);
            if (k == std::string::npos) fail_at(content_start, "Missing end of raw directive");
            size_t j = k + 2;
            char sign = 0;
            if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) sign = src_[j++];
            j = skip_space(src_, j);
            if (std::string_view(src_).substr(j, 6) == "endraw") {
                const size_t save = pos_;
                pos_ = skip_space(src_, j + 6);
                const bool line_starting = line_starting_;
                if (match_block_end()) {
                    const bool ends_line = line_starting_;
                    line_starting_ = line_starting;
                    const std::string text =
                        strip_before(std::string_view(src_).substr(content_start, k - content_start), sign, false);
                    if (!text.empty()) emit(TokenType::kData, text, content_start);
                    line_starting_ = ends_line;
                    return;
                }
                pos_ = save;
            }
            k += 2;
        }
    }

    void lex_tag(bool is_variable) {
        std::vector<char> balance;
        while (true) {
            if (pos_ >= src_.size()) return;  // the parser reports the missing end
            std::string_view rest = std::string_view(src_).substr(pos_);
            if (balance.empty()) {
                if (is_variable) {
                    if (rest.starts_with("-}}") || rest.starts_with("}}")) {
                        emit(TokenType::kVarEnd, "}}", pos_);
                        pos_ = rest[0] == '-' ? skip_space(src_, pos_ + 3) : pos_ + 2;
                        line_starting_ = src_[pos_ - 1] == '\n';
                        return;
                    }
                } else {
                    const size_t at = pos_;
                    if (match_block_end()) {
                        emit(TokenType::kBlockEnd, "%}", at);
                        return;
                    }
                }
            }
            const size_t start = pos_;
            size_t len = 1;
            if (is_space(cp_at(src_, pos_, &len))) {
                pos_ = skip_space(src_, pos_);
                line_starting_ = src_[pos_ - 1] == '\n';
                continue;
            }
            line_starting_ = false;
            const char c = src_[pos_];
            size_t end = match_float(src_, pos_);
            if (end != std::string_view::npos) {
                std::string digits;
                for (size_t k = pos_; k < end; ++k) {
                    if (src_[k] != '_') digits.push_back(src_[k]);
                }
                emit(TokenType::kFloat, src_.substr(pos_, end - pos_), start);
                tokens_.back().float_value = std::strtod(digits.c_str(), nullptr);
                pos_ = end;
                continue;
            }
            end = match_integer(src_, pos_);
            if (end != std::string_view::npos) {
                lex_integer(end);
                continue;
            }
            if (is_name_start(c)) {
                end = pos_;
                while (end < src_.size() && is_name_char(src_[end])) ++end;
                emit(TokenType::kName, src_.substr(pos_, end - pos_), start);
                pos_ = end;
                continue;
            }
            if (c == '\'' || c == '"') {
                lex_string(c);
                continue;
            }
            const char* op = nullptr;
            for (const char* candidate : kOperators) {
                if (rest.starts_with(candidate)) {
                    op = candidate;
                    break;
                }
            }
            if (!op) {
                size_t n = 1;
                const char32_t cp = cp_at(src_, pos_, &n);
                std::string ch;
                utf8_append(ch, cp);
                fail_at(pos_, str_cat("unexpected char ", string_repr(ch)));
            }
            const char o = op[0];
            if (op[1] == 0 && (o == '(' || o == '[' || o == '{')) {
                balance.push_back(o == '(' ? ')' : (o == '[' ? ']' : '}'));
            } else if (op[1] == 0 && (o == ')' || o == ']' || o == '}')) {
                if (balance.empty()) fail_at(pos_, str_cat("unexpected '", o, "'"));
                if (balance.back() != o)
                    fail_at(pos_, str_cat("unexpected '", o, "', expected '", balance.back(), "'"));
                balance.pop_back();
            }
            emit(TokenType::kOperator, op, start);
            pos_ += std::char_traits<char>::length(op);
        }
    }

    void lex_integer(size_t end) {
        std::string digits;
        for (size_t k = pos_; k < end; ++k) {
            if (src_[k] != '_') digits.push_back(src_[k]);
        }
        int base = 10;
        size_t skip = 0;
        if (digits.size() > 1 && digits[0] == '0' && std::isalpha(static_cast<unsigned char>(digits[1]))) {
            const char b = static_cast<char>(digits[1] | 0x20);
            base = b == 'x' ? 16 : (b == 'o' ? 8 : 2);
            skip = 2;
        }
        errno = 0;
        const unsigned long long v = std::strtoull(digits.c_str() + skip, nullptr, base);
        if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX)) {
            fail_at(pos_, "integer literal is too large");
        }
        emit(TokenType::kInteger, src_.substr(pos_, end - pos_), pos_);
        tokens_.back().int_value = static_cast<int64_t>(v);
        pos_ = end;
    }

    static int hex_value(char c) {
        if (is_dec(c)) return c - '0';
        const char l = static_cast<char>(c | 0x20);
        return (l >= 'a' && l <= 'f') ? l - 'a' + 10 : -1;
    }

    // A quoted literal, unescaped as Python's unicode-escape codec does.
    void lex_string(char quote) {
        const size_t start = pos_;
        size_t i = pos_ + 1;
        std::u32string out;
        while (true) {
            if (i >= src_.size()) fail_at(start, str_cat("unexpected char ", string_repr(std::string(1, quote))));
            const char c = src_[i];
            if (c == quote) break;
            if (c != '\\') {
                size_t len = 1;
                out.push_back(cp_at(src_, i, &len));
                i += len;
                continue;
            }
            if (i + 1 >= src_.size()) fail_at(start, str_cat("unexpected char ", string_repr(std::string(1, quote))));
            const char e = src_[i + 1];
            i += 2;
            switch (e) {
                case '\n':
                    break;
                case '\\':
                case '\'':
                case '"':
                    out.push_back(static_cast<char32_t>(e));
                    break;
                case 'a':
                    out.push_back(7);
                    break;
                case 'b':
                    out.push_back(8);
                    break;
                case 'f':
                    out.push_back(12);
                    break;
                case 'n':
                    out.push_back('\n');
                    break;
                case 'r':
                    out.push_back('\r');
                    break;
                case 't':
                    out.push_back('\t');
                    break;
                case 'v':
                    out.push_back(11);
                    break;
                case 'x':
                case 'u':
                case 'U': {
                    const int n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
                    char32_t v = 0;
                    for (int k = 0; k < n; ++k) {
                        const int h = i + k < src_.size() ? hex_value(src_[i + k]) : -1;
                        if (h < 0) fail_at(start, str_cat("truncated \\", e, " escape"));
                        v = v * 16 + static_cast<char32_t>(h);
                    }
                    if (v > 0x10FFFF) fail_at(start, "illegal Unicode character");
                    i += n;
                    // Join a \uD8xx\uDCxx surrogate pair into one character.
                    if (!out.empty() && v >= 0xDC00 && v <= 0xDFFF && out.back() >= 0xD800 && out.back() <= 0xDBFF) {
                        out.back() = 0x10000 + ((out.back() - 0xD800) << 10) + (v - 0xDC00);
                    } else {
                        out.push_back(v);
                    }
                    break;
                }
                default:
                    if (e >= '0' && e <= '7') {
                        char32_t v = static_cast<char32_t>(e - '0');
                        for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k, ++i) {
                            v = v * 8 + static_cast<char32_t>(src_[i] - '0');
                        }
                        out.push_back(v);
                    } else if (e == 'N') {
                        fail_at(start, "\\N{...} escapes are not supported");
                    } else {
                        // Python keeps unknown escapes as they are.
                        out.push_back('\\');
                        i -= 1;
                    }
            }
        }
        emit(TokenType::kString, utf8_encode(out), start);
        pos_ = i + 1;
    }

    std::string src_;
    std::vector<size_t> line_starts_;
    std::vector<Token> tokens_;
    size_t pos_ = 0;
    bool line_starting_ = true;
    mutable size_t cache_line_start_ = std::string::npos;
    mutable size_t cache_pos_ = 0;
    mutable int cache_col_ = 1;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
    return Lexer(source).run();
}

}  // namespace turbolm::jinja
