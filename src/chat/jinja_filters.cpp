// jinja2's built-in filters, with HF's tojson. Filters that return generators in jinja2 (select, map,
// reverse, items, unique, batch, slice) return one-shot iterators here, so that `|length` on them fails and
// `if` on them is always true, exactly as in Python.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "chat/jinja_builtins.h"
#include "chat/jinja_unicode.h"

namespace turbolm::jinja {

namespace {

std::string soft_str(const Value& v) {
    return to_str(v);
}

// make_attrgetter: "a.b.0" looks up item["a"]["b"][0] with the environment's getitem.
struct AttrGetter {
    std::vector<Value> parts;
    std::optional<Value> dflt;
    bool ignore_case = false;

    Value operator()(Value item) const {
        for (const Value& part : parts) {
            item = get_item(item, part);
            if (dflt && !dflt->is_none() && item.is_undefined()) item = *dflt;
        }
        if (ignore_case && item.is_string()) return Value(to_lower(item.str()));
        return item;
    }
};

AttrGetter make_getter(const std::optional<Value>& attribute, std::optional<Value> dflt = std::nullopt,
                       bool ignore_case = false) {
    AttrGetter g;
    g.dflt = std::move(dflt);
    g.ignore_case = ignore_case;
    if (!attribute || attribute->is_none()) return g;
    if (!attribute->is_string()) {
        g.parts.push_back(*attribute);
        return g;
    }
    const std::string& s = attribute->str();
    size_t start = 0;
    while (true) {
        const size_t dot = s.find('.', start);
        const std::string part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        const bool digits =
            !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
        g.parts.push_back(digits ? Value(static_cast<int64_t>(std::strtoll(part.c_str(), nullptr, 10))) : Value(part));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return g;
}

Value generator(std::vector<Value> items) {
    return Value::iterator(std::move(items), "generator");
}

bool arg_bool(const std::optional<Value>& v, bool dflt) {
    return v ? truthy(*v) : dflt;
}

int64_t arg_int(const std::optional<Value>& v, int64_t dflt, const char* what) {
    if (!v) return dflt;
    if (!v->is_integral()) raise("TypeError", str_cat(what, " must be an integer, not ", type_name(*v)));
    return v->as_int();
}

FilterFn filter_by_name(const Value& name) {
    const std::string n = to_str(name);
    FilterFn f = find_filter(n);
    if (!f) raise("TemplateRuntimeError", str_cat("No filter named '", n, "'."));
    return f;
}

TestFn test_by_name(const Value& name) {
    const std::string n = to_str(name);
    TestFn t = find_test(n);
    if (!t) raise("TemplateRuntimeError", str_cat("No test named '", n, "'."));
    return t;
}

Args rest_args(const Args& a, size_t skip) {
    Args r;
    if (a.pos.size() > skip) r.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(skip), a.pos.end());
    r.kw = a.kw;
    return r;
}

// ---- strings ----

Value f_trim(const Value& v, Args& a) {
    auto p = a.bind("trim", {"chars"});
    std::string chars;
    if (p[0] && !p[0]->is_none()) chars = soft_str(*p[0]);
    return Value(strip(soft_str(v), (p[0] && !p[0]->is_none()) ? &chars : nullptr, true, true));
}

Value f_upper(const Value& v, Args& a) {
    a.bind("upper", {});
    return Value(to_upper(soft_str(v)));
}

Value f_lower(const Value& v, Args& a) {
    a.bind("lower", {});
    return Value(to_lower(soft_str(v)));
}

// jinja2's title: capitalizes each piece between runs of whitespace, '-', '(', '{', '[' and '<'.
Value f_title(const Value& v, Args& a) {
    a.bind("title", {});
    const std::u32string s = utf8_decode(soft_str(v));
    auto is_sep = [](char32_t c) { return is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<'; };
    std::u32string out;
    size_t i = 0;
    while (i < s.size()) {
        const bool sep = is_sep(s[i]);
        size_t j = i;
        while (j < s.size() && is_sep(s[j]) == sep) ++j;
        if (sep) {
            out.append(s, i, j - i);
        } else {
            // item[0].upper() + item[1:].lower(), each on its own string
            append_upper(out, s[i]);
            const std::u32string rest = s.substr(i + 1, j - i - 1);
            for (size_t k = 0; k < rest.size(); ++k) append_lower_at(out, rest, k);
        }
        i = j;
    }
    return Value(utf8_encode(out));
}

Value f_capitalize(const Value& v, Args& a) {
    a.bind("capitalize", {});
    Args none;
    return call_value(*find_method(Value(soft_str(v)), "capitalize"), none);
}

Value f_replace(const Value& v, Args& a) {
    auto p = a.bind("replace", {"old", "new", "count"});
    if (!p[0] || !p[1]) raise("TypeError", "replace() missing required arguments 'old' and 'new'");
    Args m;
    m.pos = {Value(soft_str(*p[0])), Value(soft_str(*p[1]))};
    if (p[2] && !p[2]->is_none()) m.pos.push_back(*p[2]);
    return call_value(*find_method(Value(soft_str(v)), "replace"), m);
}

Value f_string(const Value& v, Args& a) {
    a.bind("string", {});
    return v.is_string() ? v : Value(soft_str(v));
}

std::string html_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&#34;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out.push_back(c);
        }
    }
    return out;
}

Value f_escape(const Value& v, Args& a) {
    a.bind("escape", {});
    return Value(html_escape(soft_str(v)));
}

Value f_safe(const Value& v, Args& a) {
    a.bind("safe", {});
    return v.is_string() ? v : Value(soft_str(v));
}

Value f_indent(const Value& v, Args& a) {
    auto p = a.bind("indent", {"width", "first", "blank"});
    if (v.is_undefined()) raise_undefined(v);
    std::string indention;
    if (p[0] && p[0]->is_string()) {
        indention = p[0]->str();
    } else {
        const int64_t width = arg_int(p[0], 4, "width");
        indention = std::string(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
    }
    if (!v.is_string()) {
        raise("TypeError", str_cat("unsupported operand type(s) for +=: '", type_name(v), "' and 'str'"));
    }
    Args no_args;
    const Value lines_v = call_value(*find_method(Value(v.str() + "\n"), "splitlines"), no_args);
    const std::vector<Value>& lines = lines_v.items();
    std::string rv;
    if (arg_bool(p[2], false)) {
        for (size_t k = 0; k < lines.size(); ++k) {
            if (k) rv += "\n" + indention;
            rv += lines[k].str();
        }
    } else {
        if (!lines.empty()) rv = lines[0].str();
        for (size_t k = 1; k < lines.size(); ++k) {
            rv += "\n";
            if (!lines[k].str().empty()) rv += indention + lines[k].str();
        }
    }
    if (arg_bool(p[1], false)) rv = indention + rv;
    return Value(std::move(rv));
}

Value f_center(const Value& v, Args& a) {
    auto p = a.bind("center", {"width"});
    Args m;
    m.pos.push_back(p[0] ? *p[0] : Value(80));
    return call_value(*find_method(Value(soft_str(v)), "center"), m);
}

Value f_wordcount(const Value& v, Args& a) {
    a.bind("wordcount", {});
    int64_t n = 0;
    bool in_word = false;
    for (char32_t cp : utf8_decode(soft_str(v))) {
        const bool w = is_word_char(cp);
        if (w && !in_word) ++n;
        in_word = w;
    }
    return Value(n);
}

Value f_format(const Value& v, Args& a) {
    if (!a.pos.empty() && !a.kw.empty()) {
        raise("FilterArgumentError", "can't handle positional and keyword arguments at the same time");
    }
    if (!a.kw.empty()) {
        Dict d;
        for (const auto& [k, x] : a.kw) d.set(Value(k), x);
        return Value(percent_format(soft_str(v), Value::dict(std::move(d))));
    }
    return Value(percent_format(soft_str(v), Value::list(a.pos, SeqKind::kTuple)));
}

Value f_tojson(const Value& v, Args& a) {
    auto p = a.bind("tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
    JsonOptions o;
    o.ensure_ascii = arg_bool(p[0], false);
    if (p[1] && !p[1]->is_none()) {
        if (p[1]->is_string()) {
            o.indent = p[1]->str();
        } else {
            o.indent = std::string(static_cast<size_t>(std::max<int64_t>(arg_int(p[1], 0, "indent"), 0)), ' ');
        }
        o.item_separator = ",";
    }
    if (p[2] && !p[2]->is_none()) {
        const std::vector<Value> seps = iterate(*p[2]);
        if (seps.size() != 2 || !seps[0].is_string() || !seps[1].is_string()) {
            raise("ValueError", "separators must be a pair of strings");
        }
        o.item_separator = seps[0].str();
        o.key_separator = seps[1].str();
    }
    o.sort_keys = arg_bool(p[3], false);
    return Value(json_dumps(v, o));
}

// ---- sequences ----

Value f_length(const Value& v, Args& a) {
    a.bind("length", {});
    return Value(length(v));
}

Value f_default(const Value& v, Args& a) {
    auto p = a.bind("default", {"default_value", "boolean"});
    if (v.is_undefined() || (arg_bool(p[1], false) && !truthy(v))) return p[0] ? *p[0] : Value(std::string());
    return v;
}

Value f_first(const Value& v, Args& a) {
    a.bind("first", {});
    if (v.is_iterator()) {
        Iterator& it = v.iter_ref();
        if (it.pos < it.items.size()) return it.items[it.pos++];
    } else {
        const std::vector<Value> items = iterate(v);
        if (!items.empty()) return items.front();
    }
    return Value::undefined("No first item, sequence was empty.");
}

Value f_last(const Value& v, Args& a) {
    a.bind("last", {});
    if (v.is_iterator()) raise("TypeError", str_cat("'", type_name(v), "' object is not reversible"));
    const std::vector<Value> items = iterate(v);
    if (!items.empty()) return items.back();
    return Value::undefined("No last item, sequence was empty.");
}

Value f_list(const Value& v, Args& a) {
    a.bind("list", {});
    return Value::list(iterate(v));
}

Value f_join(const Value& v, Args& a) {
    auto p = a.bind("join", {"d", "attribute"});
    const std::string sep = p[0] ? soft_str(*p[0]) : std::string();
    const AttrGetter get = make_getter(p[1]);
    std::string out;
    size_t k = 0;
    for (const Value& item : iterate(v)) {
        if (k++) out += sep;
        out += soft_str(get(item));
    }
    return Value(std::move(out));
}

Value f_map(const Value& v, Args& a) {
    std::vector<Value> out;
    if (a.pos.empty() && a.kwarg("attribute")) {
        std::optional<Value> dflt;
        for (const auto& [k, x] : a.kw) {
            if (k == "default") {
                dflt = x;
            } else if (k != "attribute") {
                raise("FilterArgumentError", str_cat("Unexpected keyword argument '", k, "'"));
            }
        }
        const AttrGetter get = make_getter(*a.kwarg("attribute"), dflt.value_or(Value::none()));
        if (truthy(v)) {
            for (const Value& item : iterate(v)) out.push_back(get(item));
        }
        return generator(std::move(out));
    }
    if (a.pos.empty()) raise("FilterArgumentError", "map requires a filter argument");
    const FilterFn f = filter_by_name(a.pos[0]);
    if (truthy(v)) {
        for (const Value& item : iterate(v)) {
            Args r = rest_args(a, 1);
            out.push_back(f(item, r));
        }
    }
    return generator(std::move(out));
}

Value select_or_reject(const Value& v, Args& a, bool select, bool by_attr) {
    std::vector<Value> out;
    if (!truthy(v)) return generator(std::move(out));
    size_t off = 0;
    AttrGetter get;
    if (by_attr) {
        if (a.pos.empty()) raise("FilterArgumentError", "Missing parameter for attribute name");
        get = make_getter(a.pos[0]);
        off = 1;
    }
    TestFn test = nullptr;
    if (a.pos.size() > off) test = test_by_name(a.pos[off]);
    for (const Value& item : iterate(v)) {
        const Value x = get(item);
        bool ok = false;
        if (test) {
            Args r = rest_args(a, off + 1);
            ok = test(x, r);
        } else {
            ok = truthy(x);
        }
        if (ok == select) out.push_back(item);
    }
    return generator(std::move(out));
}

Value f_select(const Value& v, Args& a) {
    return select_or_reject(v, a, true, false);
}
Value f_reject(const Value& v, Args& a) {
    return select_or_reject(v, a, false, false);
}
Value f_selectattr(const Value& v, Args& a) {
    return select_or_reject(v, a, true, true);
}
Value f_rejectattr(const Value& v, Args& a) {
    return select_or_reject(v, a, false, true);
}

Value f_items(const Value& v, Args& a) {
    a.bind("items", {});
    std::vector<Value> out;
    if (v.is_undefined()) return generator(std::move(out));
    if (!v.is_dict()) raise("TypeError", "Can only get item pairs from a mapping.");
    for (const auto& [k, x] : v.map().items) out.push_back(Value::list({k, x}, SeqKind::kTuple));
    return generator(std::move(out));
}

// Sorting with Python's rules: stable, `reverse` keeps equal items in their original order.
void py_sort(std::vector<std::pair<Value, Value>>& keyed, bool reverse) {
    std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& x, const auto& y) {
        return reverse ? compare(y.first, x.first, "<") : compare(x.first, y.first, "<");
    });
}

Value f_dictsort(const Value& v, Args& a) {
    auto p = a.bind("dictsort", {"case_sensitive", "by", "reverse"});
    const std::string by = p[1] ? soft_str(*p[1]) : "key";
    if (by != "key" && by != "value") raise("FilterArgumentError", "You can only sort by either \"key\" or \"value\"");
    if (!v.is_dict()) raise("AttributeError", str_cat("'", type_name(v), "' object has no attribute 'items'"));
    const bool cs = arg_bool(p[0], false);
    std::vector<std::pair<Value, Value>> keyed;
    for (const auto& [k, x] : v.map().items) {
        Value key = by == "key" ? k : x;
        if (!cs && key.is_string()) key = Value(to_lower(key.str()));
        keyed.emplace_back(std::move(key), Value::list({k, x}, SeqKind::kTuple));
    }
    py_sort(keyed, arg_bool(p[2], false));
    std::vector<Value> out;
    for (auto& kv : keyed) out.push_back(std::move(kv.second));
    return Value::list(std::move(out));
}

Value f_sort(const Value& v, Args& a) {
    auto p = a.bind("sort", {"reverse", "case_sensitive", "attribute"});
    const bool cs = arg_bool(p[1], false);
    std::vector<AttrGetter> getters;
    if (p[2] && p[2]->is_string() && p[2]->str().find(',') != std::string::npos) {
        const std::string& s = p[2]->str();
        size_t start = 0;
        while (true) {
            const size_t c = s.find(',', start);
            getters.push_back(make_getter(Value(s.substr(start, c == std::string::npos ? c : c - start)), {}, !cs));
            if (c == std::string::npos) break;
            start = c + 1;
        }
    } else {
        getters.push_back(make_getter(p[2], {}, !cs));
    }
    std::vector<std::pair<Value, Value>> keyed;
    for (const Value& item : iterate(v)) {
        if (getters.size() == 1) {
            keyed.emplace_back(getters[0](item), item);
        } else {
            std::vector<Value> key;
            for (const auto& g : getters) key.push_back(g(item));
            keyed.emplace_back(Value::list(std::move(key)), item);
        }
    }
    py_sort(keyed, arg_bool(p[0], false));
    std::vector<Value> out;
    for (auto& kv : keyed) out.push_back(std::move(kv.second));
    return Value::list(std::move(out));
}

Value f_unique(const Value& v, Args& a) {
    auto p = a.bind("unique", {"case_sensitive", "attribute"});
    const AttrGetter get = make_getter(p[1], {}, !arg_bool(p[0], false));
    std::vector<Value> seen;
    std::vector<Value> out;
    for (const Value& item : iterate(v)) {
        const Value key = get(item);
        if (!hashable(key)) raise("TypeError", str_cat("unhashable type: '", type_name(key), "'"));
        if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
            seen.push_back(key);
            out.push_back(item);
        }
    }
    return generator(std::move(out));
}

Value f_reverse(const Value& v, Args& a) {
    a.bind("reverse", {});
    if (v.is_string()) {
        std::u32string s = utf8_decode(v.str());
        std::reverse(s.begin(), s.end());
        return Value(utf8_encode(s));
    }
    std::vector<Value> items = iterate(v);
    std::reverse(items.begin(), items.end());
    switch (v.type()) {
        case Value::Type::kList:
            return Value::iterator(std::move(items), v.seq_kind() == SeqKind::kList    ? "list_reverseiterator"
                                                     : v.seq_kind() == SeqKind::kRange ? "range_iterator"
                                                                                       : "reversed");
        case Value::Type::kDict:
            return Value::iterator(std::move(items), "dict_reversekeyiterator");
        case Value::Type::kUndefined:
            return Value::iterator(std::move(items), "reversed");
        default:
            return Value::list(std::move(items));  // jinja2 falls back to a reversed list copy
    }
}

Value f_batch(const Value& v, Args& a) {
    auto p = a.bind("batch", {"linecount", "fill_with"});
    const int64_t n = arg_int(p[0], 0, "linecount");
    std::vector<Value> out;
    std::vector<Value> tmp;
    for (const Value& item : iterate(v)) {
        if (static_cast<int64_t>(tmp.size()) == n) {
            out.push_back(Value::list(std::move(tmp)));
            tmp.clear();
        }
        tmp.push_back(item);
    }
    if (!tmp.empty()) {
        if (p[1] && !p[1]->is_none()) {
            while (static_cast<int64_t>(tmp.size()) < n) tmp.push_back(*p[1]);
        }
        out.push_back(Value::list(std::move(tmp)));
    }
    return generator(std::move(out));
}

Value f_slice(const Value& v, Args& a) {
    auto p = a.bind("slice", {"slices", "fill_with"});
    const int64_t slices = arg_int(p[0], 0, "slices");
    if (slices <= 0) raise("ZeroDivisionError", "integer division or modulo by zero");
    if (slices > 100000) raise("OverflowError", "too many slices");
    const std::vector<Value> seq = iterate(v);
    const auto n = static_cast<int64_t>(seq.size());
    const int64_t per = n / slices;
    const int64_t extra = n % slices;
    int64_t offset = 0;
    std::vector<Value> out;
    for (int64_t s = 0; s < slices; ++s) {
        const int64_t start = offset + s * per;
        if (s < extra) ++offset;
        const int64_t end = offset + (s + 1) * per;
        std::vector<Value> tmp(seq.begin() + start, seq.begin() + end);
        if (p[1] && !p[1]->is_none() && s >= extra) tmp.push_back(*p[1]);
        out.push_back(Value::list(std::move(tmp)));
    }
    return generator(std::move(out));
}

// ---- numbers ----

Value f_abs(const Value& v, Args& a) {
    a.bind("abs", {});
    if (v.is_undefined()) raise_undefined(v);
    if (v.is_integral()) {
        if (v.as_int() == INT64_MIN) raise("OverflowError", "integer overflow");
        return Value(std::abs(v.as_int()));
    }
    if (v.is_float()) return Value(std::fabs(v.as_double()));
    raise("TypeError", str_cat("bad operand type for abs(): '", type_name(v), "'"));
}

// Python's int() and float() accept any Unicode decimal digits: map the common ones to ASCII.
std::string ascii_digits(const std::string& s) {
    std::string out;
    for (char32_t cp : utf8_decode(s)) {
        char32_t zero = 0;
        for (char32_t z : {U'\u0660', U'\u06F0', U'\u0966', U'\u09E6', U'\uFF10'}) {
            if (cp >= z && cp <= z + 9) zero = z;
        }
        if (zero) {
            out.push_back(static_cast<char>('0' + (cp - zero)));
        } else {
            utf8_append(out, cp);
        }
    }
    return out;
}

// Python's float(str): surrounding whitespace, underscores between digits, inf/nan spellings.
std::optional<double> parse_py_float(const std::string& text) {
    std::string s = strip(ascii_digits(text), nullptr, true, true);
    std::string clean;
    for (size_t k = 0; k < s.size(); ++k) {
        if (s[k] == '_') {
            if (k == 0 || k + 1 >= s.size() || !std::isdigit(static_cast<unsigned char>(s[k - 1])) ||
                !std::isdigit(static_cast<unsigned char>(s[k + 1]))) {
                return std::nullopt;
            }
            continue;
        }
        clean.push_back(s[k]);
    }
    if (clean.empty()) return std::nullopt;
    const std::string lower = to_lower(clean);
    const std::string body = (lower[0] == '+' || lower[0] == '-') ? lower.substr(1) : lower;
    if (body == "inf" || body == "infinity" || body == "nan") {
        const double x = body == "nan" ? std::nan("") : HUGE_VAL;
        return lower[0] == '-' ? -x : x;
    }
    for (char c : body) {
        if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' || c == '-'))
            return std::nullopt;
    }
    char* end = nullptr;
    const double d = std::strtod(clean.c_str(), &end);
    if (end != clean.c_str() + clean.size()) return std::nullopt;
    return d;
}

// Python's int(str, base).
std::optional<int64_t> parse_py_int(const std::string& text, int64_t base) {
    std::string s = strip(ascii_digits(text), nullptr, true, true);
    bool neg = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s.erase(0, 1);
    }
    if (s.size() > 1 && s[0] == '0') {
        const char p = static_cast<char>(s[1] | 0x20);
        const int64_t pb = p == 'x' ? 16 : (p == 'o' ? 8 : (p == 'b' ? 2 : 0));
        if (pb && (base == pb || base == 0)) {
            s.erase(0, 2);
            if (!s.empty() && s[0] == '_') s.erase(0, 1);
            base = pb;
        }
    }
    if (base == 0) base = 10;
    if (s.empty() || base < 2 || base > 36) return std::nullopt;
    __int128 v = 0;
    for (size_t k = 0; k < s.size(); ++k) {
        const char c = s[k];
        if (c == '_' && k > 0 && k + 1 < s.size() && s[k - 1] != '_') continue;
        int d = -1;
        if (c >= '0' && c <= '9') d = c - '0';
        const char l = static_cast<char>(c | 0x20);
        if (l >= 'a' && l <= 'z') d = l - 'a' + 10;
        if (d < 0 || d >= base) return std::nullopt;
        v = v * base + d;
        if (v > static_cast<__int128>(INT64_MAX) + 1) raise("OverflowError", "integer overflow");
    }
    if (neg) v = -v;
    if (v > INT64_MAX) raise("OverflowError", "integer overflow");
    return static_cast<int64_t>(v);
}

std::optional<int64_t> float_to_int(double d) {
    if (std::isnan(d) || std::isinf(d) || std::fabs(d) >= 9.2e18) return std::nullopt;
    return static_cast<int64_t>(std::trunc(d));
}

Value f_int(const Value& v, Args& a) {
    auto p = a.bind("int", {"default", "base"});
    const Value dflt = p[0] ? *p[0] : Value(0);
    const int64_t base = arg_int(p[1], 10, "base");
    if (v.is_undefined()) raise_undefined(v);
    if (v.is_integral()) return Value(v.as_int());
    if (v.is_float()) {
        if (auto i = float_to_int(v.as_double())) return Value(*i);
        return dflt;
    }
    if (v.is_string()) {
        if (auto i = parse_py_int(v.str(), base)) return Value(*i);
        if (auto d = parse_py_float(v.str())) {
            if (auto i = float_to_int(*d)) return Value(*i);
        }
    }
    return dflt;
}

Value f_float(const Value& v, Args& a) {
    auto p = a.bind("float", {"default"});
    const Value dflt = p[0] ? *p[0] : Value(0.0);
    if (v.is_undefined()) raise_undefined(v);
    if (v.is_number()) return Value(v.as_double());
    if (v.is_string()) {
        if (auto d = parse_py_float(v.str())) return Value(*d);
    }
    return dflt;
}

// Python's round(x, n) for floats: correctly rounded, ties to even (printf does the same rounding).
double py_round(double x, int64_t n) {
    if (std::isnan(x) || std::isinf(x) || n > 300) return x;
    if (n < 0) {
        const double scale = std::pow(10.0, static_cast<double>(-n));
        if (std::isinf(scale)) return std::copysign(0.0, x);
        const double y = std::nearbyint(x / scale) * scale;
        return y;
    }
    char buf[512];
    if (std::fabs(x) >= 1e300) return x;
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(n), x);
    return std::strtod(buf, nullptr);
}

Value f_round(const Value& v, Args& a) {
    auto p = a.bind("round", {"precision", "method"});
    const int64_t precision = arg_int(p[0], 0, "precision");
    const std::string method = p[1] ? soft_str(*p[1]) : "common";
    if (method != "common" && method != "ceil" && method != "floor") {
        raise("FilterArgumentError", "method must be common, ceil or floor");
    }
    if (v.is_undefined()) raise_undefined(v);
    if (!v.is_number()) raise("TypeError", str_cat("type ", type_name(v), " doesn't define __round__ method"));
    if (method == "common") {
        if (v.is_integral()) {
            if (precision >= 0) return Value(v.as_int());
            return Value(static_cast<int64_t>(py_round(static_cast<double>(v.as_int()), precision)));
        }
        return Value(py_round(v.as_double(), precision));
    }
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double x = v.as_double() * scale;
    if (std::isinf(x)) raise("OverflowError", "cannot convert float infinity to integer");
    if (std::isnan(x)) raise("ValueError", "cannot convert float NaN to integer");
    // math.ceil/floor return ints, which have no negative zero.
    const double r = (method == "ceil" ? std::ceil(x) : std::floor(x)) + 0.0;
    return Value(r / scale);
}

Value f_sum(const Value& v, Args& a) {
    auto p = a.bind("sum", {"attribute", "start"});
    const AttrGetter get = make_getter(p[0]);
    Value total = p[1] ? *p[1] : Value(0);
    for (const Value& item : iterate(v)) total = binary_op("+", total, get(item));
    return total;
}

Value min_or_max(const Value& v, Args& a, bool want_max) {
    auto p = a.bind(want_max ? "max" : "min", {"case_sensitive", "attribute"});
    const AttrGetter get = make_getter(p[1], {}, !arg_bool(p[0], false));
    const std::vector<Value> items = iterate(v);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    size_t best = 0;
    Value best_key = get(items[0]);
    for (size_t k = 1; k < items.size(); ++k) {
        Value key = get(items[k]);
        if (want_max ? compare(key, best_key, ">") : compare(key, best_key, "<")) {
            best = k;
            best_key = std::move(key);
        }
    }
    return items[best];
}

Value f_min(const Value& v, Args& a) {
    return min_or_max(v, a, false);
}
Value f_max(const Value& v, Args& a) {
    return min_or_max(v, a, true);
}

Value f_attr(const Value& v, Args& a) {
    auto p = a.bind("attr", {"name"});
    if (!p[0]) raise("TypeError", "attr() missing 1 required positional argument: 'name'");
    return get_attr(v, soft_str(*p[0]));
}

struct NamedFilter {
    const char* name;
    FilterFn fn;
};

const NamedFilter kFilters[] = {
    {"abs", f_abs},           {"attr", f_attr},
    {"batch", f_batch},       {"capitalize", f_capitalize},
    {"center", f_center},     {"count", f_length},
    {"d", f_default},         {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape},
    {"escape", f_escape},     {"first", f_first},
    {"float", f_float},       {"forceescape", f_escape},
    {"format", f_format},     {"indent", f_indent},
    {"int", f_int},           {"items", f_items},
    {"join", f_join},         {"last", f_last},
    {"length", f_length},     {"list", f_list},
    {"lower", f_lower},       {"map", f_map},
    {"max", f_max},           {"min", f_min},
    {"reject", f_reject},     {"rejectattr", f_rejectattr},
    {"replace", f_replace},   {"reverse", f_reverse},
    {"round", f_round},       {"safe", f_safe},
    {"select", f_select},     {"selectattr", f_selectattr},
    {"slice", f_slice},       {"sort", f_sort},
    {"string", f_string},     {"sum", f_sum},
    {"title", f_title},       {"tojson", f_tojson},
    {"trim", f_trim},         {"unique", f_unique},
    {"upper", f_upper},       {"wordcount", f_wordcount},
};

}  // namespace

FilterFn find_filter(std::string_view name) {
    for (const NamedFilter& f : kFilters) {
        if (name == f.name) return f.fn;
    }
    return nullptr;
}

}  // namespace turbolm::jinja
