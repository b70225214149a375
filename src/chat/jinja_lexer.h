// Splits a template into tokens the way jinja2's lexer does with trim_blocks=True and lstrip_blocks=True:
// newlines normalized to "\n", one trailing newline dropped, `-`/`+` whitespace control, comments
// removed, raw blocks turned into plain text, string literals unescaped like Python's unicode-escape.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace turbolm::jinja {

enum class TokenType : uint8_t {
    kData,        // literal template text
    kVarBegin,    // {{
    kVarEnd,      // }}
    kBlockBegin,  // {%
    kBlockEnd,    // %}
    kName,
    kString,
    kInteger,
    kFloat,
    kOperator,  // text holds the operator: "+", "//", "==", "(", ...
    kEof,
};

struct Token {
    TokenType type = TokenType::kEof;
    std::string text;  // data, name, operator, or the unescaped string literal
    int64_t int_value = 0;
    double float_value = 0;
    int line = 1;
    int column = 1;
};

// Throws RenderError("TemplateSyntaxError") carrying line and column on malformed input.
std::vector<Token> tokenize(std::string_view source);

// "end of print statement", "'foo'", ... as jinja2 describes a token in error messages.
std::string describe_token(const Token& t);

// Raises a syntax error for a position in the template.
[[noreturn]] void syntax_error(int line, int column, const std::string& message);

}  // namespace turbolm::jinja
