// The values a template computes with, modelled on the Python objects jinja2 sees: None, bool, int, float,
// str, list, tuple, dict, dict views, one-shot iterators (what select/map/reverse return), jinja2's
// Undefined, namespace() objects and callables. Containers are shared and immutable (the sandbox forbids
// mutating them), so copying a Value is cheap; namespaces are the one mutable object, as in jinja2.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace turbolm::jinja {

class Value;
struct Args;

// Python-visible flavour of a sequence: printed and type-checked differently, stored alike.
enum class SeqKind : uint8_t { kList, kTuple, kRange, kDictItems, kDictKeys, kDictValues };

struct List {
    std::vector<Value> items;
    SeqKind kind = SeqKind::kList;
    int64_t range_start = 0;  // kRange: the arguments it prints with
    int64_t range_stop = 0;
    int64_t range_step = 1;
};

// Insertion-ordered dict. Lookups scan linearly: template dicts (messages, tool schemas) are small.
struct Dict {
    std::vector<std::pair<Value, Value>> items;
    const Value* find(const Value& key) const;
    const Value* find(std::string_view key) const;
    void set(Value key, Value value);
};

// jinja2's namespace(): the only object a template may mutate (`{% set ns.attr = ... %}`).
struct Namespace {
    Dict attrs;
};

// A Python iterator or generator: single pass. Items are computed eagerly; `pos` marks what was consumed.
struct Iterator {
    std::vector<Value> items;
    size_t pos = 0;
    std::string type_name;  // "generator", "list_reverseiterator", ...
};

using NativeFn = std::function<Value(Args&)>;

struct Callable {
    std::string name;
    std::string repr;  // how str() shows it
    NativeFn fn;
};

struct Undefined {
    // The message for operations that fail on this undefined value, e.g. "'foo' is undefined".
    std::shared_ptr<const std::string> hint;
    // True for attributes the sandbox refuses; calling such a value is a security error.
    bool unsafe = false;
};

// The state of a running for-loop, exposed to the template as `loop`.
struct LoopInfo {
    std::shared_ptr<const std::vector<Value>> items;
    size_t index0 = 0;
    int64_t depth0 = 0;
    std::vector<Value> changed_last;  // arguments of the previous loop.changed() call
    bool changed_called = false;
    NativeFn recurse;  // set for `recursive` loops: loop(items) renders the body again one level down
};

class Value {
  public:
    enum class Type : uint8_t {
        kUndefined,
        kNone,
        kBool,
        kInt,
        kFloat,
        kString,
        kList,
        kDict,
        kNamespace,
        kIterator,
        kCallable,
        kLoop,
    };

    Value() : v_(Undefined{}) {}
    static Value none() { return Value(Storage(nullptr)); }
    static Value undefined(std::string hint = {}, bool unsafe = false);
    Value(bool b) : v_(b) {}                       // NOLINT(google-explicit-constructor)
    Value(int v) : v_(static_cast<int64_t>(v)) {}  // NOLINT
    Value(int64_t v) : v_(v) {}                    // NOLINT
    Value(double v) : v_(v) {}                     // NOLINT
    Value(std::string s) : v_(std::make_shared<const std::string>(std::move(s))) {}  // NOLINT
    Value(const char* s) : Value(std::string(s)) {}                                  // NOLINT
    Value(std::string_view s) : Value(std::string(s)) {}                             // NOLINT
    static Value list(std::vector<Value> items, SeqKind kind = SeqKind::kList);
    // range(start, stop, step) with its items materialized.
    static Value range(int64_t start, int64_t stop, int64_t step);
    static Value dict(Dict d);
    static Value ns(std::shared_ptr<Namespace> n) { return Value(Storage(std::move(n))); }
    static Value iterator(std::vector<Value> items, std::string type_name);
    static Value callable(std::string name, NativeFn fn, std::string repr = {});
    static Value loop(std::shared_ptr<LoopInfo> info) { return Value(Storage(std::move(info))); }

    Type type() const { return static_cast<Type>(v_.index()); }
    bool is_undefined() const { return type() == Type::kUndefined; }
    bool is_none() const { return type() == Type::kNone; }
    bool is_bool() const { return type() == Type::kBool; }
    bool is_int() const { return type() == Type::kInt; }
    bool is_float() const { return type() == Type::kFloat; }
    // Python's int includes bool.
    bool is_integral() const { return is_int() || is_bool(); }
    bool is_number() const { return is_int() || is_bool() || is_float(); }
    bool is_string() const { return type() == Type::kString; }
    bool is_list() const { return type() == Type::kList; }
    bool is_dict() const { return type() == Type::kDict; }
    bool is_namespace() const { return type() == Type::kNamespace; }
    bool is_iterator() const { return type() == Type::kIterator; }
    bool is_callable() const { return type() == Type::kCallable; }
    bool is_loop() const { return type() == Type::kLoop; }

    bool as_bool() const { return std::get<bool>(v_); }
    int64_t as_int() const { return is_bool() ? int64_t{std::get<bool>(v_)} : std::get<int64_t>(v_); }
    double as_double() const { return is_float() ? std::get<double>(v_) : static_cast<double>(as_int()); }
    const std::string& str() const { return *std::get<StrPtr>(v_); }
    const List& seq() const { return *std::get<ListPtr>(v_); }
    SeqKind seq_kind() const { return seq().kind; }
    const std::vector<Value>& items() const { return seq().items; }
    const Dict& map() const { return *std::get<DictPtr>(v_); }
    Namespace& ns_ref() const { return *std::get<NsPtr>(v_); }
    Iterator& iter_ref() const { return *std::get<IterPtr>(v_); }
    const Callable& fn() const { return *std::get<FnPtr>(v_); }
    LoopInfo& loop_ref() const { return *std::get<LoopPtr>(v_); }
    const Undefined& undef() const { return std::get<Undefined>(v_); }
    // Identity for `is sameas` and for the sandbox-style "same object" checks.
    const void* identity() const;

  private:
    using StrPtr = std::shared_ptr<const std::string>;
    using ListPtr = std::shared_ptr<const List>;
    using DictPtr = std::shared_ptr<const Dict>;
    using NsPtr = std::shared_ptr<Namespace>;
    using IterPtr = std::shared_ptr<Iterator>;
    using FnPtr = std::shared_ptr<const Callable>;
    using LoopPtr = std::shared_ptr<LoopInfo>;
    using Storage = std::variant<Undefined, std::nullptr_t, bool, int64_t, double, StrPtr, ListPtr, DictPtr, NsPtr,
                                 IterPtr, FnPtr, LoopPtr>;
    explicit Value(Storage v) : v_(std::move(v)) {}
    Storage v_;
};

// Arguments of a call: positional then keyword, as Python passes them.
struct Args {
    std::vector<Value> pos;
    std::vector<std::pair<std::string, Value>> kw;
    // Binds positional and keyword arguments to parameter names in order, as a Python signature would;
    // fails on unknown, duplicate or surplus arguments. Unset parameters stay empty.
    std::vector<std::optional<Value>> bind(std::string_view fn_name, std::initializer_list<const char*> names) const;
    const Value* kwarg(std::string_view name) const;
};

// An error raised while rendering. `kind` names the Python exception jinja2 would raise (TypeError,
// UndefinedError, ...); "TemplateError" is what the template's raise_exception() produces.
class RenderError : public Error {
  public:
    RenderError(std::string kind, const std::string& message)
        : Error(StatusCode::kInvalidArgument, message), kind_(std::move(kind)) {}
    const std::string& kind() const { return kind_; }

  private:
    std::string kind_;
};

[[noreturn]] void raise(std::string_view kind, const std::string& message);

// Raises the error an operation on an undefined value produces.
[[noreturn]] void raise_undefined(const Value& v);

// Python semantics.
bool truthy(const Value& v);
std::string to_str(const Value& v);     // str(v)
std::string repr(const Value& v);       // repr(v)
std::string type_name(const Value& v);  // type(v).__name__
// jinja2's object_type_repr: "dict object", "None", ...
std::string object_type_repr(const Value& v);
bool equals(const Value& a, const Value& b);
// Whether Python could use v as a dict key.
bool hashable(const Value& v);
// list, tuple and range: the sequences that support indexing and slicing.
bool is_indexable_seq(const Value& v);
// a < b, a <= b, ...: op is one of "<", "<=", ">", ">=". Raises TypeError for unordered types.
bool compare(const Value& a, const Value& b, std::string_view op);
// `needle in haystack`.
bool contains(const Value& haystack, const Value& needle);
// Python's repr of a float.
std::string float_repr(double d);
// Python's repr of a str.
std::string string_repr(std::string_view s);

// The items a for-loop or list() sees; consumes iterators. Raises TypeError for non-iterables.
std::vector<Value> iterate(const Value& v);
// len(v); raises TypeError when v has none.
int64_t length(const Value& v);

Value from_json(const nlohmann::ordered_json& j);

}  // namespace turbolm::jinja
