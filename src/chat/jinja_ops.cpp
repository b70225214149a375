// Python operators, subscripts and attribute access as jinja2's sandbox performs them.
#include <cmath>
#include <limits>

#include "chat/jinja_builtins.h"
#include "chat/jinja_unicode.h"

namespace turbolm::jinja {

namespace {

[[noreturn]] void overflow() {
    raise("OverflowError", "integer overflow (template integers are limited to 64 bits)");
}

Value undefined_attr(const Value& obj, std::string_view name) {
    return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + std::string(name) + "'");
}

Value undefined_element(const Value& obj, const Value& key) {
    return Value::undefined(str_cat(object_type_repr(obj), " has no element ", repr(key)));
}

Value loop_attr(const Value& loop, std::string_view name) {
    LoopInfo& info = loop.loop_ref();
    const auto n = static_cast<int64_t>(info.items->size());
    const auto i = static_cast<int64_t>(info.index0);
    if (name == "index") return Value(i + 1);
    if (name == "index0") return Value(i);
    if (name == "revindex") return Value(n - i);
    if (name == "revindex0") return Value(n - i - 1);
    if (name == "first") return Value(i == 0);
    if (name == "last") return Value(i == n - 1);
    if (name == "length") return Value(n);
    if (name == "depth") return Value(info.depth0 + 1);
    if (name == "depth0") return Value(info.depth0);
    if (name == "previtem") {
        if (i == 0) return Value::undefined("there is no previous item");
        return (*info.items)[static_cast<size_t>(i - 1)];
    }
    if (name == "nextitem") {
        if (i + 1 >= n) return Value::undefined("there is no next item");
        return (*info.items)[static_cast<size_t>(i + 1)];
    }
    if (name == "cycle") {
        return Value::callable("cycle", [loop](Args& args) -> Value {
            if (args.pos.empty()) raise("TypeError", "no items for cycling given");
            return args.pos[loop.loop_ref().index0 % args.pos.size()];
        });
    }
    if (name == "changed") {
        return Value::callable("changed", [loop](Args& args) -> Value {
            LoopInfo& li = loop.loop_ref();
            bool same = li.changed_called && li.changed_last.size() == args.pos.size();
            for (size_t k = 0; same && k < args.pos.size(); ++k) same = equals(li.changed_last[k], args.pos[k]);
            li.changed_called = true;
            li.changed_last = args.pos;
            return Value(!same);
        });
    }
    return undefined_attr(loop, name);
}

// Python's slice.indices(): clamps start/stop for a sequence of length n.
struct SliceRange {
    int64_t start;
    int64_t stop;
    int64_t step;
    int64_t count;
};

int64_t slice_bound(const Value* v, const char* what) {
    if (!v->is_integral()) {
        raise("TypeError", str_cat("slice indices must be integers or None or have an __index__ method (", what, " is ",
                                   type_name(*v), ")"));
    }
    return v->as_int();
}

SliceRange slice_range(int64_t n, const Value* start_v, const Value* stop_v, const Value* step_v) {
    int64_t step = 1;
    if (step_v && !step_v->is_none()) step = slice_bound(step_v, "step");
    if (step == 0) raise("ValueError", "slice step cannot be zero");
    const int64_t lo = step < 0 ? -1 : 0;
    const int64_t hi = step < 0 ? n - 1 : n;
    auto adjust = [&](const Value* v, int64_t dflt, const char* what) {
        if (!v || v->is_none()) return dflt;
        int64_t x = slice_bound(v, what);
        if (x < 0) {
            x += n;
            if (x < 0) x = lo;
        } else if (x >= n) {
            x = hi;
        }
        return x;
    };
    const int64_t start = adjust(start_v, step < 0 ? hi : lo, "start");
    const int64_t stop = adjust(stop_v, step < 0 ? lo : hi, "stop");
    int64_t count = 0;
    if (step < 0) {
        if (stop < start) count = (start - stop - 1) / (-step) + 1;
    } else if (start < stop) {
        count = (stop - start - 1) / step + 1;
    }
    return {start, stop, step, count};
}

int64_t checked_add(int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) overflow();
    return r;
}
int64_t checked_sub(int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_sub_overflow(a, b, &r)) overflow();
    return r;
}
int64_t checked_mul(int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) overflow();
    return r;
}

int64_t floor_div(int64_t a, int64_t b) {
    if (b == 0) raise("ZeroDivisionError", "integer division or modulo by zero");
    if (a == std::numeric_limits<int64_t>::min() && b == -1) overflow();
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

int64_t floor_mod(int64_t a, int64_t b) {
    if (b == 0) raise("ZeroDivisionError", "integer division or modulo by zero");
    if (b == -1) return 0;
    int64_t m = a % b;
    if (m != 0 && ((m < 0) != (b < 0))) m += b;
    return m;
}

// CPython's float_divmod.
void float_divmod(double vx, double wx, double* div_out, double* mod_out) {
    double mod = std::fmod(vx, wx);
    double div = (vx - mod) / wx;
    if (mod != 0.0) {
        if ((wx < 0) != (mod < 0)) {
            mod += wx;
            div -= 1.0;
        }
    } else {
        mod = std::copysign(0.0, wx);
    }
    double floordiv = 0;
    if (div != 0.0) {
        floordiv = std::floor(div);
        if (div - floordiv > 0.5) floordiv += 1.0;
    } else {
        floordiv = std::copysign(0.0, vx / wx);
    }
    *div_out = floordiv;
    *mod_out = mod;
}

Value repeat(const Value& seq, int64_t times) {
    if (times <= 0) return seq.is_string() ? Value(std::string()) : Value::list({}, seq.seq_kind());
    if (seq.is_string()) {
        const size_t unit = seq.str().size();
        if (unit && static_cast<uint64_t>(times) > kMaxContainerSize / unit)
            raise("MemoryError", "repeated string is too large");
        std::string out;
        out.reserve(unit * static_cast<size_t>(times));
        for (int64_t k = 0; k < times; ++k) out += seq.str();
        return Value(std::move(out));
    }
    const size_t unit = seq.items().size();
    if (unit && static_cast<uint64_t>(times) > kMaxContainerSize / 16 / unit)
        raise("MemoryError", "repeated list is too large");
    std::vector<Value> out;
    for (int64_t k = 0; k < times; ++k) out.insert(out.end(), seq.items().begin(), seq.items().end());
    return Value::list(std::move(out), seq.seq_kind());
}

// list and tuple: the sequences + and * apply to.
bool is_plain_seq(const Value& v) {
    return v.is_list() && (v.seq_kind() == SeqKind::kList || v.seq_kind() == SeqKind::kTuple);
}

[[noreturn]] void unsupported(std::string_view op, const Value& a, const Value& b) {
    raise("TypeError",
          str_cat("unsupported operand type(s) for ", op, ": '", type_name(a), "' and '", type_name(b), "'"));
}

Value power(const Value& a, const Value& b) {
    if (a.is_integral() && b.is_integral() && b.as_int() >= 0) {
        int64_t base = a.as_int();
        int64_t exp = b.as_int();
        int64_t result = 1;
        while (exp > 0) {
            if (exp & 1) result = checked_mul(result, base);
            exp >>= 1;
            if (exp > 0) base = checked_mul(base, base);
        }
        return Value(result);
    }
    const double x = a.as_double();
    const double y = b.as_double();
    if (x == 0.0 && y < 0) raise("ZeroDivisionError", "0.0 cannot be raised to a negative power");
    if (x < 0 && y != std::floor(y)) raise("ValueError", "a negative number raised to a fractional power is complex");
    const double r = std::pow(x, y);
    if (std::isinf(r) && std::isfinite(x) && std::isfinite(y))
        raise("OverflowError", "(34, 'Numerical result out of range')");
    return Value(r);
}

}  // namespace

Value get_attr(const Value& obj, std::string_view name) {
    if (obj.is_undefined()) raise_undefined(obj);
    if (name.size() > 1 && name[0] == '_' && name[1] == '_') {
        return Value::undefined(str_cat("access to attribute '", name, "' of '", type_name(obj), "' object is unsafe."),
                                true);
    }
    switch (obj.type()) {
        case Value::Type::kDict: {
            if (auto m = find_method(obj, name)) return *m;
            if (const Value* v = obj.map().find(name)) return *v;
            return undefined_attr(obj, name);
        }
        case Value::Type::kString:
        case Value::Type::kList:
            if (auto m = find_method(obj, name)) return *m;
            return undefined_attr(obj, name);
        case Value::Type::kNamespace:
            if (const Value* v = obj.ns_ref().attrs.find(name)) return *v;
            return undefined_attr(obj, name);
        case Value::Type::kLoop:
            return loop_attr(obj, name);
        default:
            return undefined_attr(obj, name);
    }
}

Value get_item(const Value& obj, const Value& key) {
    if (obj.is_undefined()) raise_undefined(obj);
    switch (obj.type()) {
        case Value::Type::kDict: {
            if (hashable(key)) {
                if (const Value* v = obj.map().find(key)) return *v;
            }
            break;
        }
        case Value::Type::kList: {
            if (!is_indexable_seq(obj) || !key.is_integral()) break;
            const auto n = static_cast<int64_t>(obj.items().size());
            int64_t i = key.as_int();
            if (i < 0) i += n;
            if (i >= 0 && i < n) return obj.items()[static_cast<size_t>(i)];
            return undefined_element(obj, key);
        }
        case Value::Type::kString: {
            if (!key.is_integral()) break;
            const std::u32string s = utf8_decode(obj.str());
            const auto n = static_cast<int64_t>(s.size());
            int64_t i = key.as_int();
            if (i < 0) i += n;
            if (i >= 0 && i < n) return Value(utf8_encode(s.substr(static_cast<size_t>(i), 1)));
            return undefined_element(obj, key);
        }
        default:
            break;
    }
    if (key.is_string()) {
        if (obj.is_dict()) {
            if (auto m = find_method(obj, key.str())) return *m;
            return undefined_attr(obj, key.str());
        }
        return get_attr(obj, key.str());
    }
    return undefined_element(obj, key);
}

// jinja2 compiles slices to a plain Python subscript (not the sandbox's getitem), so failures raise.
Value get_slice(const Value& obj, const Value* start, const Value* stop, const Value* step) {
    if (obj.is_undefined()) raise_undefined(obj);
    if (obj.is_dict()) raise("TypeError", "unhashable type: 'slice'");
    if (!obj.is_string() && !is_indexable_seq(obj)) {
        raise("TypeError", str_cat("'", type_name(obj), "' object is not subscriptable"));
    }
    if (obj.is_string()) {
        const std::u32string s = utf8_decode(obj.str());
        const SliceRange r = slice_range(static_cast<int64_t>(s.size()), start, stop, step);
        std::u32string out;
        out.reserve(static_cast<size_t>(r.count));
        for (int64_t k = 0, i = r.start; k < r.count; ++k, i += r.step) out.push_back(s[static_cast<size_t>(i)]);
        return Value(utf8_encode(out));
    }
    const auto& items = obj.items();
    const SliceRange r = slice_range(static_cast<int64_t>(items.size()), start, stop, step);
    if (obj.seq_kind() == SeqKind::kRange) {
        const List& l = obj.seq();
        return Value::range(l.range_start + r.start * l.range_step, l.range_start + r.stop * l.range_step,
                            l.range_step * r.step);
    }
    {
        std::vector<Value> out;
        out.reserve(static_cast<size_t>(r.count));
        for (int64_t k = 0, i = r.start; k < r.count; ++k, i += r.step) out.push_back(items[static_cast<size_t>(i)]);
        return Value::list(std::move(out), obj.seq_kind());
    }
}

Value binary_op(std::string_view op, const Value& a, const Value& b) {
    if (a.is_undefined()) raise_undefined(a);
    if (b.is_undefined()) raise_undefined(b);
    const bool ints = a.is_integral() && b.is_integral();
    const bool nums = a.is_number() && b.is_number();
    if (op == "+") {
        if (ints) return Value(checked_add(a.as_int(), b.as_int()));
        if (nums) return Value(a.as_double() + b.as_double());
        if (a.is_string() && b.is_string()) return Value(a.str() + b.str());
        if (is_plain_seq(a) && is_plain_seq(b) && a.seq_kind() == b.seq_kind()) {
            std::vector<Value> out = a.items();
            out.insert(out.end(), b.items().begin(), b.items().end());
            return Value::list(std::move(out), a.seq_kind());
        }
        if (a.is_string() || is_plain_seq(a)) {
            const std::string t = type_name(a);
            raise("TypeError", str_cat("can only concatenate ", t, " (not \"", type_name(b), "\") to ", t));
        }
        unsupported(op, a, b);
    }
    if (op == "-") {
        if (ints) return Value(checked_sub(a.as_int(), b.as_int()));
        if (nums) return Value(a.as_double() - b.as_double());
        unsupported(op, a, b);
    }
    if (op == "*") {
        if (ints) return Value(checked_mul(a.as_int(), b.as_int()));
        if (nums) return Value(a.as_double() * b.as_double());
        if ((a.is_string() || is_plain_seq(a)) && b.is_integral()) return repeat(a, b.as_int());
        if ((b.is_string() || is_plain_seq(b)) && a.is_integral()) return repeat(b, a.as_int());
        if (a.is_string() || is_plain_seq(a) || b.is_string() || is_plain_seq(b)) {
            const Value& other = (a.is_string() || is_plain_seq(a)) ? b : a;
            raise("TypeError", str_cat("can't multiply sequence by non-int of type '", type_name(other), "'"));
        }
        unsupported(op, a, b);
    }
    if (op == "/") {
        if (!nums) unsupported(op, a, b);
        if (b.as_double() == 0.0) raise("ZeroDivisionError", "division by zero");
        if (ints) {
            // Python divides ints exactly and rounds once; beyond 2**53 a double would round the operands
            // first, so divide in long double (64-bit mantissa: int64 values are exact).
            const long double q = static_cast<long double>(a.as_int()) / static_cast<long double>(b.as_int());
            return Value(static_cast<double>(q));
        }
        return Value(a.as_double() / b.as_double());
    }
    if (op == "//") {
        if (ints) return Value(floor_div(a.as_int(), b.as_int()));
        if (!nums) unsupported(op, a, b);
        if (b.as_double() == 0.0) raise("ZeroDivisionError", "float floor division by zero");
        double div = 0;
        double mod = 0;
        float_divmod(a.as_double(), b.as_double(), &div, &mod);
        return Value(div);
    }
    if (op == "%") {
        if (a.is_string()) return Value(percent_format(a.str(), b));
        if (ints) return Value(floor_mod(a.as_int(), b.as_int()));
        if (!nums) unsupported(op, a, b);
        if (b.as_double() == 0.0) raise("ZeroDivisionError", "float modulo");
        double div = 0;
        double mod = 0;
        float_divmod(a.as_double(), b.as_double(), &div, &mod);
        return Value(mod);
    }
    if (op == "**") {
        if (!nums) unsupported("** or pow()", a, b);
        return power(a, b);
    }
    raise("TypeError", str_cat("unknown operator ", op));
}

Value negate(const Value& v) {
    if (v.is_undefined()) raise_undefined(v);
    if (v.is_integral()) {
        if (v.as_int() == std::numeric_limits<int64_t>::min()) overflow();
        return Value(-v.as_int());
    }
    if (v.is_float()) return Value(-v.as_double());
    raise("TypeError", str_cat("bad operand type for unary -: '", type_name(v), "'"));
}

Value unary_plus(const Value& v) {
    if (v.is_undefined()) raise_undefined(v);
    if (v.is_integral()) return Value(v.as_int());
    if (v.is_float()) return v;
    raise("TypeError", str_cat("bad operand type for unary +: '", type_name(v), "'"));
}

Value call_value(const Value& callee, Args& args) {
    switch (callee.type()) {
        case Value::Type::kCallable:
            return callee.fn().fn(args);
        case Value::Type::kUndefined:
            raise_undefined(callee);
        case Value::Type::kLoop:
            if (callee.loop_ref().recurse) return callee.loop_ref().recurse(args);
            raise("TypeError", "Tried to call non recursive loop. Maybe you forgot the 'recursive' modifier.");
        default:
            raise("TypeError", str_cat("'", type_name(callee), "' object is not callable"));
    }
}

}  // namespace turbolm::jinja
