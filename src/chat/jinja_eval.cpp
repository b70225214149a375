#include "chat/jinja_eval.h"

#include "chat/jinja_builtins.h"

namespace turbolm::jinja {

const Value* Scope::find(std::string_view name) const {
    for (const Scope* s = this; s; s = s->parent.get()) {
        for (const auto& [k, v] : s->vars) {
            if (k == name) return &v;
        }
    }
    return nullptr;
}

void Scope::set(const std::string& name, Value v) {
    for (auto& [k, old] : vars) {
        if (k == name) {
            old = std::move(v);
            return;
        }
    }
    vars.emplace_back(name, std::move(v));
}

namespace {

Value repack(const Target& t, const Value& v) {
    if (t.kind != Target::Kind::kTuple) return v;
    const std::vector<Value> items = iterate(v);
    std::vector<Value> out;
    for (size_t k = 0; k < t.items.size() && k < items.size(); ++k) out.push_back(repack(t.items[k], items[k]));
    return Value::list(std::move(out), SeqKind::kTuple);
}

// Callables stored in a scope must not own that scope (that would be a reference cycle), so they hold it
// weakly. A macro called after its defining scope ended (possible only by smuggling it out through a
// namespace) is reported instead of silently resolving names elsewhere.
ScopePtr lock_scope(const std::weak_ptr<Scope>& weak, const std::string& what) {
    ScopePtr s = weak.lock();
    if (!s) raise("TemplateRuntimeError", str_cat(what, " was called after the block that defined it ended"));
    return s;
}

}  // namespace

std::string Evaluator::render(const Template& t, const nlohmann::ordered_json& context) {
    if (!context.is_object()) raise("TypeError", "the template context must be a JSON object");
    std::vector<std::pair<std::string, Value>> variables;
    for (auto it = context.begin(); it != context.end(); ++it) variables.emplace_back(it.key(), from_json(it.value()));
    return render(t, std::move(variables));
}

std::string Evaluator::render(const Template& t, std::vector<std::pair<std::string, Value>> variables) {
    NamespaceArena arena;
    root_ = std::make_shared<Scope>(nullptr);
    root_->vars = std::move(variables);
    declare_locals(*root_, t.locals);
    steps_ = 0;
    call_depth_ = 0;
    std::string out;
    try {
        exec(t.body, root_, out);
    } catch (...) {
        root_.reset();
        throw;
    }
    root_.reset();
    return out;
}

void Evaluator::step() {
    if (++steps_ > limits_.max_steps) raise("RenderLimitError", "template evaluation exceeded the step limit");
}

void Evaluator::check_output(const std::string& out) const {
    if (out.size() > limits_.max_output_bytes) raise("RenderLimitError", "rendered output exceeds the size limit");
}

Evaluator::Flow Evaluator::exec(const Body& body, const ScopePtr& scope, std::string& out) {
    for (const StmtPtr& s : body) {
        const Flow f = exec_stmt(*s, scope, out);
        check_output(out);
        if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
}

void Evaluator::declare_locals(Scope& scope, const std::vector<std::string>& locals) {
    for (const std::string& name : locals) scope.set(name, Value::undefined("'" + name + "' is undefined"));
}

ScopePtr Evaluator::enter_frame(const ScopePtr& parent, const std::vector<std::string>& locals) {
    auto scope = std::make_shared<Scope>(parent);
    declare_locals(*scope, locals);
    return scope;
}

Evaluator::Flow Evaluator::render_body(const Stmt& s, const ScopePtr& parent, std::string* out) {
    return exec(s.body, enter_frame(parent, s.locals), *out);
}

Evaluator::Flow Evaluator::exec_stmt(const Stmt& s, const ScopePtr& scope, std::string& out) {
    step();
    line_ = s.line;
    switch (s.kind) {
        case StmtKind::kText:
            out += s.text;
            return Flow::kNormal;
        case StmtKind::kPrint:
            out += to_str(eval(*s.expr, scope));
            return Flow::kNormal;
        case StmtKind::kIf:
            for (const Branch& b : s.branches) {
                if (!b.test || truthy(eval(*b.test, scope))) return exec(b.body, scope, out);
            }
            return Flow::kNormal;
        case StmtKind::kFor:
            return exec_for(s, scope, eval(*s.expr, scope), 0, out);
        case StmtKind::kSet:
            assign(s.target, eval(*s.expr, scope), scope);
            return Flow::kNormal;
        case StmtKind::kSetBlock: {
            std::string text;
            if (const Flow f = render_body(s, scope, &text); f != Flow::kNormal) return f;
            Value v(std::move(text));
            if (s.expr) {
                const Value* saved = filter_input_;
                filter_input_ = &v;
                Value filtered = eval(*s.expr, scope);
                filter_input_ = saved;
                v = std::move(filtered);
            }
            assign(s.target, v, scope);
            return Flow::kNormal;
        }
        case StmtKind::kMacro: {
            std::weak_ptr<Scope> weak = scope;
            const Stmt* macro = &s;
            scope->set(s.name, Value::callable(
                                   s.name,
                                   [this, macro, weak](Args& args) {
                                       return call_macro(*macro, lock_scope(weak, "macro '" + macro->name + "'"), args);
                                   },
                                   str_cat("<Macro '", s.name, "'>")));
            return Flow::kNormal;
        }
        case StmtKind::kCallBlock:
            exec_call_block(s, scope, out);
            return Flow::kNormal;
        case StmtKind::kFilterBlock: {
            std::string text;
            if (const Flow f = render_body(s, scope, &text); f != Flow::kNormal) return f;
            const Value input(std::move(text));
            const Value* saved = filter_input_;
            filter_input_ = &input;
            Value filtered = eval(*s.expr, scope);
            filter_input_ = saved;
            out += to_str(filtered);
            return Flow::kNormal;
        }
        case StmtKind::kWith: {
            std::vector<Value> values;
            for (const ExprPtr& v : s.values) values.push_back(eval(*v, scope));
            auto child = enter_frame(scope, s.locals);
            for (size_t k = 0; k < s.targets.size(); ++k) assign(s.targets[k], values[k], child);
            return exec(s.body, child, out);
        }
        case StmtKind::kScope:
        case StmtKind::kTransparent:
            return exec(s.body, enter_frame(scope, s.locals), out);
        case StmtKind::kBreak:
            return Flow::kBreak;
        case StmtKind::kContinue:
            return Flow::kContinue;
    }
    return Flow::kNormal;
}

Evaluator::Flow Evaluator::exec_for(const Stmt& s, const ScopePtr& scope, const Value& iterable, int64_t depth0,
                                    std::string& out) {
    std::vector<Value> items = iterate(iterable);
    if (s.cond) {
        // jinja2 filters lazily, but loop.length needs the count: evaluating the condition up front
        // gives the same output because conditions cannot have side effects on the loop.
        std::vector<Value> kept;
        auto probe = std::make_shared<Scope>(scope);
        for (Value& item : items) {
            step();
            probe->vars.clear();
            assign(s.target, item, probe);
            // jinja2's filter generator yields the unpacked target again, so kept items of a tuple
            // target become tuples (visible through loop.previtem / loop.nextitem).
            if (truthy(eval(*s.cond, probe))) kept.push_back(repack(s.target, item));
        }
        items = std::move(kept);
    }
    auto shared = std::make_shared<const std::vector<Value>>(std::move(items));
    auto info = std::make_shared<LoopInfo>();
    info->items = shared;
    info->depth0 = depth0;
    if (s.recursive) {
        std::weak_ptr<Scope> weak = scope;
        const Stmt* loop_stmt = &s;
        info->recurse = [this, loop_stmt, weak, depth0](Args& args) -> Value {
            if (args.pos.size() != 1 || !args.kw.empty()) raise("TypeError", "loop() takes exactly one argument");
            std::string sub;
            exec_for(*loop_stmt, lock_scope(weak, "loop"), args.pos[0], depth0 + 1, sub);
            return Value(std::move(sub));
        };
    }
    const Value loop_value = Value::loop(info);
    // loop.changed(loop) would make the loop hold itself: forget its arguments when the loop ends.
    struct ForgetChanged {
        LoopInfo* info;
        ~ForgetChanged() { info->changed_last.clear(); }
    } forget{info.get()};
    // jinja2 runs the else block unless some iteration reached the end of the body: a loop whose
    // iterations all end in break or continue runs it too. A break in the else block ends the
    // enclosing loop.
    bool completed = false;
    // One scope serves all iterations: clearing it gives each iteration a fresh start, as in jinja2.
    auto child = std::make_shared<Scope>(scope);
    for (size_t i = 0; i < shared->size(); ++i) {
        step();
        info->index0 = i;
        child->vars.clear();
        child->set("loop", loop_value);
        assign(s.target, (*shared)[i], child);
        declare_locals(*child, s.locals);
        const Flow f = exec(s.body, child, out);
        if (f == Flow::kBreak) break;
        if (f == Flow::kNormal) completed = true;
    }
    if (!completed && !s.else_body.empty()) return exec(s.else_body, enter_frame(scope, s.else_locals), out);
    return Flow::kNormal;
}

void Evaluator::exec_call_block(const Stmt& s, const ScopePtr& scope, std::string& out) {
    std::weak_ptr<Scope> weak = scope;
    const Stmt* block = &s;
    const Value caller = Value::callable(
        "caller", [this, block, weak](Args& args) { return call_macro(*block, lock_scope(weak, "caller"), args); },
        "<Macro 'caller'>");
    const Expr& call = *s.expr;
    const Value callee = eval(*call.children[0], scope);
    Args args = eval_args(call, 1, scope);
    args.kw.emplace_back("caller", caller);
    line_ = s.line;
    out += to_str(call_value(callee, args));
}

Value Evaluator::call_macro(const Stmt& macro, const ScopePtr& defining_scope, Args& args) {
    if (call_depth_ >= limits_.max_call_depth) raise("RecursionError", "maximum recursion depth exceeded");
    struct DepthGuard {
        explicit DepthGuard(int* d) : d_(d) { ++*d_; }
        ~DepthGuard() { --*d_; }
        int* d_;
    } guard(&call_depth_);
    step();
    auto child = std::make_shared<Scope>(defining_scope);
    const size_t n = macro.params.size();
    const size_t first_default = n - macro.defaults.size();
    std::vector<bool> bound(n, false);
    std::vector<Value> varargs;
    for (size_t i = 0; i < args.pos.size(); ++i) {
        if (i < n) {
            child->set(macro.params[i], args.pos[i]);
            bound[i] = true;
        } else {
            varargs.push_back(args.pos[i]);
        }
    }
    Dict kwargs;
    for (const auto& [key, value] : args.kw) {
        size_t idx = 0;
        while (idx < n && macro.params[idx] != key) ++idx;
        if (idx < n) {
            if (bound[idx]) {
                raise("TypeError", str_cat("macro '", macro.name.empty() ? "caller" : macro.name,
                                           "' got multiple values for argument '", key, "'"));
            }
            child->set(key, value);
            bound[idx] = true;
        } else if (key == "caller") {
            child->set("caller", value);
        } else {
            kwargs.set(Value(key), value);
        }
    }
    for (size_t i = 0; i < n; ++i) {
        if (bound[i]) continue;
        if (i >= first_default) {
            child->set(macro.params[i], eval(*macro.defaults[i - first_default], child));
        } else {
            child->set(macro.params[i],
                       Value::undefined(str_cat("parameter '", macro.params[i], "' was not provided")));
        }
    }
    child->set("varargs", Value::list(std::move(varargs), SeqKind::kTuple));
    child->set("kwargs", Value::dict(std::move(kwargs)));
    declare_locals(*child, macro.locals);
    std::string out;
    exec(macro.body, child, out);
    return Value(std::move(out));
}

void Evaluator::assign(const Target& t, const Value& v, const ScopePtr& scope) {
    switch (t.kind) {
        case Target::Kind::kName:
            scope->set(t.name, v);
            return;
        case Target::Kind::kTuple: {
            const std::vector<Value> items = iterate(v);
            if (items.size() < t.items.size()) {
                raise("ValueError",
                      str_cat("not enough values to unpack (expected ", t.items.size(), ", got ", items.size(), ")"));
            }
            if (items.size() > t.items.size()) {
                raise("ValueError", str_cat("too many values to unpack (expected ", t.items.size(), ")"));
            }
            for (size_t k = 0; k < items.size(); ++k) assign(t.items[k], items[k], scope);
            return;
        }
        case Target::Kind::kNsAttr: {
            const Value* ns = scope->find(t.name);
            if (!ns || !ns->is_namespace()) {
                raise("TemplateRuntimeError", "cannot assign attribute on non-namespace object");
            }
            ns->ns_ref().attrs.set(Value(t.attr), v);
            return;
        }
    }
}

// ---- expressions --------------------------------------------------------------------------------------

Value Evaluator::eval(const Expr& e, const ScopePtr& scope) {
    line_ = e.line;
    switch (e.kind) {
        case ExprKind::kConst:
            return e.value;
        case ExprKind::kName:
            return eval_name(e, scope);
        case ExprKind::kList:
        case ExprKind::kTuple: {
            std::vector<Value> items;
            items.reserve(e.children.size());
            for (const ExprPtr& c : e.children) items.push_back(eval(*c, scope));
            return Value::list(std::move(items), e.kind == ExprKind::kList ? SeqKind::kList : SeqKind::kTuple);
        }
        case ExprKind::kDict: {
            Dict d;
            for (size_t k = 0; k + 1 < e.children.size(); k += 2) {
                Value key = eval(*e.children[k], scope);
                Value value = eval(*e.children[k + 1], scope);
                if (!hashable(key)) raise("TypeError", str_cat("unhashable type: '", type_name(key), "'"));
                d.set(std::move(key), std::move(value));
            }
            return Value::dict(std::move(d));
        }
        case ExprKind::kGetattr: {
            const Value obj = eval(*e.children[0], scope);
            line_ = e.line;
            return get_attr(obj, e.name);
        }
        case ExprKind::kGetitem:
            return eval_getitem(e, scope);
        case ExprKind::kSlice:
            raise("TemplateSyntaxError", "a slice is only valid inside a subscript");
        case ExprKind::kCall: {
            const Value callee = eval(*e.children[0], scope);
            Args args = eval_args(e, 1, scope);
            line_ = e.line;
            step();
            return call_value(callee, args);
        }
        case ExprKind::kFilter:
            return eval_filter(e, scope);
        case ExprKind::kTest: {
            const Value v = eval(*e.children[0], scope);
            Args args = eval_args(e, 1, scope);
            line_ = e.line;
            return Value(e.test(v, args));
        }
        case ExprKind::kNeg:
            return negate(eval(*e.children[0], scope));
        case ExprKind::kPos:
            return unary_plus(eval(*e.children[0], scope));
        case ExprKind::kNot:
            return Value(!truthy(eval(*e.children[0], scope)));
        case ExprKind::kBinary: {
            const Value a = eval(*e.children[0], scope);
            const Value b = eval(*e.children[1], scope);
            line_ = e.line;
            return binary_op(e.name, a, b);
        }
        case ExprKind::kConcat: {
            std::string s;
            for (const ExprPtr& c : e.children) s += to_str(eval(*c, scope));
            if (s.size() > kMaxContainerSize) raise("MemoryError", "concatenated string is too large");
            return Value(std::move(s));
        }
        case ExprKind::kAnd: {
            Value a = eval(*e.children[0], scope);
            if (!truthy(a)) return a;
            return eval(*e.children[1], scope);
        }
        case ExprKind::kOr: {
            Value a = eval(*e.children[0], scope);
            if (truthy(a)) return a;
            return eval(*e.children[1], scope);
        }
        case ExprKind::kCompare:
            return eval_compare(e, scope);
        case ExprKind::kCondExpr:
            if (truthy(eval(*e.children[0], scope))) return eval(*e.children[1], scope);
            if (e.children[2]) return eval(*e.children[2], scope);
            return Value::undefined(str_cat("the inline if-expression on line ", e.line,
                                            " evaluated to false and no else section was defined."));
    }
    return Value();
}

Value Evaluator::eval_name(const Expr& e, const ScopePtr& scope) {
    if (const Value* v = scope->find(e.name)) return *v;
    if (auto g = find_global(e.name)) return *g;
    return Value::undefined("'" + e.name + "' is undefined");
}

Value Evaluator::eval_compare(const Expr& e, const ScopePtr& scope) {
    Value left = eval(*e.children[0], scope);
    for (size_t k = 0; k < e.ops.size(); ++k) {
        Value right = eval(*e.children[k + 1], scope);
        line_ = e.line;
        const std::string& op = e.ops[k];
        bool r = false;
        if (op == "==") {
            r = equals(left, right);
        } else if (op == "!=") {
            r = !equals(left, right);
        } else if (op == "in") {
            r = contains(right, left);
        } else if (op == "notin") {
            r = !contains(right, left);
        } else {
            r = compare(left, right, op);
        }
        if (!r) return Value(false);
        left = std::move(right);
    }
    return Value(true);
}

Value Evaluator::eval_filter(const Expr& e, const ScopePtr& scope) {
    Value base;
    if (e.children[0]) {
        base = eval(*e.children[0], scope);
    } else if (filter_input_) {
        base = *filter_input_;
    }
    Args args = eval_args(e, 1, scope);
    line_ = e.line;
    step();
    return e.filter(base, args);
}

Value Evaluator::eval_getitem(const Expr& e, const ScopePtr& scope) {
    const Value obj = eval(*e.children[0], scope);
    const Expr& key = *e.children[1];
    if (key.kind == ExprKind::kSlice) {
        Value parts[3];
        const Value* ptrs[3] = {nullptr, nullptr, nullptr};
        for (int k = 0; k < 3; ++k) {
            if (key.children[k]) {
                parts[k] = eval(*key.children[k], scope);
                ptrs[k] = &parts[k];
            }
        }
        line_ = e.line;
        return get_slice(obj, ptrs[0], ptrs[1], ptrs[2]);
    }
    const Value k = eval(key, scope);
    line_ = e.line;
    return get_item(obj, k);
}

Args Evaluator::eval_args(const Expr& e, size_t first, const ScopePtr& scope) {
    Args args;
    for (size_t k = first; k < e.children.size(); ++k) args.pos.push_back(eval(*e.children[k], scope));
    if (e.dyn_args) {
        for (Value& v : iterate(eval(*e.dyn_args, scope))) args.pos.push_back(std::move(v));
    }
    for (const auto& [name, value] : e.kwargs) args.kw.emplace_back(name, eval(*value, scope));
    if (e.dyn_kwargs) {
        const Value d = eval(*e.dyn_kwargs, scope);
        if (!d.is_dict()) raise("TypeError", str_cat("argument after ** must be a mapping, not ", type_name(d)));
        for (const auto& [k, v] : d.map().items) {
            if (!k.is_string()) raise("TypeError", "keywords must be strings");
            args.kw.emplace_back(k.str(), v);
        }
    }
    return args;
}

}  // namespace turbolm::jinja
