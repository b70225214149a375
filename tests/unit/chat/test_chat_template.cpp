// Semantics of the template language: each case's expected string is what jinja2 3.1 renders in the
// environment transformers sets up (trim_blocks, lstrip_blocks, loopcontrols, HF's tojson).
#include <ctime>
#include <string>

#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "core/error.h"

namespace {

struct SemanticCase {
    const char* what;
    const char* source;
    const char* expected;
};

const char* const kContext =
    "{\"s\": \" Hello World \", \"n\": null, \"l\": [3, 1, 2], \"d\": {\"b\": 1, \"a\": [1, 2.5, null, true, \"x\"]}, "
    "\"msgs\": [{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": "
    "\"assistant\", \"content\": \"yo\"}], \"u8\": \"héllo wörld\", \"f\": 1.0, \"i\": 7}";
const SemanticCase kCases[] = {
    {"trim_blocks/lstrip_blocks", "a\n  {% if true %}\n  b\n  {% endif %}\nc", "a\n  b\nc"},
    {"minus strips both sides", "a  {%- if true -%}  b  {%- endif -%}  c", "abc"},
    {"plus keeps whitespace", "  {%+ if true %}x{% endif +%}\ny", "  x\ny"},
    {"variable tags strip too", "x {{- ' y ' -}} z", "x y z"},
    {"lstrip_blocks does not touch print tags", "  {{ 'v' }}\n  {% if true %}w{% endif %}", "  v\nw"},
    {"comments are trimmed like blocks", "a\n  {# comment #}\nb", "a\nb"},
    {"raw", "{% raw %}{{ not evaluated }}{% endraw %}", "{{ not evaluated }}"},
    {"newlines normalized, final one dropped", "line1\r\nline2\r\n", "line1\nline2"},
    {"loop body lines", "{% for x in [1, 2] %}\n  {{ x }}\n{% endfor %}\n", "  1\n  2\n"},
    {"numbers",
     "{{ none }} {{ true }} {{ false }} {{ 1.0 }} {{ 1e16 }} {{ 0.1 + 0.2 }} {{ 10 / 4 }} {{ 7 // 2 }} {{ -7 // 2 }} "
     "{{ -7 % 3 }} {{ 2 ** 10 }}",
     "None True False 1.0 1e+16 0.30000000000000004 2.5 3 -4 2 1024"},
    {"python repr of containers", "{{ [1, 'a', none, {'k': \"it's\"}, (1,), ()] }}",
     "[1, 'a', None, {'k': \"it's\"}, (1,), ()]"},
    {"dict repr", "{{ d }}|{{ d.items() }}|{{ d.keys()|list }}",
     "{'b': 1, 'a': [1, 2.5, None, True, 'x']}|dict_items([('b', 1), ('a', [1, 2.5, None, True, 'x'])])|['b', 'a']"},
    {"string escapes", "{{ 'a\\tb\\n' ~ \"\\u00e9\\x41\" ~ '\\\\' }}", "a\tb\néA\\"},
    {"unicode strings", "{{ u8|upper }} {{ u8|length }} {{ u8[1] }} {{ u8[::-1] }} {{ u8.title() }}",
     "HÉLLO WÖRLD 11 é dlröw olléh Héllo Wörld"},
    {"str methods",
     "{{ s.strip() }}|{{ s.split() }}|{{ s.lstrip().startswith('Hell') }}|{{ 'a,b,,c'.split(',') }}|{{ s.replace('l', "
     "'L', 2) }}",
     "Hello World|['Hello', 'World']|True|['a', 'b', '', 'c']| HeLLo World "},
    {"lists",
     "{{ l|sort }} {{ l|sort(reverse=true) }} {{ l[::-1] }} {{ l[1:] }} {{ l|first }} {{ l|last }} {{ l|sum }} {{ "
     "l|max }}",
     "[1, 2, 3] [3, 2, 1] [2, 1, 3] [1, 2] 3 2 6 3"},
    {"undefined", "{{ x }}|{{ x is defined }}|{{ x|default('dflt') }}|{{ (x or 'or') }}|{{ x|length }}",
     "|False|dflt|or|0"},
    {"select and map",
     "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }}|{{ "
     "msgs|map(attribute='role')|list }}",
     "hi|['system', 'user', 'assistant']"},
    {"generators are truthy", "{% if msgs|selectattr('role', 'eq', 'nobody') %}generator is truthy{% endif %}",
     "generator is truthy"},
    {"tojson",
     "{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ 'é<>&'|tojson }}|{{ d|tojson(sort_keys=true, separators=(',', ':')) "
     "}}",
     "{\"b\": 1, \"a\": [1, 2.5, null, true, \"x\"]}|{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2.5,\n    null,\n    "
     "true,\n    \"x\"\n  ]\n}|\"é<>&\"|{\"a\":[1,2.5,null,true,\"x\"],\"b\":1}"},
    {"conditional expressions", "{{ 'x' if false }}|{{ 1 if n is none else 2 }}|{{ n is none and 'both' }}", "|1|both"},
    {"tests",
     "{{ 3 is odd }} {{ 4 is divisibleby 2 }} {{ 'a' is string }} {{ d is mapping }} {{ l is iterable }} {{ 1 is "
     "number }} {{ true is boolean }}",
     "True True True True True True True"},
    {"operators", "{{ 'abc' in 'xabcx' }} {{ 'k' not in d }} {{ 2 in l }} {{ 1 < 2 < 3 }} {{ 'a' ~ 1 ~ none }}",
     "True True True True a1None"},
    {"formatting", "{{ '%s has %d' % ('x', 3) }} {{ '{}-{:>4}'.format('a', 'b') }} {{ '%.2f'|format(2.345) }}",
     "x has 3 a-   b 2.35"},
    {"numeric filters",
     "{{ 2.5|round }} {{ 2.675|round(2) }} {{ 3.7|int }} {{ '42'|int + 1 }} {{ 'x'|float }} {{ -3|abs }}",
     "2.0 2.67 3 43 0.0 3"},
    {"string filters",
     "{{ 'hello world'|title }} {{ 'hELLO'|capitalize }} {{ ' pad '|center(9) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'one "
     "two  three'|wordcount }}",
     "Hello World Hello    pad   |  a\n  b|3"},
    {"dict and batch filters",
     "{{ {'b': 1, 'A': 2}|dictsort }} {{ ['b', 'A', 'a']|unique|list }} {{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ "
     "d|items|list }}",
     "[('A', 2), ('b', 1)] ['b', 'A'] [[1, 2], [3, 4], [5]] [('b', 1), ('a', [1, 2.5, None, True, 'x'])]"},
    {"loop filter and else",
     "{% for x in l if x > 1 %}{{ loop.index }}/{{ loop.length }}:{{ x }}{{ ',' if not loop.last }}{% else %}none{% "
     "endfor %}",
     "1/2:3,2/2:2"},
    {"tuple unpacking", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "b=1;a=[1, 2.5, None, True, 'x'];"},
    {"loop attributes",
     "{% for x in 'abc' %}{{ loop.cycle('-', '+') }}{{ loop.revindex0 }}{{ loop.previtem }}{{ loop.nextitem }}{% "
     "endfor %}",
     "-2b+1ac-0b"},
    {"break and continue",
     "{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x "
     "}}{% endfor %}",
     "13"},
    {"namespace",
     "{% set ns = namespace(n=0, found=false) %}{% for m in msgs %}{% set ns.n = ns.n + 1 %}{% if m.role == 'user' "
     "%}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.n }} {{ ns.found }}",
     "3 True"},
    {"loop scope", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", "231"},
    {"set forms", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t %}block {{ a }}{% endset %}{{ t|upper }}", "12BLOCK 1"},
    {"macros",
     "{% macro greet(name, greeting='Hi') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', "
     "greeting='Yo') }}",
     "Hi, Ann! Yo, Bo!"},
    {"call blocks", "{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inner{% endcall %}", "[inner]"},
    {"filter blocks", "{% filter upper %}shout {{ 'this' }}{% endfilter %}", "SHOUT THIS"},
    {"recursive loops",
     "{% for x in [[1, [2, [3]]]] recursive %}{{ x[0] }}{% if x[1] %}<{{ loop(x[1:]) }}>{% endif %}{% endfor %}",
     "1<2<3>>"},
    {"generation tags are transparent", "{% generation %}assistant text{% endgeneration %}", "assistant text"},
    {"with", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}", "3"},
    {"globals",
     "{{ range(3)|list }} {{ range(1, 10, 3)|join(',') }} {{ dict(a=1) }} {{ namespace(a=1).a }} {{ range(3) }}",
     "[0, 1, 2] 1,4,7 {'a': 1} 1 range(0, 3)"},
    {"a name assigned later in the frame hides the context value",
     "{% for j in [1] %}[{{ i }}]{% endfor %}{% set i = 5 %}{{ i }}", "[]5"},
    {"reads before assignment see the context",
     "{{ i }}{% set i = i + 1 %}{{ i }}{% if true %}{% set k = 1 %}{% endif %}{{ k }}", "781"},
    {"for-else runs when no iteration completed", "{% for x in [1, 2] %}{% break %}{% else %}else ran{% endfor %}",
     "else ran"},
    {"filtered loops yield tuples", "{% for k, v in d.items() if v %}{{ loop.nextitem }}{% endfor %}",
     "('a', [1, 2.5, None, True, 'x'])"},
    {"python corner cases", "{{ nope is callable }} {{ loop is defined }} {{ 'a' % [1] }} {{ '%s' % (1,) }}",
     "True False a 1"},
};

std::string render(const std::string& source, const nlohmann::ordered_json& context) {
    return turbolm::ChatTemplate::parse(source).render(context);
}

TEST(ChatTemplateSemantics, MatchesJinja2) {
    const auto context = nlohmann::ordered_json::parse(kContext);
    for (const SemanticCase& c : kCases) {
        SCOPED_TRACE(c.what);
        SCOPED_TRACE(c.source);
        try {
            EXPECT_EQ(render(c.source, context), c.expected);
        } catch (const turbolm::Error& e) {
            ADD_FAILURE() << "threw: " << e.what();
        }
    }
}

TEST(ChatTemplateSemantics, KeyOrderFollowsOrderedJson) {
    const auto ordered = nlohmann::ordered_json::parse(R"({"d": {"z": 1, "a": 2}})");
    EXPECT_EQ(render("{{ d|tojson }}", ordered), R"({"z": 1, "a": 2})");
    // nlohmann::json keeps objects sorted, so the same data prints sorted.
    const auto sorted = nlohmann::json::parse(R"({"d": {"z": 1, "a": 2}})");
    EXPECT_EQ(turbolm::ChatTemplate::parse("{{ d|tojson }}").render(sorted), R"({"a": 2, "z": 1})");
}

TEST(ChatTemplateSemantics, ApplyChatTemplatePassesStandardVariables) {
    auto tmpl = turbolm::ChatTemplate::parse(
        "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
        "{{ tools is none }}{{ documents is none }}{% if add_generation_prompt %}<gen>{% endif %}{{ eos_token }}"
        "{{ extra_flag | default('') }}{{ bos_token is defined }}");
    const auto messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
    EXPECT_EQ(turbolm::apply_chat_template(tmpl, messages, true, "<s>", "</s>"), "<s>[user:hi]TrueTrue<gen></s>True");
    EXPECT_EQ(turbolm::apply_chat_template(tmpl, messages, false, "", "",
                                           nlohmann::ordered_json{{"extra_flag", "X"}, {"tools", {1}}}),
              "[user:hi]FalseTrueXFalse");
}

TEST(ChatTemplateSemantics, StrftimeNowUsesLocalTime) {
    char buf[64];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    std::strftime(buf, sizeof(buf), "%Y", &tm);
    EXPECT_EQ(render("{{ strftime_now('%Y') }}", nlohmann::ordered_json::object()), buf);
}

TEST(ChatTemplateSemantics, ParsedTemplateIsReusableAndCopyable) {
    auto tmpl = turbolm::ChatTemplate::parse("{% set n = namespace(c=0) %}{% set n.c = n.c + x %}{{ n.c }}");
    turbolm::ChatTemplate copy = tmpl;
    EXPECT_EQ(tmpl.render(nlohmann::ordered_json{{"x", 1}}), "1");
    EXPECT_EQ(copy.render(nlohmann::ordered_json{{"x", 2}}), "2");  // no state leaks between renders
    EXPECT_EQ(copy.source(), tmpl.source());
}

}  // namespace
