// Text formatting with Python's rules: json.dumps (HF's tojson filter), `str % args` and str.format().
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "chat/jinja_builtins.h"
#include "chat/jinja_unicode.h"

namespace turbolm::jinja {

// ---- json.dumps ---------------------------------------------------------------------------------------

namespace {

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
    out.push_back('"');
    char buf[16];
    for (char32_t cp : utf8_decode(s)) {
        switch (cp) {
            case '"':
                out += "\\\"";
                continue;
            case '\\':
                out += "\\\\";
                continue;
            case '\n':
                out += "\\n";
                continue;
            case '\r':
                out += "\\r";
                continue;
            case '\t':
                out += "\\t";
                continue;
            case '\b':
                out += "\\b";
                continue;
            case '\f':
                out += "\\f";
                continue;
            default:
                break;
        }
        if (cp < 0x20 || (ensure_ascii && cp >= 0x7F)) {
            if (cp > 0xFFFF) {
                const char32_t v = cp - 0x10000;
                std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                              static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
            } else {
                std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(cp));
            }
            out += buf;
        } else {
            utf8_append(out, cp);
        }
    }
    out.push_back('"');
}

std::string json_float(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return float_repr(d);
}

[[noreturn]] void not_serializable(const Value& v) {
    raise("TypeError", str_cat("Object of type ", type_name(v), " is not JSON serializable"));
}

class JsonWriter {
  public:
    explicit JsonWriter(const JsonOptions& o) : o_(o) {}

    void write(std::string& out, const Value& v, int level) {
        switch (v.type()) {
            case Value::Type::kNone:
                out += "null";
                return;
            case Value::Type::kBool:
                out += v.as_bool() ? "true" : "false";
                return;
            case Value::Type::kInt:
                out += std::to_string(v.as_int());
                return;
            case Value::Type::kFloat:
                out += json_float(v.as_double());
                return;
            case Value::Type::kString:
                json_string(out, v.str(), o_.ensure_ascii);
                return;
            case Value::Type::kList:
                if (v.seq_kind() != SeqKind::kList && v.seq_kind() != SeqKind::kTuple) not_serializable(v);
                write_list(out, v.items(), level);
                return;
            case Value::Type::kDict:
                write_dict(out, v.map(), level);
                return;
            default:
                not_serializable(v);
        }
    }

  private:
    void newline(std::string& out, int level) const {
        out.push_back('\n');
        for (int k = 0; k < level; ++k) out += *o_.indent;
    }

    void write_list(std::string& out, const std::vector<Value>& items, int level) {
        if (items.empty()) {
            out += "[]";
            return;
        }
        out.push_back('[');
        if (o_.indent) newline(out, level + 1);
        for (size_t k = 0; k < items.size(); ++k) {
            if (k) {
                out += o_.item_separator;
                if (o_.indent) newline(out, level + 1);
            }
            write(out, items[k], level + 1);
        }
        if (o_.indent) newline(out, level);
        out.push_back(']');
    }

    static std::string key_string(const Value& k) {
        switch (k.type()) {
            case Value::Type::kString:
                return k.str();
            case Value::Type::kNone:
                return "null";
            case Value::Type::kBool:
                return k.as_bool() ? "true" : "false";
            case Value::Type::kInt:
                return std::to_string(k.as_int());
            case Value::Type::kFloat:
                return json_float(k.as_double());
            default:
                raise("TypeError", str_cat("keys must be str, int, float, bool or None, not ", type_name(k)));
        }
    }

    void write_dict(std::string& out, const Dict& d, int level) {
        if (d.items.empty()) {
            out += "{}";
            return;
        }
        std::vector<const std::pair<Value, Value>*> items;
        for (const auto& kv : d.items) items.push_back(&kv);
        if (o_.sort_keys) {
            std::stable_sort(items.begin(), items.end(),
                             [](const auto* a, const auto* b) { return compare(a->first, b->first, "<"); });
        }
        out.push_back('{');
        if (o_.indent) newline(out, level + 1);
        for (size_t k = 0; k < items.size(); ++k) {
            if (k) {
                out += o_.item_separator;
                if (o_.indent) newline(out, level + 1);
            }
            json_string(out, key_string(items[k]->first), o_.ensure_ascii);
            out += o_.key_separator;
            write(out, items[k]->second, level + 1);
        }
        if (o_.indent) newline(out, level);
        out.push_back('}');
    }

    const JsonOptions& o_;
};

}  // namespace

std::string json_dumps(const Value& v, const JsonOptions& options) {
    std::string out;
    JsonWriter(options).write(out, v, 0);
    return out;
}

// ---- shared padding helpers ---------------------------------------------------------------------------

namespace {

// Pads s to width code points: align is '<', '>', '^' or '=' (sign-aware, for numbers).
std::string pad(const std::string& s, int64_t width, char32_t fill, char align) {
    const auto len = static_cast<int64_t>(utf8_length(s));
    if (width <= len) return s;
    const int64_t total = width - len;
    std::string fill_str;
    utf8_append(fill_str, fill);
    auto fills = [&](int64_t n) {
        std::string f;
        for (int64_t k = 0; k < n; ++k) f += fill_str;
        return f;
    };
    if (align == '<') return s + fills(total);
    if (align == '^') return fills(total / 2) + s + fills(total - total / 2);
    if (align == '=') {
        size_t sign_len = 0;
        if (!s.empty() && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) sign_len = 1;
        if (s.size() >= sign_len + 2 && s[sign_len] == '0' &&
            (s[sign_len + 1] == 'x' || s[sign_len + 1] == 'X' || s[sign_len + 1] == 'o' || s[sign_len + 1] == 'b')) {
            sign_len += 2;
        }
        return s.substr(0, sign_len) + fills(total) + s.substr(sign_len);
    }
    return fills(total) + s;
}

std::string format_int_base(int64_t v, char type, bool alternate) {
    const bool neg = v < 0;
    uint64_t u = neg ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    const int base = (type == 'x' || type == 'X') ? 16 : (type == 'o' ? 8 : (type == 'b' ? 2 : 10));
    const char* digits = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string s;
    do {
        s.push_back(digits[u % static_cast<uint64_t>(base)]);
        u /= static_cast<uint64_t>(base);
    } while (u);
    std::reverse(s.begin(), s.end());
    if (alternate && base != 10) s = std::string("0") + (type == 'X' ? 'X' : type) + s;
    return (neg ? "-" : "") + s;
}

std::string format_double(double d, char type, int precision, bool alternate) {
    if (std::isnan(d) || std::isinf(d)) {
        std::string s = std::isnan(d) ? "nan" : (d > 0 ? "inf" : "-inf");
        return (type == 'E' || type == 'F' || type == 'G') ? to_upper(s) : s;
    }
    char fmt[16];
    std::snprintf(fmt, sizeof(fmt), "%%%s.%d%c", alternate ? "#" : "", std::min(precision, 1000), type);
    const int n = std::snprintf(nullptr, 0, fmt, d);
    std::string out(static_cast<size_t>(n) + 1, '\0');
    std::snprintf(out.data(), out.size(), fmt, d);
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string group_thousands(const std::string& digits, char sep) {
    // digits: optional sign then integer digits then optional fraction.
    size_t start = (!digits.empty() && (digits[0] == '-' || digits[0] == '+' || digits[0] == ' ')) ? 1 : 0;
    size_t end = digits.find_first_not_of("0123456789", start);
    if (end == std::string::npos) end = digits.size();
    std::string out = digits.substr(0, start);
    const size_t n = end - start;
    for (size_t k = 0; k < n; ++k) {
        if (k && (n - k) % 3 == 0) out.push_back(sep);
        out.push_back(digits[start + k]);
    }
    return out + digits.substr(end);
}

}  // namespace

// ---- str % args ---------------------------------------------------------------------------------------

std::string percent_format(const std::string& format, const Value& args) {
    std::vector<Value> positional;
    const Dict* mapping = nullptr;
    if (args.is_list() && args.seq_kind() == SeqKind::kTuple) {
        positional = args.items();
    } else {
        if (args.is_dict()) mapping = &args.map();
        positional.push_back(args);
    }
    size_t next_arg = 0;
    bool used_mapping = false;
    auto take = [&]() -> const Value& {
        if (next_arg >= positional.size()) raise("TypeError", "not enough arguments for format string");
        return positional[next_arg++];
    };
    std::string out;
    size_t i = 0;
    while (i < format.size()) {
        const char c = format[i];
        if (c != '%') {
            out.push_back(c);
            ++i;
            continue;
        }
        ++i;
        if (i >= format.size()) raise("ValueError", "incomplete format");
        const Value* keyed = nullptr;
        if (format[i] == '(') {
            const size_t close = format.find(')', i);
            if (close == std::string::npos) raise("ValueError", "incomplete format key");
            if (!mapping) raise("TypeError", "format requires a mapping");
            keyed = mapping->find(std::string_view(format).substr(i + 1, close - i - 1));
            if (!keyed) raise("KeyError", string_repr(format.substr(i + 1, close - i - 1)));
            used_mapping = true;
            i = close + 1;
        }
        bool left = false, plus = false, space = false, alternate = false, zero = false;
        for (; i < format.size(); ++i) {
            const char f = format[i];
            if (f == '-')
                left = true;
            else if (f == '+')
                plus = true;
            else if (f == ' ')
                space = true;
            else if (f == '#')
                alternate = true;
            else if (f == '0')
                zero = true;
            else
                break;
        }
        int64_t width = 0;
        if (i < format.size() && format[i] == '*') {
            width = take().as_int();
            ++i;
        }
        while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i])))
            width = width * 10 + (format[i++] - '0');
        int precision = -1;
        if (i < format.size() && format[i] == '.') {
            ++i;
            precision = 0;
            if (i < format.size() && format[i] == '*') {
                precision = static_cast<int>(take().as_int());
                ++i;
            }
            while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) {
                precision = precision * 10 + (format[i++] - '0');
            }
        }
        while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
        if (i >= format.size()) raise("ValueError", "incomplete format");
        const char type = format[i++];
        if (type == '%') {
            out.push_back('%');
            continue;
        }
        const Value& v = keyed ? *keyed : take();
        std::string s;
        bool numeric = false;
        switch (type) {
            case 's':
            case 'r':
            case 'a':
                s = type == 's' ? to_str(v) : repr(v);
                if (precision >= 0) s = utf8_encode(utf8_decode(s).substr(0, static_cast<size_t>(precision)));
                break;
            case 'd':
            case 'i':
            case 'u':
            case 'x':
            case 'X':
            case 'o': {
                if (!v.is_number() || (v.is_float() && type != 'd' && type != 'i' && type != 'u')) {
                    raise("TypeError", str_cat("%", type, " format: a real number is required, not ", type_name(v)));
                }
                const int64_t n = v.is_float() ? static_cast<int64_t>(std::trunc(v.as_double())) : v.as_int();
                s = format_int_base(n, (type == 'i' || type == 'u') ? 'd' : type, alternate);
                numeric = true;
                break;
            }
            case 'e':
            case 'E':
            case 'f':
            case 'F':
            case 'g':
            case 'G':
                if (!v.is_number()) raise("TypeError", str_cat("must be real number, not ", type_name(v)));
                s = format_double(v.as_double(), type, precision < 0 ? 6 : precision, alternate);
                numeric = true;
                break;
            case 'c':
                if (v.is_string() && utf8_length(v.str()) == 1) {
                    s = v.str();
                } else if (v.is_integral()) {
                    utf8_append(s, static_cast<char32_t>(v.as_int()));
                } else {
                    raise("TypeError", "%c requires int or char");
                }
                break;
            default:
                raise("ValueError", str_cat("unsupported format character '", type, "'"));
        }
        if (numeric && s[0] != '-' && (plus || space)) s = (plus ? "+" : " ") + s;
        out += pad(s, width, (zero && numeric && !left) ? '0' : ' ', left ? '<' : ((zero && numeric) ? '=' : '>'));
    }
    // Python skips this check when the single argument supports indexing (dict, list, range).
    const bool indexable = args.is_dict() || (is_indexable_seq(args) && args.seq_kind() != SeqKind::kTuple);
    if (!used_mapping && next_arg < positional.size() && !indexable) {
        raise("TypeError", "not all arguments converted during string formatting");
    }
    return out;
}

// ---- str.format ---------------------------------------------------------------------------------------

namespace {

std::string apply_spec(const Value& v, const std::string& spec) {
    if (spec.empty()) return to_str(v);
    const std::u32string sp = utf8_decode(spec);
    size_t i = 0;
    char32_t fill = ' ';
    char align = 0;
    auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
    if (sp.size() >= 2 && is_align(sp[1])) {
        fill = sp[0];
        align = static_cast<char>(sp[1]);
        i = 2;
    } else if (!sp.empty() && is_align(sp[0])) {
        align = static_cast<char>(sp[0]);
        i = 1;
    }
    char sign = '-';
    if (i < sp.size() && (sp[i] == '+' || sp[i] == '-' || sp[i] == ' ')) sign = static_cast<char>(sp[i++]);
    bool alternate = false;
    if (i < sp.size() && sp[i] == '#') {
        alternate = true;
        ++i;
    }
    if (i < sp.size() && sp[i] == '0') {
        if (!align) {
            fill = '0';
            align = '=';
        }
        ++i;
    }
    int64_t width = 0;
    while (i < sp.size() && sp[i] >= '0' && sp[i] <= '9') width = width * 10 + (sp[i++] - '0');
    char grouping = 0;
    if (i < sp.size() && (sp[i] == ',' || sp[i] == '_')) grouping = static_cast<char>(sp[i++]);
    int precision = -1;
    if (i < sp.size() && sp[i] == '.') {
        ++i;
        precision = 0;
        while (i < sp.size() && sp[i] >= '0' && sp[i] <= '9')
            precision = precision * 10 + static_cast<int>(sp[i++] - '0');
    }
    char type = 0;
    if (i < sp.size()) type = static_cast<char>(sp[i++]);
    if (i != sp.size()) raise("ValueError", "Invalid format specifier");

    std::string body;
    if (v.is_string() || (!v.is_number())) {
        if (!v.is_string() && !spec.empty()) {
            raise("TypeError", str_cat("unsupported format string passed to ", type_name(v), ".__format__"));
        }
        if (type && type != 's')
            raise("ValueError", str_cat("Unknown format code '", type, "' for object of type 'str'"));
        body = v.str();
        if (precision >= 0) body = utf8_encode(utf8_decode(body).substr(0, static_cast<size_t>(precision)));
        return pad(body, width, fill, align ? align : '<');
    }
    const bool as_int = v.is_integral() && (type == 0 || type == 'd' || type == 'x' || type == 'X' || type == 'o' ||
                                            type == 'b' || type == 'n' || type == 'c');
    if (as_int) {
        if (type == 'c') {
            utf8_append(body, static_cast<char32_t>(v.as_int()));
        } else if (type == 0 && v.is_bool() && spec.empty()) {
            body = to_str(v);
        } else {
            body = format_int_base(v.as_int(), (type == 0 || type == 'n') ? 'd' : type, alternate);
        }
    } else {
        if (type && type != 'e' && type != 'E' && type != 'f' && type != 'F' && type != 'g' && type != 'G' &&
            type != '%' && type != 'n') {
            raise("ValueError", str_cat("Unknown format code '", type, "' for object of type 'float'"));
        }
        const double d = v.as_double();
        if (type == '%') {
            body = format_double(d * 100, 'f', precision < 0 ? 6 : precision, alternate) + "%";
        } else if (type == 0 && precision < 0) {
            body = float_repr(d);
        } else if (type == 0) {
            body = format_double(d, 'g', precision == 0 ? 1 : precision, alternate);
            if (body.find_first_of(".en") == std::string::npos) body += ".0";
        } else {
            body = format_double(d, type == 'n' ? 'g' : type, precision < 0 ? 6 : precision, alternate);
        }
    }
    if (grouping) body = group_thousands(body, grouping);
    if (body[0] != '-' && sign != '-') body = std::string(1, sign) + body;
    return pad(body, width, fill, align ? align : '>');
}

Value format_field(const std::string& field, const Args& args, size_t* auto_index, bool* used_auto, bool* used_manual) {
    size_t k = 0;
    while (k < field.size() && field[k] != '.' && field[k] != '[') ++k;
    const std::string name = field.substr(0, k);
    Value v;
    if (name.empty()) {
        if (*used_manual)
            raise("ValueError", "cannot switch from manual field specification to automatic field numbering");
        *used_auto = true;
        const size_t idx = (*auto_index)++;
        if (idx >= args.pos.size())
            raise("IndexError", str_cat("Replacement index ", idx, " out of range for positional args tuple"));
        v = args.pos[idx];
    } else if (std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (*used_auto)
            raise("ValueError", "cannot switch from automatic field numbering to manual field specification");
        *used_manual = true;
        const size_t idx = std::stoul(name);
        if (idx >= args.pos.size())
            raise("IndexError", str_cat("Replacement index ", idx, " out of range for positional args tuple"));
        v = args.pos[idx];
    } else {
        const Value* kv = args.kwarg(name);
        if (!kv) raise("KeyError", string_repr(name));
        v = *kv;
    }
    while (k < field.size()) {
        if (field[k] == '.') {
            size_t e = k + 1;
            while (e < field.size() && field[e] != '.' && field[e] != '[') ++e;
            v = get_attr(v, field.substr(k + 1, e - k - 1));
            k = e;
        } else {
            const size_t close = field.find(']', k);
            if (close == std::string::npos) raise("ValueError", "Missing ']' in format string");
            const std::string key = field.substr(k + 1, close - k - 1);
            const bool digits =
                !key.empty() && std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
            v = get_item(v, digits ? Value(static_cast<int64_t>(std::stoll(key))) : Value(key));
            k = close + 1;
        }
    }
    return v;
}

}  // namespace

std::string str_format(const std::string& format, const Args& args) {
    std::string out;
    size_t auto_index = 0;
    bool used_auto = false;
    bool used_manual = false;
    size_t i = 0;
    while (i < format.size()) {
        const char c = format[i];
        if (c == '}') {
            if (i + 1 < format.size() && format[i + 1] == '}') {
                out.push_back('}');
                i += 2;
                continue;
            }
            raise("ValueError", "Single '}' encountered in format string");
        }
        if (c != '{') {
            out.push_back(c);
            ++i;
            continue;
        }
        if (i + 1 < format.size() && format[i + 1] == '{') {
            out.push_back('{');
            i += 2;
            continue;
        }
        // Find the matching '}' allowing one level of nested fields in the spec.
        size_t depth = 1;
        size_t j = i + 1;
        for (; j < format.size() && depth; ++j) {
            if (format[j] == '{') ++depth;
            if (format[j] == '}') --depth;
        }
        if (depth) raise("ValueError", "expected '}' before end of string");
        std::string field = format.substr(i + 1, j - i - 2);
        i = j;
        std::string spec;
        char conversion = 0;
        const size_t colon = field.find(':');
        if (colon != std::string::npos) {
            spec = field.substr(colon + 1);
            field.resize(colon);
        }
        const size_t bang = field.find('!');
        if (bang != std::string::npos) {
            if (bang + 2 != field.size()) raise("ValueError", "expected ':' after conversion specifier");
            conversion = field[bang + 1];
            field.resize(bang);
        }
        if (spec.find('{') != std::string::npos) spec = str_format(spec, args);
        Value v = format_field(field, args, &auto_index, &used_auto, &used_manual);
        if (conversion == 'r' || conversion == 'a') {
            v = Value(repr(v));
        } else if (conversion == 's') {
            v = Value(to_str(v));
        } else if (conversion) {
            raise("ValueError", str_cat("Unknown conversion specifier ", conversion));
        }
        out += apply_spec(v, spec);
    }
    return out;
}

}  // namespace turbolm::jinja
