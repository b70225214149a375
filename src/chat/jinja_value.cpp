#include "chat/jinja_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/jinja_unicode.h"

namespace turbolm::jinja {

// ---- construction -------------------------------------------------------------------------------------

Value Value::undefined(std::string hint, bool unsafe) {
    Undefined u;
    u.hint = std::make_shared<const std::string>(std::move(hint));
    u.unsafe = unsafe;
    return Value(Storage(std::move(u)));
}

Value Value::list(std::vector<Value> items, SeqKind kind) {
    auto l = std::make_shared<List>();
    l->items = std::move(items);
    l->kind = kind;
    return Value(Storage(ListPtr(std::move(l))));
}

Value Value::range(int64_t start, int64_t stop, int64_t step) {
    auto l = std::make_shared<List>();
    l->kind = SeqKind::kRange;
    l->range_start = start;
    l->range_stop = stop;
    l->range_step = step;
    if (step > 0) {
        for (int64_t v = start; v < stop; v += step) l->items.emplace_back(v);
    } else {
        for (int64_t v = start; v > stop; v += step) l->items.emplace_back(v);
    }
    return Value(Storage(ListPtr(std::move(l))));
}

Value Value::dict(Dict d) {
    return Value(Storage(DictPtr(std::make_shared<const Dict>(std::move(d)))));
}

Value Value::iterator(std::vector<Value> items, std::string type_name) {
    auto it = std::make_shared<Iterator>();
    it->items = std::move(items);
    it->type_name = std::move(type_name);
    return Value(Storage(std::move(it)));
}

Value Value::callable(std::string name, NativeFn fn, std::string repr) {
    auto c = std::make_shared<Callable>();
    if (repr.empty()) repr = "<function " + name + ">";
    c->name = std::move(name);
    c->repr = std::move(repr);
    c->fn = std::move(fn);
    return Value(Storage(FnPtr(std::move(c))));
}

const void* Value::identity() const {
    return std::visit(
        [](const auto& x) -> const void* {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Undefined>) {
                return x.hint.get();
            } else if constexpr (requires { x.get(); }) {
                return x.get();
            } else {
                return nullptr;
            }
        },
        v_);
}

const Value* Dict::find(const Value& key) const {
    for (const auto& [k, v] : items) {
        if (equals(k, key)) return &v;
    }
    return nullptr;
}

const Value* Dict::find(std::string_view key) const {
    for (const auto& [k, v] : items) {
        if (k.is_string() && k.str() == key) return &v;
    }
    return nullptr;
}

void Dict::set(Value key, Value value) {
    for (auto& [k, v] : items) {
        if (equals(k, key)) {
            v = std::move(value);
            return;
        }
    }
    items.emplace_back(std::move(key), std::move(value));
}

std::vector<std::optional<Value>> Args::bind(std::string_view fn_name, std::initializer_list<const char*> names) const {
    std::vector<std::optional<Value>> out(names.size());
    if (pos.size() > names.size()) {
        raise("TypeError",
              str_cat(fn_name, "() takes at most ", names.size(), " argument(s) (", pos.size(), " given)"));
    }
    for (size_t i = 0; i < pos.size(); ++i) out[i] = pos[i];
    for (const auto& [key, value] : kw) {
        size_t idx = 0;
        for (const char* n : names) {
            if (key == n) break;
            ++idx;
        }
        if (idx == names.size()) {
            raise("TypeError", str_cat(fn_name, "() got an unexpected keyword argument '", key, "'"));
        }
        if (out[idx]) raise("TypeError", str_cat(fn_name, "() got multiple values for argument '", key, "'"));
        out[idx] = value;
    }
    return out;
}

const Value* Args::kwarg(std::string_view name) const {
    for (const auto& [k, v] : kw) {
        if (k == name) return &v;
    }
    return nullptr;
}

// ---- errors -------------------------------------------------------------------------------------------

void raise(std::string_view kind, const std::string& message) {
    throw RenderError(std::string(kind), message);
}

void raise_undefined(const Value& v) {
    const Undefined& u = v.undef();
    const std::string msg = (u.hint && !u.hint->empty()) ? *u.hint : std::string("value is undefined");
    raise(u.unsafe ? "SecurityError" : "UndefinedError", msg);
}

// ---- Python semantics ---------------------------------------------------------------------------------

bool truthy(const Value& v) {
    switch (v.type()) {
        case Value::Type::kUndefined:
        case Value::Type::kNone:
            return false;
        case Value::Type::kBool:
            return v.as_bool();
        case Value::Type::kInt:
            return v.as_int() != 0;
        case Value::Type::kFloat:
            return v.as_double() != 0.0;
        case Value::Type::kString:
            return !v.str().empty();
        case Value::Type::kList:
            return !v.items().empty();
        case Value::Type::kDict:
            return !v.map().items.empty();
        default:
            return true;
    }
}

std::string float_repr(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
    char buf[64];
    // Shortest digits that round-trip, as Python's repr picks them.
    auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
    std::string s(buf, res.ptr);
    std::string out;
    if (s[0] == '-') {
        out.push_back('-');
        s.erase(0, 1);
    }
    const size_t e = s.find('e');
    std::string digits;
    for (size_t i = 0; i < e; ++i) {
        if (s[i] != '.') digits.push_back(s[i]);
    }
    const int exp = std::stoi(s.substr(e + 1));
    const int decpt = exp + 1;  // value = 0.digits * 10^decpt
    const int n = static_cast<int>(digits.size());
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            out += "0." + std::string(-decpt, '0') + digits;
        } else if (decpt >= n) {
            out += digits + std::string(decpt - n, '0') + ".0";
        } else {
            out += digits.substr(0, decpt) + "." + digits.substr(decpt);
        }
    } else {
        out.push_back(digits[0]);
        if (n > 1) out += "." + digits.substr(1);
        char ebuf[16];
        std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
        out += ebuf;
    }
    return out;
}

std::string string_repr(std::string_view s) {
    const bool has_single = s.find('\'') != std::string_view::npos;
    const bool has_double = s.find('"') != std::string_view::npos;
    const char quote = (has_single && !has_double) ? '"' : '\'';
    std::string out(1, quote);
    char buf[16];
    for (char32_t cp : utf8_decode(s)) {
        if (cp == static_cast<char32_t>(quote) || cp == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(cp));
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp < 0x20 || cp == 0x7F) {
            std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(cp));
            out += buf;
        } else if (cp < 0x7F || is_printable(cp)) {
            utf8_append(out, cp);
        } else {
            const auto u = static_cast<unsigned>(cp);
            std::snprintf(buf, sizeof(buf), u <= 0xFF ? "\\x%02x" : (u <= 0xFFFF ? "\\u%04x" : "\\U%08x"), u);
            out += buf;
        }
    }
    out.push_back(quote);
    return out;
}

namespace {

std::string join_repr(const std::vector<Value>& items) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        out += repr(items[i]);
    }
    return out;
}

std::string dict_repr(const Dict& d) {
    std::string out = "{";
    for (size_t i = 0; i < d.items.size(); ++i) {
        if (i) out += ", ";
        out += repr(d.items[i].first) + ": " + repr(d.items[i].second);
    }
    return out + "}";
}

}  // namespace

std::string to_str(const Value& v) {
    switch (v.type()) {
        case Value::Type::kUndefined:
            return "";
        case Value::Type::kNone:
            return "None";
        case Value::Type::kBool:
            return v.as_bool() ? "True" : "False";
        case Value::Type::kInt:
            return std::to_string(v.as_int());
        case Value::Type::kFloat:
            return float_repr(v.as_double());
        case Value::Type::kString:
            return v.str();
        case Value::Type::kNamespace:
            return "<Namespace " + dict_repr(v.ns_ref().attrs) + ">";
        case Value::Type::kIterator:
            return "<" + v.iter_ref().type_name + " object at 0x7f0000000000>";
        case Value::Type::kCallable:
            return v.fn().repr;
        case Value::Type::kLoop:
            return str_cat("<LoopContext ", v.loop_ref().index0 + 1, "/", v.loop_ref().items->size(), ">");
        default:
            return repr(v);
    }
}

std::string repr(const Value& v) {
    switch (v.type()) {
        case Value::Type::kUndefined:
            return "Undefined";
        case Value::Type::kString:
            return string_repr(v.str());
        case Value::Type::kList:
            switch (v.seq_kind()) {
                case SeqKind::kList:
                    return "[" + join_repr(v.items()) + "]";
                case SeqKind::kTuple:
                    return "(" + join_repr(v.items()) + (v.items().size() == 1 ? ",)" : ")");
                case SeqKind::kRange: {
                    const List& l = v.seq();
                    if (l.range_step == 1) return str_cat("range(", l.range_start, ", ", l.range_stop, ")");
                    return str_cat("range(", l.range_start, ", ", l.range_stop, ", ", l.range_step, ")");
                }
                case SeqKind::kDictItems:
                    return "dict_items([" + join_repr(v.items()) + "])";
                case SeqKind::kDictKeys:
                    return "dict_keys([" + join_repr(v.items()) + "])";
                case SeqKind::kDictValues:
                    return "dict_values([" + join_repr(v.items()) + "])";
            }
            return "";
        case Value::Type::kDict:
            return dict_repr(v.map());
        default:
            return to_str(v);
    }
}

std::string type_name(const Value& v) {
    switch (v.type()) {
        case Value::Type::kUndefined:
            return "Undefined";
        case Value::Type::kNone:
            return "NoneType";
        case Value::Type::kBool:
            return "bool";
        case Value::Type::kInt:
            return "int";
        case Value::Type::kFloat:
            return "float";
        case Value::Type::kString:
            return "str";
        case Value::Type::kList:
            switch (v.seq_kind()) {
                case SeqKind::kList:
                    return "list";
                case SeqKind::kTuple:
                    return "tuple";
                case SeqKind::kRange:
                    return "range";
                case SeqKind::kDictItems:
                    return "dict_items";
                case SeqKind::kDictKeys:
                    return "dict_keys";
                case SeqKind::kDictValues:
                    return "dict_values";
            }
            return "list";
        case Value::Type::kDict:
            return "dict";
        case Value::Type::kNamespace:
            return "Namespace";
        case Value::Type::kIterator:
            return v.iter_ref().type_name;
        case Value::Type::kCallable:
            return "function";
        case Value::Type::kLoop:
            return "LoopContext";
    }
    return "object";
}

std::string object_type_repr(const Value& v) {
    switch (v.type()) {
        case Value::Type::kNone:
            return "None";
        case Value::Type::kUndefined:
            return "jinja2.runtime.Undefined object";
        case Value::Type::kNamespace:
            return "jinja2.utils.Namespace object";
        case Value::Type::kLoop:
            return "jinja2.runtime.LoopContext object";
        default:
            return type_name(v) + " object";
    }
}

namespace {

bool seq_comparable(const Value& a, const Value& b) {
    if (!a.is_list() || !b.is_list()) return false;
    const bool ta = a.seq_kind() == SeqKind::kTuple;
    const bool tb = b.seq_kind() == SeqKind::kTuple;
    const bool la = a.seq_kind() == SeqKind::kList;
    const bool lb = b.seq_kind() == SeqKind::kList;
    return (ta && tb) || (la && lb);
}

int compare_numbers(const Value& a, const Value& b) {
    if (a.is_integral() && b.is_integral()) {
        const int64_t x = a.as_int();
        const int64_t y = b.as_int();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    const double x = a.as_double();
    const double y = b.as_double();
    if (x < y) return -1;
    if (x > y) return 1;
    return x == y ? 0 : 2;  // 2: unordered (NaN)
}

}  // namespace

bool equals(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
    if (a.type() != b.type()) return false;
    switch (a.type()) {
        case Value::Type::kUndefined:
        case Value::Type::kNone:
            return true;
        case Value::Type::kString:
            return a.str() == b.str();
        case Value::Type::kList: {
            if (a.seq_kind() != b.seq_kind()) return false;
            if (a.seq_kind() == SeqKind::kDictValues) return a.identity() == b.identity();
            const auto& x = a.items();
            const auto& y = b.items();
            if (x.size() != y.size()) return false;
            if (a.seq_kind() == SeqKind::kDictKeys || a.seq_kind() == SeqKind::kDictItems) {
                for (const Value& item : x) {  // set semantics
                    if (!contains(b, item)) return false;
                }
                return true;
            }
            for (size_t i = 0; i < x.size(); ++i) {
                if (!equals(x[i], y[i])) return false;
            }
            return true;
        }
        case Value::Type::kDict: {
            const Dict& x = a.map();
            const Dict& y = b.map();
            if (x.items.size() != y.items.size()) return false;
            for (const auto& [k, v] : x.items) {
                const Value* other = y.find(k);
                if (!other || !equals(v, *other)) return false;
            }
            return true;
        }
        default:
            return a.identity() == b.identity();
    }
}

bool hashable(const Value& v) {
    switch (v.type()) {
        case Value::Type::kDict:
            return false;
        case Value::Type::kList:
            if (v.seq_kind() == SeqKind::kTuple) {
                for (const Value& item : v.items()) {
                    if (!hashable(item)) return false;
                }
                return true;
            }
            return v.seq_kind() == SeqKind::kRange || v.seq_kind() == SeqKind::kDictValues;
        default:
            return true;
    }
}

bool is_indexable_seq(const Value& v) {
    return v.is_list() &&
           (v.seq_kind() == SeqKind::kList || v.seq_kind() == SeqKind::kTuple || v.seq_kind() == SeqKind::kRange);
}

bool compare(const Value& a, const Value& b, std::string_view op) {
    if (a.is_undefined()) raise_undefined(a);
    if (b.is_undefined()) raise_undefined(b);
    int c = 0;
    if (a.is_number() && b.is_number()) {
        c = compare_numbers(a, b);
        if (c == 2) return false;
    } else if (a.is_string() && b.is_string()) {
        c = a.str().compare(b.str());
        c = c < 0 ? -1 : (c > 0 ? 1 : 0);
    } else if (seq_comparable(a, b)) {
        const auto& x = a.items();
        const auto& y = b.items();
        const size_t n = std::min(x.size(), y.size());
        for (size_t i = 0; i < n; ++i) {
            if (!equals(x[i], y[i])) return compare(x[i], y[i], op);
        }
        c = x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
    } else {
        raise("TypeError",
              str_cat("'", op, "' not supported between instances of '", type_name(a), "' and '", type_name(b), "'"));
    }
    if (op == "<") return c < 0;
    if (op == "<=") return c <= 0;
    if (op == ">") return c > 0;
    return c >= 0;
}

bool contains(const Value& haystack, const Value& needle) {
    switch (haystack.type()) {
        case Value::Type::kString:
            if (!needle.is_string()) {
                raise("TypeError", str_cat("'in <string>' requires string as left operand, not ", type_name(needle)));
            }
            return haystack.str().find(needle.str()) != std::string::npos;
        case Value::Type::kList:
            for (const Value& item : haystack.items()) {
                if (equals(item, needle)) return true;
            }
            return false;
        case Value::Type::kDict:
            if (!hashable(needle)) raise("TypeError", str_cat("unhashable type: '", type_name(needle), "'"));
            return haystack.map().find(needle) != nullptr;
        case Value::Type::kUndefined:
            return false;
        case Value::Type::kIterator: {
            Iterator& it = haystack.iter_ref();
            while (it.pos < it.items.size()) {
                if (equals(it.items[it.pos++], needle)) return true;
            }
            return false;
        }
        default:
            raise("TypeError", str_cat("argument of type '", type_name(haystack), "' is not iterable"));
    }
}

std::vector<Value> iterate(const Value& v) {
    switch (v.type()) {
        case Value::Type::kList:
            return v.items();
        case Value::Type::kDict: {
            std::vector<Value> keys;
            keys.reserve(v.map().items.size());
            for (const auto& kv : v.map().items) keys.push_back(kv.first);
            return keys;
        }
        case Value::Type::kString: {
            std::vector<Value> chars;
            for (char32_t cp : utf8_decode(v.str())) {
                std::string c;
                utf8_append(c, cp);
                chars.emplace_back(std::move(c));
            }
            return chars;
        }
        case Value::Type::kUndefined:
            return {};
        case Value::Type::kIterator: {
            Iterator& it = v.iter_ref();
            std::vector<Value> rest(it.items.begin() + static_cast<std::ptrdiff_t>(it.pos), it.items.end());
            it.pos = it.items.size();
            return rest;
        }
        case Value::Type::kLoop:
            return *v.loop_ref().items;
        default:
            raise("TypeError", str_cat("'", type_name(v), "' object is not iterable"));
    }
}

int64_t length(const Value& v) {
    switch (v.type()) {
        case Value::Type::kString:
            return static_cast<int64_t>(utf8_length(v.str()));
        case Value::Type::kList:
            return static_cast<int64_t>(v.items().size());
        case Value::Type::kDict:
            return static_cast<int64_t>(v.map().items.size());
        case Value::Type::kUndefined:
            return 0;
        case Value::Type::kLoop:
            return static_cast<int64_t>(v.loop_ref().items->size());
        default:
            raise("TypeError", str_cat("object of type '", type_name(v), "' has no len()"));
    }
}

Value from_json(const nlohmann::ordered_json& j) {
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null:
            return Value::none();
        case nlohmann::ordered_json::value_t::boolean:
            return Value(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer:
            return Value(j.get<int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned: {
            const auto u = j.get<uint64_t>();
            if (u <= static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<int64_t>(u));
            return Value(static_cast<double>(u));
        }
        case nlohmann::ordered_json::value_t::number_float:
            return Value(j.get<double>());
        case nlohmann::ordered_json::value_t::string:
            return Value(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            std::vector<Value> items;
            items.reserve(j.size());
            for (const auto& e : j) items.push_back(from_json(e));
            return Value::list(std::move(items));
        }
        case nlohmann::ordered_json::value_t::object: {
            Dict d;
            d.items.reserve(j.size());
            for (auto it = j.begin(); it != j.end(); ++it) d.items.emplace_back(Value(it.key()), from_json(it.value()));
            return Value::dict(std::move(d));
        }
        default:
            return Value::none();
    }
}

}  // namespace turbolm::jinja
