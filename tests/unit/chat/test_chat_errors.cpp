// Errors: syntax errors carry line and column, raise_exception() messages pass through unchanged, runtime
// failures name the line, and hostile templates hit limits instead of exhausting the process.
#include <string>

#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "core/error.h"

namespace {

using turbolm::ChatTemplate;
using Json = nlohmann::ordered_json;

// The message of the turbolm::Error that parse() throws, or "" when it parses.
std::string parse_error(const std::string& source) {
    try {
        ChatTemplate::parse(source);
    } catch (const turbolm::Error& e) {
        EXPECT_EQ(e.code(), turbolm::StatusCode::kInvalidArgument);
        return e.what();
    }
    return "";
}

std::string render_error(const std::string& source, const Json& context = Json::object()) {
    const ChatTemplate tmpl = ChatTemplate::parse(source);
    try {
        tmpl.render(context);
    } catch (const turbolm::Error& e) {
        EXPECT_EQ(e.code(), turbolm::StatusCode::kInvalidArgument);
        return e.what();
    }
    return "";
}

TEST(ChatTemplateErrors, SyntaxErrorsReportLineAndColumn) {
    EXPECT_EQ(parse_error("line one\n{% if x %}\n  {{ 1 + }}\n{% endif %}"),
              "chat template syntax error at line 3, column 10: unexpected 'end of print statement'");
    EXPECT_EQ(parse_error("ok\n  {% frobnicate %}"),
              "chat template syntax error at line 2, column 6: Encountered unknown tag 'frobnicate'.");
    EXPECT_EQ(parse_error("{{ a $ b }}"), "chat template syntax error at line 1, column 6: unexpected char '$'");
    EXPECT_EQ(parse_error("héllo {{ 'unterminated }}"),
              "chat template syntax error at line 1, column 10: unexpected char \"'\"");
    EXPECT_EQ(parse_error("x\n{# never closed"),
              "chat template syntax error at line 2, column 1: Missing end of comment tag");
    EXPECT_NE(parse_error("{% for m in messages %}{{ m }}").find("Jinja was looking for the following tags: 'endfor'"),
              std::string::npos);
    EXPECT_NE(parse_error("{% if x %}{% endfor %}").find("Encountered unknown tag 'endfor'"), std::string::npos);
    EXPECT_NE(parse_error("{% break %}").find("'break' outside of a loop"), std::string::npos);
    EXPECT_NE(parse_error("{% for loop in x %}{% endfor %}").find("special loop variable"), std::string::npos);
    EXPECT_NE(parse_error("{{ (1 }}").find("unexpected '}'"), std::string::npos);
}

TEST(ChatTemplateErrors, UnknownFiltersAndTestsAreClearErrors) {
    EXPECT_EQ(parse_error("{{ messages }}\n{{ messages | frobnicate }}"),
              "chat template syntax error at line 2, column 15: No filter named 'frobnicate'.");
    EXPECT_EQ(parse_error("{% if x is frobnicated %}{% endif %}"),
              "chat template syntax error at line 1, column 12: No test named 'frobnicated'.");
    // Filters named at run time (map, select) fail when they run.
    EXPECT_NE(render_error("{{ [1]|map('frobnicate')|list }}").find("No filter named 'frobnicate'."),
              std::string::npos);
}

TEST(ChatTemplateErrors, RaiseExceptionMessageIsPassedThrough) {
    const std::string source =
        "{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}"
        "{{ raise_exception('Unsupported role: ' ~ m.role) }}{% endif %}{% endfor %}";
    const Json ctx = Json::parse(R"({"messages": [{"role": "user"}, {"role": "critic"}]})");
    EXPECT_EQ(render_error(source, ctx), "Unsupported role: critic");
}

TEST(ChatTemplateErrors, RuntimeErrorsNameTheLine) {
    EXPECT_EQ(render_error("ok\n{{ 'a' + 1 }}"),
              "chat template error at line 2: TypeError: can only concatenate str (not \"int\") to str");
    EXPECT_EQ(render_error("{{ x.y }}"), "chat template error at line 1: UndefinedError: 'x' is undefined");
    EXPECT_EQ(render_error("{{ {}.a.b }}"),
              "chat template error at line 1: UndefinedError: 'dict object' has no attribute 'a'");
    EXPECT_EQ(render_error("{{ [].append(1) }}"),
              "chat template error at line 1: SecurityError: access to attribute 'append' of 'list' object is unsafe.");
    EXPECT_NE(render_error("{{ (messages|selectattr('role'))|length }}").find("has no len()"), std::string::npos);
    EXPECT_NE(render_error("{{ 1 / 0 }}").find("ZeroDivisionError: division by zero"), std::string::npos);
    EXPECT_NE(render_error("{% set a, b = [1] %}").find("not enough values to unpack"), std::string::npos);
    EXPECT_NE(render_error("{% set x = 1 %}{% set x.y = 2 %}").find("non-namespace object"), std::string::npos);
}

TEST(ChatTemplateErrors, HostileTemplatesHitLimits) {
    EXPECT_NE(
        parse_error("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").find("nested too deeply"),
        std::string::npos);
    std::string deep_ifs;
    for (int i = 0; i < 1000; ++i) deep_ifs += "{% if true %}";
    EXPECT_NE(parse_error(deep_ifs).find("nested too deeply"), std::string::npos);
    EXPECT_NE(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("RecursionError"),
              std::string::npos);
    EXPECT_NE(render_error("{{ 'x' * 100000000000 }}").find("MemoryError"), std::string::npos);
    EXPECT_NE(render_error("{{ range(1000000)|list }}").find("Range too big"), std::string::npos);
    EXPECT_NE(render_error("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}")
                  .find("step limit"),
              std::string::npos);
}

}  // namespace
