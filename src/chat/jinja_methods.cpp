// Methods of str, list and dict values (the ones jinja2's immutable sandbox lets a template call) and
// the global functions of HF's chat template environment.
#include <ctime>

#include "chat/jinja_builtins.h"
#include "chat/jinja_unicode.h"

namespace turbolm::jinja {

namespace {

const std::string& arg_str(const Value& v, std::string_view fn) {
    if (!v.is_string()) {
        raise("TypeError", str_cat(fn, "() argument must be str, not ", type_name(v)));
    }
    return v.str();
}

// Optional `chars` argument of strip/lstrip/rstrip: None means whitespace.
const std::string* strip_chars(const std::optional<Value>& v, std::string_view fn) {
    if (!v || v->is_none()) return nullptr;
    return &arg_str(*v, fn);
}

int64_t arg_int(const std::optional<Value>& v, int64_t dflt) {
    if (!v || v->is_none()) return dflt;
    if (!v->is_integral())
        raise("TypeError", str_cat("'", type_name(*v), "' object cannot be interpreted as an integer"));
    return v->as_int();
}

// str.split / str.rsplit with Python's rules for sep=None (runs of whitespace, no empty strings).
Value split(const std::string& s, const std::optional<Value>& sep_v, int64_t maxsplit, bool from_right) {
    std::vector<Value> parts;
    if (!sep_v || sep_v->is_none()) {
        const std::u32string u = utf8_decode(s);
        std::vector<std::u32string> words;
        if (!from_right) {
            size_t i = 0;
            while (i < u.size()) {
                while (i < u.size() && is_space(u[i])) ++i;
                if (i >= u.size()) break;
                if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
                    size_t e = u.size();
                    while (e > i && is_space(u[e - 1])) --e;
                    words.push_back(u.substr(i, e - i));
                    break;
                }
                size_t j = i;
                while (j < u.size() && !is_space(u[j])) ++j;
                words.push_back(u.substr(i, j - i));
                i = j;
            }
        } else {
            size_t i = u.size();
            while (i > 0) {
                while (i > 0 && is_space(u[i - 1])) --i;
                if (i == 0) break;
                if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
                    size_t b = 0;
                    while (b < i && is_space(u[b])) ++b;
                    words.push_back(u.substr(b, i - b));
                    break;
                }
                size_t j = i;
                while (j > 0 && !is_space(u[j - 1])) --j;
                words.push_back(u.substr(j, i - j));
                i = j;
            }
            std::reverse(words.begin(), words.end());
        }
        for (auto& w : words) parts.emplace_back(utf8_encode(w));
        return Value::list(std::move(parts));
    }
    const std::string& sep = arg_str(*sep_v, "split");
    if (sep.empty()) raise("ValueError", "empty separator");
    std::vector<std::string> pieces;
    if (!from_right) {
        size_t start = 0;
        while (true) {
            if (maxsplit >= 0 && static_cast<int64_t>(pieces.size()) == maxsplit) break;
            const size_t k = s.find(sep, start);
            if (k == std::string::npos) break;
            pieces.push_back(s.substr(start, k - start));
            start = k + sep.size();
        }
        pieces.push_back(s.substr(start));
    } else {
        size_t end = s.size();
        while (true) {
            if (maxsplit >= 0 && static_cast<int64_t>(pieces.size()) == maxsplit) break;
            if (end < sep.size()) break;
            const size_t k = s.rfind(sep, end - sep.size());
            if (k == std::string::npos) break;
            pieces.push_back(s.substr(k + sep.size(), end - k - sep.size()));
            end = k;
        }
        pieces.push_back(s.substr(0, end));
        std::reverse(pieces.begin(), pieces.end());
    }
    for (auto& p : pieces) parts.emplace_back(std::move(p));
    return Value::list(std::move(parts));
}

// Code-point offsets of str.find-style (sub, start, end) arguments.
bool affix_match(const Value& self, const std::optional<Value>& affix, const std::optional<Value>& start,
                 const std::optional<Value>& end, bool suffix) {
    const std::u32string s = utf8_decode(self.str());
    const auto n = static_cast<int64_t>(s.size());
    auto clamp = [n](int64_t x) { return x < 0 ? std::max<int64_t>(0, x + n) : std::min(x, n); };
    const int64_t b = clamp(arg_int(start, 0));
    const int64_t e = clamp(arg_int(end, n));
    auto one = [&](const Value& a) {
        if (!a.is_string()) {
            raise("TypeError", str_cat(suffix ? "endswith" : "startswith",
                                       " first arg must be str or a tuple of str, not ", type_name(a)));
        }
        const std::u32string x = utf8_decode(a.str());
        if (e - b < static_cast<int64_t>(x.size())) return false;
        const size_t at = suffix ? static_cast<size_t>(e) - x.size() : static_cast<size_t>(b);
        return s.compare(at, x.size(), x) == 0;
    };
    if (!affix) raise("TypeError", "startswith() takes at least 1 argument (0 given)");
    if (affix->is_list() && affix->seq_kind() == SeqKind::kTuple) {
        for (const Value& a : affix->items()) {
            if (one(a)) return true;
        }
        return false;
    }
    return one(*affix);
}

// Python's str.title(): a cased character after an uncased one starts a word.
std::string py_title(const std::string& s) {
    const std::u32string in = utf8_decode(s);
    std::u32string out;
    bool prev_cased = false;
    for (size_t i = 0; i < in.size(); ++i) {
        if (prev_cased) {
            append_lower_at(out, in, i);
        } else {
            append_title(out, in[i]);
        }
        prev_cased = is_cased(in[i]);
    }
    return utf8_encode(out);
}

std::string py_capitalize(const std::string& s) {
    const std::u32string in = utf8_decode(s);
    std::u32string out;
    for (size_t i = 0; i < in.size(); ++i) {
        if (i == 0) {
            append_title(out, in[i]);
        } else {
            append_lower_at(out, in, i);
        }
    }
    return utf8_encode(out);
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count) {
    std::string out;
    if (old.empty()) {
        const std::u32string u = utf8_decode(s);
        int64_t done = 0;
        for (size_t k = 0; k <= u.size(); ++k) {
            if (count < 0 || done < count) {
                out += repl;
                ++done;
            }
            if (k < u.size()) utf8_append(out, u[k]);
        }
        return out;
    }
    size_t start = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        const size_t k = s.find(old, start);
        if (k == std::string::npos) break;
        out.append(s, start, k - start);
        out += repl;
        start = k + old.size();
        ++done;
    }
    out.append(s, start, std::string::npos);
    return out;
}

bool all_chars(const std::string& s, bool (*pred)(char32_t)) {
    const std::u32string u = utf8_decode(s);
    if (u.empty()) return false;
    for (char32_t cp : u) {
        if (!pred(cp)) return false;
    }
    return true;
}

std::string py_center(const std::string& s, int64_t width, const std::string& fill) {
    const auto len = static_cast<int64_t>(utf8_length(s));
    if (width <= len) return s;
    const int64_t marg = width - len;
    const int64_t left = marg / 2 + (marg & width & 1);  // CPython's rounding
    std::string out;
    for (int64_t k = 0; k < left; ++k) out += fill;
    out += s;
    for (int64_t k = 0; k < marg - left; ++k) out += fill;
    return out;
}

int64_t find_sub(const std::string& s, const std::string& sub, bool from_right) {
    const size_t k = from_right ? s.rfind(sub) : s.find(sub);
    if (k == std::string::npos) return -1;
    return static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, k)));
}

Value str_method(const Value& self, std::string_view name, Args& a) {
    const std::string& s = self.str();
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        auto p = a.bind(name, {"chars"});
        return Value(strip(s, strip_chars(p[0], name), name != "rstrip", name != "lstrip"));
    }
    if (name == "split" || name == "rsplit") {
        auto p = a.bind(name, {"sep", "maxsplit"});
        return split(s, p[0], arg_int(p[1], -1), name == "rsplit");
    }
    if (name == "startswith" || name == "endswith") {
        auto p = a.bind(name, {"prefix", "start", "end"});
        return Value(affix_match(self, p[0], p[1], p[2], name == "endswith"));
    }
    if (name == "upper") return Value(to_upper(s));
    if (name == "lower" || name == "casefold") return Value(to_lower(s));
    if (name == "title") return Value(py_title(s));
    if (name == "capitalize") return Value(py_capitalize(s));
    if (name == "swapcase") {
        const std::u32string in = utf8_decode(s);
        std::u32string out;
        for (size_t i = 0; i < in.size(); ++i) {
            if (is_upper(in[i])) {
                append_lower_at(out, in, i);
            } else if (is_lower(in[i])) {
                append_upper(out, in[i]);
            } else {
                out.push_back(in[i]);
            }
        }
        return Value(utf8_encode(out));
    }
    if (name == "replace") {
        auto p = a.bind(name, {"old", "new", "count"});
        if (!p[0] || !p[1]) raise("TypeError", "replace() takes at least 2 arguments");
        return Value(py_replace(s, arg_str(*p[0], name), arg_str(*p[1], name), arg_int(p[2], -1)));
    }
    if (name == "format") return Value(str_format(s, a));
    if (name == "join") {
        auto p = a.bind(name, {"iterable"});
        if (!p[0]) raise("TypeError", "join() takes exactly one argument (0 given)");
        std::string out;
        size_t k = 0;
        for (const Value& item : iterate(*p[0])) {
            if (!item.is_string()) {
                raise("TypeError",
                      str_cat("sequence item ", k, ": expected str instance, ", type_name(item), " found"));
            }
            if (k++) out += s;
            out += item.str();
        }
        return Value(std::move(out));
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
        auto p = a.bind(name, {"sub"});
        if (!p[0]) raise("TypeError", str_cat(name, "() takes at least 1 argument (0 given)"));
        const std::string& sub = arg_str(*p[0], name);
        if (name == "count") {
            if (sub.empty()) return Value(static_cast<int64_t>(utf8_length(s) + 1));
            int64_t n = 0;
            for (size_t k = s.find(sub); k != std::string::npos; k = s.find(sub, k + sub.size())) ++n;
            return Value(n);
        }
        const int64_t at = find_sub(s, sub, name[0] == 'r');
        if (at < 0 && (name == "index" || name == "rindex")) raise("ValueError", "substring not found");
        return Value(at);
    }
    if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") return Value(all_chars(s, is_digit));
    if (name == "isalpha") return Value(all_chars(s, is_alpha));
    if (name == "isalnum") return Value(all_chars(s, [](char32_t c) { return is_word_char(c) && c != '_'; }));
    if (name == "isspace") return Value(all_chars(s, is_space));
    if (name == "islower" || name == "isupper") {
        // Every cased character must have the asked case (titlecase letters have neither), and one must exist.
        bool cased = false;
        for (char32_t cp : utf8_decode(s)) {
            if (!is_cased(cp)) continue;
            if (name == "islower" ? !is_lower(cp) : !is_upper(cp)) return Value(false);
            cased = true;
        }
        return Value(cased);
    }
    if (name == "splitlines") {
        auto p = a.bind(name, {"keepends"});
        const bool keep = p[0] && truthy(*p[0]);
        const std::u32string u = utf8_decode(s);
        std::vector<Value> lines;
        size_t start = 0;
        for (size_t k = 0; k < u.size(); ++k) {
            if (!is_line_break(u[k])) continue;
            size_t end = k + 1;
            if (u[k] == '\r' && k + 1 < u.size() && u[k + 1] == '\n') end = k + 2;
            lines.emplace_back(utf8_encode(u.substr(start, (keep ? end : k) - start)));
            start = end;
            k = end - 1;
        }
        if (start < u.size()) lines.emplace_back(utf8_encode(u.substr(start)));
        return Value::list(std::move(lines));
    }
    if (name == "center" || name == "ljust" || name == "rjust" || name == "zfill") {
        auto p = a.bind(name, {"width", "fillchar"});
        const int64_t width = arg_int(p[0], 0);
        std::string fill = " ";
        if (p[1]) fill = arg_str(*p[1], name);
        if (utf8_length(fill) != 1) raise("TypeError", "The fill character must be exactly one character long");
        const auto len = static_cast<int64_t>(utf8_length(s));
        if (width <= len) return self;
        std::string pad;
        for (int64_t k = 0; k < width - len; ++k) pad += name == "zfill" ? "0" : fill;
        if (name == "center") return Value(py_center(s, width, fill));
        if (name == "ljust") return Value(s + pad);
        if (name == "zfill" && !s.empty() && (s[0] == '-' || s[0] == '+'))
            return Value(s.substr(0, 1) + pad + s.substr(1));
        return Value(pad + s);
    }
    if (name == "partition" || name == "rpartition") {
        auto p = a.bind(name, {"sep"});
        if (!p[0]) raise("TypeError", str_cat(name, "() takes exactly one argument (0 given)"));
        const std::string& sep = arg_str(*p[0], name);
        if (sep.empty()) raise("ValueError", "empty separator");
        const size_t k = name == "partition" ? s.find(sep) : s.rfind(sep);
        if (k == std::string::npos) {
            if (name == "partition") return Value::list({Value(s), Value(""), Value("")}, SeqKind::kTuple);
            return Value::list({Value(""), Value(""), Value(s)}, SeqKind::kTuple);
        }
        return Value::list({Value(s.substr(0, k)), Value(sep), Value(s.substr(k + sep.size()))}, SeqKind::kTuple);
    }
    if (name == "removeprefix" || name == "removesuffix") {
        auto p = a.bind(name, {"affix"});
        if (!p[0]) raise("TypeError", str_cat(name, "() takes exactly one argument (0 given)"));
        const std::string& x = arg_str(*p[0], name);
        if (name == "removeprefix" && s.starts_with(x)) return Value(s.substr(x.size()));
        if (name == "removesuffix" && !x.empty() && s.ends_with(x)) return Value(s.substr(0, s.size() - x.size()));
        return self;
    }
    raise("AttributeError", str_cat("'str' object has no attribute '", name, "'"));
}

Value list_method(const Value& self, std::string_view name, Args& a) {
    if (name == "copy") return Value::list(self.items(), self.seq_kind());
    auto p = a.bind(name, {"value"});
    if (!p[0]) raise("TypeError", str_cat(name, "() takes exactly one argument (0 given)"));
    int64_t k = 0;
    int64_t n = 0;
    for (const Value& item : self.items()) {
        if (equals(item, *p[0])) {
            if (name == "index") return Value(k);
            ++n;
        }
        ++k;
    }
    if (name == "index") raise("ValueError", str_cat(repr(*p[0]), " is not in list"));
    return Value(n);
}

Value dict_method(const Value& self, std::string_view name, Args& a) {
    const Dict& d = self.map();
    if (name == "items" || name == "keys" || name == "values") {
        a.bind(name, {});
        std::vector<Value> out;
        out.reserve(d.items.size());
        for (const auto& [k, v] : d.items) {
            if (name == "items") {
                out.push_back(Value::list({k, v}, SeqKind::kTuple));
            } else {
                out.push_back(name == "keys" ? k : v);
            }
        }
        const SeqKind kind =
            name == "items" ? SeqKind::kDictItems : (name == "keys" ? SeqKind::kDictKeys : SeqKind::kDictValues);
        return Value::list(std::move(out), kind);
    }
    if (name == "get") {
        auto p = a.bind(name, {"key", "default"});
        if (!p[0]) raise("TypeError", "get expected at least 1 argument, got 0");
        if (!hashable(*p[0])) raise("TypeError", str_cat("unhashable type: '", type_name(*p[0]), "'"));
        if (const Value* v = d.find(*p[0])) return *v;
        return p[1] ? *p[1] : Value::none();
    }
    return Value::dict(d);  // copy
}

Value bind_method(const Value& self, std::string name, Value (*impl)(const Value&, std::string_view, Args&)) {
    std::string repr = "<built-in method " + name + " of " + type_name(self) + " object at 0x7f0000000000>";
    return Value::callable(
        name, [self, name, impl](Args& a) { return impl(self, name, a); }, repr);
}

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
    for (std::string_view n : names) {
        if (n == name) return true;
    }
    return false;
}

Value unsafe(const Value& obj, std::string_view name) {
    return Value::undefined(str_cat("access to attribute '", name, "' of '", type_name(obj), "' object is unsafe."),
                            true);
}

}  // namespace

std::optional<Value> find_method(const Value& obj, std::string_view name) {
    if (obj.is_string()) {
        if (one_of(name,
                   {"strip",      "lstrip",       "rstrip",      "split",   "rsplit",     "startswith", "endswith",
                    "upper",      "lower",        "casefold",    "title",   "capitalize", "swapcase",   "replace",
                    "format",     "join",         "find",        "rfind",   "index",      "rindex",     "count",
                    "isdigit",    "isdecimal",    "isnumeric",   "isalpha", "isalnum",    "isspace",    "islower",
                    "isupper",    "splitlines",   "center",      "ljust",   "rjust",      "zfill",      "partition",
                    "rpartition", "removeprefix", "removesuffix"})) {
            return bind_method(obj, std::string(name), str_method);
        }
        return std::nullopt;
    }
    if (obj.is_list()) {
        const SeqKind kind = obj.seq_kind();
        if (kind == SeqKind::kList || kind == SeqKind::kTuple) {
            if (one_of(name, {"index", "count"}) || (kind == SeqKind::kList && name == "copy")) {
                return bind_method(obj, std::string(name), list_method);
            }
            if (kind == SeqKind::kList &&
                one_of(name, {"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"})) {
                return unsafe(obj, name);
            }
        }
        return std::nullopt;
    }
    if (obj.is_dict()) {
        if (one_of(name, {"items", "keys", "values", "get", "copy"}))
            return bind_method(obj, std::string(name), dict_method);
        if (one_of(name, {"pop", "popitem", "setdefault", "update", "clear"})) return unsafe(obj, name);
    }
    return std::nullopt;
}

// ---- globals ------------------------------------------------------------------------------------------

namespace {

thread_local NamespaceArena* t_arena = nullptr;
thread_local std::vector<std::weak_ptr<Namespace>>* t_created = nullptr;

Value make_namespace(Args& a) {
    auto ns = std::make_shared<Namespace>();
    if (t_created) t_created->push_back(ns);
    if (a.pos.size() > 1) raise("TypeError", str_cat("namespace expected at most 1 argument, got ", a.pos.size()));
    if (!a.pos.empty()) {
        if (a.pos[0].is_dict()) {
            ns->attrs = a.pos[0].map();
        } else {
            for (const Value& pair : iterate(a.pos[0])) {
                const std::vector<Value> kv = iterate(pair);
                if (kv.size() != 2) raise("ValueError", "dictionary update sequence element has wrong length");
                ns->attrs.set(kv[0], kv[1]);
            }
        }
    }
    for (const auto& [k, v] : a.kw) ns->attrs.set(Value(k), v);
    return Value::ns(std::move(ns));
}

Value make_dict(Args& a) {
    Dict d;
    if (!a.pos.empty()) {
        if (a.pos[0].is_dict()) {
            d = a.pos[0].map();
        } else {
            for (const Value& pair : iterate(a.pos[0])) {
                const std::vector<Value> kv = iterate(pair);
                if (kv.size() != 2) raise("ValueError", "dictionary update sequence element has wrong length");
                d.set(kv[0], kv[1]);
            }
        }
    }
    for (const auto& [k, v] : a.kw) d.set(Value(k), v);
    return Value::dict(std::move(d));
}

Value make_range(Args& a) {
    if (!a.kw.empty()) raise("TypeError", "range() takes no keyword arguments");
    if (a.pos.empty() || a.pos.size() > 3)
        raise("TypeError", str_cat("range expected 1 to 3 arguments, got ", a.pos.size()));
    for (const Value& v : a.pos) {
        if (!v.is_integral())
            raise("TypeError", str_cat("'", type_name(v), "' object cannot be interpreted as an integer"));
    }
    int64_t start = 0;
    int64_t stop = 0;
    int64_t step = 1;
    if (a.pos.size() == 1) {
        stop = a.pos[0].as_int();
    } else {
        start = a.pos[0].as_int();
        stop = a.pos[1].as_int();
        if (a.pos.size() == 3) step = a.pos[2].as_int();
    }
    if (step == 0) raise("ValueError", "range() arg 3 must not be zero");
    // The sandbox's limit.
    const __int128 count = step > 0 ? (stop > start ? (static_cast<__int128>(stop) - start + step - 1) / step : 0)
                                    : (start > stop ? (static_cast<__int128>(start) - stop - step - 1) / -step : 0);
    if (count > 100000) {
        raise("OverflowError", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    }
    return Value::range(start, stop, step);
}

Value strftime_now(Args& a) {
    auto p = a.bind("strftime_now", {"format"});
    if (!p[0]) raise("TypeError", "strftime_now() missing 1 required positional argument: 'format'");
    const std::string& fmt = arg_str(*p[0], "strftime_now");
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    std::string out(fmt.size() * 4 + 64, '\0');
    // An empty result is ambiguous in strftime; a format that yields "" yields "" either way.
    const size_t n = fmt.empty() ? 0 : std::strftime(out.data(), out.size(), fmt.c_str(), &tm);
    out.resize(n);
    return Value(std::move(out));
}

Value make_joiner(Args& a) {
    auto p = a.bind("joiner", {"sep"});
    const std::string sep = p[0] ? to_str(*p[0]) : ", ";
    auto used = std::make_shared<bool>(false);
    return Value::callable("joiner", [sep, used](Args&) -> Value {
        if (!*used) {
            *used = true;
            return Value(std::string());
        }
        return Value(sep);
    });
}

}  // namespace

NamespaceArena::NamespaceArena() : previous_(t_arena) {
    t_arena = this;
    t_created = &created_;
}

NamespaceArena::~NamespaceArena() {
    for (const auto& weak : created_) {
        if (auto ns = weak.lock()) ns->attrs.items.clear();
    }
    t_arena = previous_;
    t_created = previous_ ? &previous_->created_ : nullptr;
}

std::optional<Value> find_global(std::string_view name) {
    if (name == "raise_exception") {
        return Value::callable(
            "raise_exception",
            [](Args& a) -> Value {
                auto p = a.bind("raise_exception", {"message"});
                if (!p[0]) raise("TypeError", "raise_exception() missing 1 required positional argument: 'message'");
                throw RenderError("TemplateError", to_str(*p[0]));
            },
            "<function raise_exception at 0x7f0000000000>");
    }
    if (name == "strftime_now")
        return Value::callable("strftime_now", strftime_now, "<function strftime_now at 0x7f0000000000>");
    if (name == "range") return Value::callable("range", make_range, "<class 'range'>");
    if (name == "dict") return Value::callable("dict", make_dict, "<class 'dict'>");
    if (name == "namespace") return Value::callable("namespace", make_namespace, "<class 'jinja2.utils.Namespace'>");
    if (name == "joiner") return Value::callable("joiner", make_joiner, "<class 'jinja2.utils.Joiner'>");
    return std::nullopt;
}

}  // namespace turbolm::jinja
