// Renders a parsed template. Scopes follow jinja2's rules: `set` inside a for-loop body, macro, call,
// filter or with block stays local to it (each loop iteration starts afresh from the enclosing scope);
// `if` blocks share their enclosing scope; namespace() objects are how a template carries state out.
// Which names a frame owns was decided at parse time (jinja_scopes.h); entering a frame declares them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/jinja_ast.h"

namespace turbolm::jinja {

struct Scope {
    explicit Scope(std::shared_ptr<Scope> parent_scope) : parent(std::move(parent_scope)) {}
    const Value* find(std::string_view name) const;
    void set(const std::string& name, Value v);

    std::shared_ptr<Scope> parent;
    std::vector<std::pair<std::string, Value>> vars;
};
using ScopePtr = std::shared_ptr<Scope>;

// Bounds that keep a hostile template from hanging or exhausting the server. jinja2 has none of these;
// real chat templates stay orders of magnitude below them.
struct RenderLimits {
    size_t max_output_bytes = 256u << 20;
    uint64_t max_steps = 10'000'000;  // statements executed + loop iterations + calls
    int max_call_depth = 200;         // nested macro calls
};

class Evaluator {
  public:
    explicit Evaluator(RenderLimits limits = {}) : limits_(limits) {}

    // Renders body with the variables of a JSON object. Errors propagate as RenderError; line() tells
    // where the last evaluated statement or expression starts.
    std::string render(const Template& t, const nlohmann::ordered_json& context);
    std::string render(const Template& t, std::vector<std::pair<std::string, Value>> variables);
    int line() const { return line_; }

  private:
    enum class Flow : uint8_t { kNormal, kBreak, kContinue };

    Flow exec(const Body& body, const ScopePtr& scope, std::string& out);
    Flow exec_stmt(const Stmt& s, const ScopePtr& scope, std::string& out);
    Flow exec_for(const Stmt& s, const ScopePtr& scope, const Value& iterable, int64_t depth0, std::string& out);
    void exec_call_block(const Stmt& s, const ScopePtr& scope, std::string& out);
    Value call_macro(const Stmt& macro, const ScopePtr& defining_scope, Args& args);
    void assign(const Target& t, const Value& v, const ScopePtr& scope);
    // Renders body in a child scope; break/continue inside it end the enclosing loop iteration.
    Flow render_body(const Stmt& s, const ScopePtr& parent, std::string* out);
    // A scope for a frame, with the frame's assigned-later locals declared undefined.
    static ScopePtr enter_frame(const ScopePtr& parent, const std::vector<std::string>& locals);
    static void declare_locals(Scope& scope, const std::vector<std::string>& locals);

    Value eval(const Expr& e, const ScopePtr& scope);
    Value eval_name(const Expr& e, const ScopePtr& scope);
    Value eval_compare(const Expr& e, const ScopePtr& scope);
    Value eval_filter(const Expr& e, const ScopePtr& scope);
    Value eval_getitem(const Expr& e, const ScopePtr& scope);
    Args eval_args(const Expr& e, size_t first, const ScopePtr& scope);

    void step();
    void check_output(const std::string& out) const;

    RenderLimits limits_;
    ScopePtr root_;
    uint64_t steps_ = 0;
    int call_depth_ = 0;
    int line_ = 0;
    // The rendered body a `{% filter %}` block feeds to the innermost filter of its chain.
    const Value* filter_input_ = nullptr;
};

}  // namespace turbolm::jinja
