// jinja2's built-in tests (`x is defined`, `x is divisibleby 3`, ...).
#include <cmath>

#include "chat/jinja_builtins.h"
#include "chat/jinja_unicode.h"

namespace turbolm::jinja {

namespace {

const Value& one_arg(Args& a, const char* name) {
    if (a.pos.size() + a.kw.size() != 1) {
        raise("TypeError", str_cat(name, "() takes exactly one argument (", a.pos.size() + a.kw.size(), " given)"));
    }
    return a.pos.empty() ? a.kw[0].second : a.pos[0];
}

void no_args(Args& a, const char* name) {
    if (!a.pos.empty() || !a.kw.empty()) raise("TypeError", str_cat(name, "() takes no arguments"));
}

bool t_defined(const Value& v, Args& a) {
    no_args(a, "defined");
    return !v.is_undefined();
}
bool t_undefined(const Value& v, Args& a) {
    no_args(a, "undefined");
    return v.is_undefined();
}
bool t_none(const Value& v, Args& a) {
    no_args(a, "none");
    return v.is_none();
}
bool t_boolean(const Value& v, Args& a) {
    no_args(a, "boolean");
    return v.is_bool();
}
bool t_true(const Value& v, Args& a) {
    no_args(a, "true");
    return v.is_bool() && v.as_bool();
}
bool t_false(const Value& v, Args& a) {
    no_args(a, "false");
    return v.is_bool() && !v.as_bool();
}
bool t_integer(const Value& v, Args& a) {
    no_args(a, "integer");
    return v.is_int();
}
bool t_float(const Value& v, Args& a) {
    no_args(a, "float");
    return v.is_float();
}
bool t_number(const Value& v, Args& a) {
    no_args(a, "number");
    return v.is_number();
}
bool t_string(const Value& v, Args& a) {
    no_args(a, "string");
    return v.is_string();
}
bool t_mapping(const Value& v, Args& a) {
    no_args(a, "mapping");
    return v.is_dict();
}
bool t_iterable(const Value& v, Args& a) {
    no_args(a, "iterable");
    return v.is_string() || v.is_list() || v.is_dict() || v.is_iterator() || v.is_undefined() || v.is_loop();
}
bool t_sequence(const Value& v, Args& a) {
    no_args(a, "sequence");
    // len() and __getitem__: dict views have a length but no indexing.
    return v.is_string() || v.is_dict() || v.is_undefined() || is_indexable_seq(v);
}
bool t_callable(const Value& v, Args& a) {
    no_args(a, "callable");
    // Python's callable(): jinja2's Undefined and LoopContext define __call__ (to fail or to recurse).
    return v.is_callable() || v.is_undefined() || v.is_loop();
}
bool t_escaped(const Value& v, Args& a) {
    no_args(a, "escaped");
    return false;
}

int64_t int_for_mod(const Value& v) {
    if (v.is_undefined()) raise_undefined(v);
    if (!v.is_number())
        raise("TypeError", str_cat("unsupported operand type(s) for %: '", type_name(v), "' and 'int'"));
    return v.is_float() ? 0 : v.as_int();
}

bool t_odd(const Value& v, Args& a) {
    no_args(a, "odd");
    if (v.is_float()) return std::fmod(std::fabs(v.as_double()), 2.0) == 1.0;
    return (int_for_mod(v) % 2 + 2) % 2 == 1;
}
bool t_even(const Value& v, Args& a) {
    no_args(a, "even");
    if (v.is_float()) return std::fmod(std::fabs(v.as_double()), 2.0) == 0.0;
    return int_for_mod(v) % 2 == 0;
}
bool t_divisibleby(const Value& v, Args& a) {
    const Value& num = one_arg(a, "divisibleby");
    const Value r = binary_op("%", v, num);
    return r.is_number() && r.as_double() == 0.0;
}
bool t_in(const Value& v, Args& a) {
    return contains(one_arg(a, "in"), v);
}
bool t_eq(const Value& v, Args& a) {
    return equals(v, one_arg(a, "eq"));
}
bool t_ne(const Value& v, Args& a) {
    return !equals(v, one_arg(a, "ne"));
}
bool t_lt(const Value& v, Args& a) {
    return compare(v, one_arg(a, "lt"), "<");
}
bool t_le(const Value& v, Args& a) {
    return compare(v, one_arg(a, "le"), "<=");
}
bool t_gt(const Value& v, Args& a) {
    return compare(v, one_arg(a, "gt"), ">");
}
bool t_ge(const Value& v, Args& a) {
    return compare(v, one_arg(a, "ge"), ">=");
}
bool t_sameas(const Value& v, Args& a) {
    const Value& other = one_arg(a, "sameas");
    if (v.type() != other.type()) return false;
    switch (v.type()) {
        case Value::Type::kNone:
            return true;
        case Value::Type::kBool:
            return v.as_bool() == other.as_bool();
        case Value::Type::kInt:
            // CPython caches small ints, so `1 is 1` holds.
            return v.as_int() == other.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
        default:
            return v.identity() != nullptr && v.identity() == other.identity();
    }
}
bool t_lower(const Value& v, Args& a) {
    no_args(a, "lower");
    Args none;
    return truthy(call_value(*find_method(Value(to_str(v)), "islower"), none));
}
bool t_upper(const Value& v, Args& a) {
    no_args(a, "upper");
    Args none;
    return truthy(call_value(*find_method(Value(to_str(v)), "isupper"), none));
}
bool t_filter(const Value& v, Args& a) {
    no_args(a, "filter");
    return v.is_string() && find_filter(v.str()) != nullptr;
}
bool t_test(const Value& v, Args& a) {
    no_args(a, "test");
    return v.is_string() && find_test(v.str()) != nullptr;
}

struct NamedTest {
    const char* name;
    TestFn fn;
};

const NamedTest kTests[] = {
    {"boolean", t_boolean},
    {"callable", t_callable},
    {"defined", t_defined},
    {"divisibleby", t_divisibleby},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"==", t_eq},
    {"escaped", t_escaped},
    {"even", t_even},
    {"false", t_false},
    {"filter", t_filter},
    {"float", t_float},
    {"ge", t_ge},
    {">=", t_ge},
    {"gt", t_gt},
    {"greaterthan", t_gt},
    {">", t_gt},
    {"in", t_in},
    {"integer", t_integer},
    {"iterable", t_iterable},
    {"le", t_le},
    {"<=", t_le},
    {"lower", t_lower},
    {"lt", t_lt},
    {"lessthan", t_lt},
    {"<", t_lt},
    {"mapping", t_mapping},
    {"ne", t_ne},
    {"!=", t_ne},
    {"none", t_none},
    {"number", t_number},
    {"odd", t_odd},
    {"sameas", t_sameas},
    {"sequence", t_sequence},
    {"string", t_string},
    {"test", t_test},
    {"true", t_true},
    {"undefined", t_undefined},
    {"upper", t_upper},
};

}  // namespace

TestFn find_test(std::string_view name) {
    for (const NamedTest& t : kTests) {
        if (name == t.name) return t.fn;
    }
    return nullptr;
}

}  // namespace turbolm::jinja
