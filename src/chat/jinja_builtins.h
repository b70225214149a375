// Built-in filters, tests, methods of str/list/dict values, global functions and Python operators, each
// with the semantics jinja2 (in HF's sandboxed environment) gives them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_ast.h"

namespace turbolm::jinja {

// nullptr when there is no such filter / test.
FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);

// obj.name where name is a method of a str, list or dict: a bound callable. Methods that would mutate
// (list.append, dict.update, ...) give the sandbox's "unsafe" undefined. Returns nullopt for no method.
std::optional<Value> find_method(const Value& obj, std::string_view name);

// raise_exception, strftime_now, range, dict, namespace, joiner, cycler; nullopt for other names.
std::optional<Value> find_global(std::string_view name);

// obj.attr and obj[key] as jinja2's sandboxed environment resolves them.
Value get_attr(const Value& obj, std::string_view name);
Value get_item(const Value& obj, const Value& key);
// obj[start:stop:step]; null pointers are omitted bounds.
Value get_slice(const Value& obj, const Value* start, const Value* stop, const Value* step);

// Python arithmetic: op is one of + - * / // % **.
Value binary_op(std::string_view op, const Value& a, const Value& b);
Value negate(const Value& v);
Value unary_plus(const Value& v);

// json.dumps with the options HF's tojson filter exposes.
struct JsonOptions {
    bool ensure_ascii = false;
    std::optional<std::string> indent;  // None: single line
    std::string item_separator = ", ";
    std::string key_separator = ": ";
    bool sort_keys = false;
};
std::string json_dumps(const Value& v, const JsonOptions& options);

// Python's str % args and str.format(*args, **kwargs).
std::string percent_format(const std::string& format, const Value& args);
std::string str_format(const std::string& format, const Args& args);

// namespace() objects are the one mutable value, so a template can make them refer to themselves
// ({% set ns.me = ns %}) and leak the cycle. While an arena lives (one per render, per thread), every
// namespace created is recorded, and the arena empties them all when it ends.
class NamespaceArena {
  public:
    NamespaceArena();
    ~NamespaceArena();
    NamespaceArena(const NamespaceArena&) = delete;
    NamespaceArena& operator=(const NamespaceArena&) = delete;

  private:
    std::vector<std::weak_ptr<Namespace>> created_;
    NamespaceArena* previous_;
};

// Calls a callable value (raises the right error for undefined and non-callable values).
Value call_value(const Value& callee, Args& args);

// Upper bound on a str or list a template may build (repetition, range): keeps a hostile template from
// exhausting memory. jinja2 has no such bound; no chat template comes near it.
inline constexpr size_t kMaxContainerSize = 64u << 20;

}  // namespace turbolm::jinja
