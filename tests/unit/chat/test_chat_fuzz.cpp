// Robustness: random template fragments, mutated real templates and ill-typed conversations may fail,
// but only with turbolm::Error, never with a crash or another exception type.
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "core/error.h"
#include "support/test_paths.h"

namespace {

using Json = nlohmann::ordered_json;

// Parses and renders; returns false (and records a failure) when something other than turbolm::Error escapes.
bool survives(const std::string& source, const Json& context) {
    try {
        const auto tmpl = turbolm::ChatTemplate::parse(source);
        tmpl.render(context);
    } catch (const turbolm::Error&) {
    } catch (const std::exception& e) {
        ADD_FAILURE() << "non-turbolm exception " << e.what() << " for template:\n" << source;
        return false;
    } catch (...) {
        ADD_FAILURE() << "unknown exception for template:\n" << source;
        return false;
    }
    return true;
}

Json sample_context() {
    return Json::parse(R"({
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "héllo {{ x }}"},
                     {"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
                     {"role": "tool", "content": [1, 2.5, null]}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "n": 3, "s": "abc", "d": {"k": [1]}
    })");
}

TEST(ChatTemplateFuzz, RandomFragments) {
    const std::vector<std::string> pieces = {"{{",
                                             "}}",
                                             "{%",
                                             "%}",
                                             "{#",
                                             "#}",
                                             "{%-",
                                             "-%}",
                                             "{{-",
                                             "-}}",
                                             "{%+",
                                             "+%}",
                                             " ",
                                             "\n",
                                             "\t",
                                             "x",
                                             "'s'",
                                             "\"q\\\"\"",
                                             "'\\u00e9\\x",
                                             "1",
                                             "-2",
                                             "3.5",
                                             "1e400",
                                             "9223372036854775807",
                                             "none",
                                             "true",
                                             "messages",
                                             "messages[0]",
                                             "m.role",
                                             "n",
                                             "s",
                                             "d",
                                             "loop",
                                             "loop.index",
                                             "ns",
                                             "ns.c",
                                             "caller",
                                             "varargs",
                                             "(",
                                             ")",
                                             "[",
                                             "]",
                                             "{",
                                             "}",
                                             ",",
                                             ":",
                                             ".",
                                             "|",
                                             "~",
                                             "+",
                                             "-",
                                             "*",
                                             "/",
                                             "//",
                                             "%",
                                             "**",
                                             "==",
                                             "!=",
                                             "<",
                                             ">=",
                                             "=",
                                             "if",
                                             "elif",
                                             "else",
                                             "endif",
                                             "for",
                                             "in",
                                             "endfor",
                                             "set",
                                             "endset",
                                             "macro",
                                             "endmacro",
                                             "call",
                                             "endcall",
                                             "filter",
                                             "endfilter",
                                             "with",
                                             "endwith",
                                             "raw",
                                             "endraw",
                                             "break",
                                             "continue",
                                             "generation",
                                             "endgeneration",
                                             "is",
                                             "not",
                                             "and",
                                             "or",
                                             "defined",
                                             "none",
                                             "string",
                                             "odd",
                                             "divisibleby",
                                             "trim",
                                             "tojson",
                                             "length",
                                             "join",
                                             "map",
                                             "select",
                                             "selectattr",
                                             "attribute=",
                                             "indent",
                                             "round",
                                             "int",
                                             "list",
                                             "dictsort",
                                             "items",
                                             "reverse",
                                             "sort",
                                             "unique",
                                             "batch",
                                             "slice",
                                             "format",
                                             "center",
                                             "replace",
                                             "default",
                                             "first",
                                             "last",
                                             "namespace(c=0)",
                                             "range(3)",
                                             "range(-5)",
                                             "raise_exception",
                                             "strftime_now('%Y')",
                                             "dict(a=1)",
                                             "[::-1]",
                                             "[1:]",
                                             ".split()",
                                             ".strip('x')",
                                             ".format(1)",
                                             "% (1,)",
                                             "'%s%d'",
                                             "é",
                                             "世界",
                                             "\xff\xfe",
                                             "\x00"};
    std::mt19937 rng(12345);
    const Json ctx = sample_context();
    for (int iter = 0; iter < 4000; ++iter) {
        std::string source;
        const int n = 1 + static_cast<int>(rng() % 24);
        for (int k = 0; k < n; ++k) source += pieces[rng() % pieces.size()];
        if (!survives(source, ctx)) return;
    }
}

TEST(ChatTemplateFuzz, StructuredTemplates) {
    // Well-formed shapes with random contents reach the evaluator far more often than raw fragments.
    const std::vector<std::string> exprs = {"messages",
                                            "messages[0].content",
                                            "m.role",
                                            "m.content|trim",
                                            "m.tool_calls",
                                            "n * 2",
                                            "s ~ n",
                                            "d.k|length",
                                            "tools|tojson(indent=2)",
                                            "m.content.split()",
                                            "m.content[::-1]",
                                            "loop.index0 % 2",
                                            "(n, s)",
                                            "{'a': m}",
                                            "m.content is string",
                                            "messages|selectattr('role', 'eq', 'user')|list",
                                            "m.content|default('x', true)",
                                            "ns.c + 1",
                                            "range(n)|join",
                                            "s|upper|replace('A', 'b')",
                                            "m|items|list",
                                            "m.get('role')",
                                            "1 if m else 2",
                                            "messages|map(attribute='role')|unique|list",
                                            "m.content ~ loop.previtem",
                                            "d|dictsort",
                                            "'%s' % m.role"};
    const std::vector<std::string> shapes = {
        "{% set ns = namespace(c=0) %}{% for m in messages %}{{ E }}{% set ns.c = E %}{% endfor %}{{ ns.c }}",
        "{% for m in messages if E %}{{- E -}}{% else %}{{ E }}{% endfor %}",
        "{% macro f(a, b=E) %}{{ a }}{{ b }}{% endmacro %}{% for m in messages %}{{ f(E) }}{% endfor %}",
        "{% for m in messages %}{% if E %}{{ E }}{% elif E %}{% break %}{% else %}{% continue %}{% endif %}{% endfor "
        "%}",
        "{% set m = messages[0] %}{% filter trim %}{{ E }}{% endfilter %}{% set x %}{{ E }}{% endset %}{{ x }}",
        "{% for m in messages %}{% for k in E %}{{ loop.depth }}{{ k }}{% endfor %}{% endfor %}"};
    std::mt19937 rng(777);
    const Json ctx = sample_context();
    for (int iter = 0; iter < 3000; ++iter) {
        std::string source = shapes[rng() % shapes.size()];
        for (size_t at = source.find('E'); at != std::string::npos; at = source.find('E', at)) {
            if (at > 0 && std::isalpha(static_cast<unsigned char>(source[at - 1]))) {
                ++at;
                continue;
            }
            const std::string& e = exprs[rng() % exprs.size()];
            source.replace(at, 1, e);
            at += e.size();
        }
        if (!survives(source, ctx)) return;
    }
}

TEST(ChatTemplateFuzz, MutatedRealTemplatesAndIllTypedConversations) {
    const auto dir = turbolm::test::fixtures_dir() / "chat-templates" / "templates";
    TURBOLM_SKIP_IF_MISSING(dir);
    std::vector<std::string> sources;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::ifstream in(entry.path(), std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        sources.push_back(ss.str());
    }
    ASSERT_FALSE(sources.empty());
    const std::vector<Json> contents = {"text",
                                        nullptr,
                                        42,
                                        1.5,
                                        true,
                                        Json::array({1, "a"}),
                                        Json::parse(R"([{"type": "text", "text": "t"}, {"type": "image"}])"),
                                        Json::parse(R"({"content": {"x": 1}})")};
    const std::vector<Json> roles = {"user", "assistant", "system", "tool", "ipython", nullptr, 7};
    std::mt19937 rng(4242);
    for (int iter = 0; iter < 1500; ++iter) {
        std::string source = sources[rng() % sources.size()];
        const int edits = static_cast<int>(rng() % 4);
        for (int k = 0; k < edits && !source.empty(); ++k) {
            const size_t at = rng() % source.size();
            switch (rng() % 3) {
                case 0:
                    source.erase(at, 1 + rng() % 8);
                    break;
                case 1:
                    source.insert(at, std::string(1, "{}%#-+'\"()[]|.~ \n"[rng() % 18]));
                    break;
                default:
                    source[at] = static_cast<char>(rng() % 256);
            }
        }
        Json messages = Json::array();
        const int n = static_cast<int>(rng() % 6);
        for (int k = 0; k < n; ++k) {
            Json m = Json::object();
            if (rng() % 8) m["role"] = roles[rng() % roles.size()];
            if (rng() % 8) m["content"] = contents[rng() % contents.size()];
            if (rng() % 5 == 0)
                m["tool_calls"] =
                    Json::parse(R"([{"id": "123456789", "function": {"name": "f", "arguments": {"a": [1]}}}])");
            messages.push_back(m);
        }
        Json ctx = sample_context();
        ctx["messages"] = messages;
        ctx["add_generation_prompt"] = static_cast<bool>(rng() % 2);
        if (rng() % 2) ctx["tools"] = nullptr;
        if (rng() % 4 == 0) ctx["date_string"] = 20240726;
        if (!survives(source, ctx)) return;
    }
}

}  // namespace
