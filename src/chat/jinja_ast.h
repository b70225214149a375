// Syntax tree of a parsed template: expressions and statements, mirroring jinja2's nodes.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace turbolm::jinja {

using FilterFn = Value (*)(const Value& value, Args& args);
using TestFn = bool (*)(const Value& value, Args& args);

enum class ExprKind : uint8_t {
    kConst,     // value
    kName,      // name
    kList,      // children: items
    kTuple,     // children: items
    kDict,      // children: key0, value0, key1, value1, ...
    kGetattr,   // children[0].name
    kGetitem,   // children[0][children[1]]
    kSlice,     // children: start, stop, step (each may be null); only inside kGetitem
    kCall,      // children[0](children[1..], kwargs)
    kFilter,    // children[0] | name(children[1..], kwargs); children[0] is null in filter blocks
    kTest,      // children[0] is name(children[1..], kwargs)
    kNeg,       // -children[0]
    kPos,       // +children[0]
    kNot,       // not children[0]
    kBinary,    // children[0] op children[1]; op in + - * / // % **
    kConcat,    // children joined with ~
    kAnd,       // children[0] and children[1]
    kOr,        // children[0] or children[1]
    kCompare,   // children[0] ops[0] children[1] ops[1] children[2] ...
    kCondExpr,  // children[1] if children[0] else children[2] (children[2] may be null)
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    ExprKind kind = ExprKind::kConst;
    int line = 0;
    int column = 0;
    Value value;                                          // kConst
    std::string name;                                     // kName, kGetattr, kFilter, kTest; op of kBinary
    std::vector<ExprPtr> children;                        // see ExprKind
    std::vector<std::string> ops;                         // kCompare: "==", "!=", "<", "<=", ">", ">=", "in", "notin"
    std::vector<std::pair<std::string, ExprPtr>> kwargs;  // kCall, kFilter, kTest
    ExprPtr dyn_args;                                     // *args
    ExprPtr dyn_kwargs;                                   // **kwargs
    FilterFn filter = nullptr;                            // kFilter, resolved at parse time
    TestFn test = nullptr;                                // kTest
};

// An assignment target: a name, a tuple of targets, or `ns.attr`.
struct Target {
    enum class Kind : uint8_t { kName, kTuple, kNsAttr } kind = Kind::kName;
    std::string name;
    std::string attr;
    std::vector<Target> items;
};

enum class StmtKind : uint8_t {
    kText,         // text
    kPrint,        // {{ expr }}
    kIf,           // branches (test == null for else)
    kFor,          // target in expr [if cond] body [else else_body]
    kSet,          // target = expr
    kSetBlock,     // target (| filter) = rendered body
    kMacro,        // name(params = defaults) body
    kCallBlock,    // call(params) expr body
    kFilterBlock,  // expr (a kFilter chain with a null base) applied to the rendered body
    kWith,         // targets = values, body
    kScope,        // body rendered in its own scope: {% block %}
    kTransparent,  // body rendered in place: {% generation %}
    kBreak,
    kContinue,
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Branch {
    ExprPtr test;
    Body body;
};

struct Stmt {
    StmtKind kind = StmtKind::kText;
    int line = 0;
    int column = 0;
    std::string text;
    ExprPtr expr;
    ExprPtr cond;
    Target target;
    Body body;
    Body else_body;
    std::vector<Branch> branches;
    bool recursive = false;
    std::string name;
    std::vector<std::string> params;
    std::vector<ExprPtr> defaults;  // one per trailing parameter with a default
    std::vector<Target> targets;
    std::vector<ExprPtr> values;
    // Names local to the frame this statement opens (loop body, macro, block...) that start out
    // undefined, hiding any outer value, until the frame assigns them; see jinja_scopes.h.
    std::vector<std::string> locals;
    std::vector<std::string> else_locals;  // for-loop else block
};

struct Template {
    Body body;
    std::vector<std::string> locals;  // the top level's, as above
};

}  // namespace turbolm::jinja
