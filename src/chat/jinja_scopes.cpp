#include "chat/jinja_scopes.h"

#include <map>
#include <set>

namespace turbolm::jinja {

namespace {

// How a frame's local starts out, as jinja2's idtracking records it.
enum class Load : uint8_t {
    kParameter,  // bound by the construct (loop target, macro argument)
    kResolve,    // looked up in the render context when the frame starts
    kAlias,      // a copy of the enclosing frame's variable
    kUndefined,  // undefined until the frame assigns it
};

struct Symbols {
    const Symbols* parent = nullptr;
    std::map<std::string, Load> refs;
    std::set<std::string> stores;

    bool find_ref(const std::string& name) const {
        for (const Symbols* s = this; s; s = s->parent) {
            if (s->refs.count(name)) return true;
        }
        return false;
    }
    void load(const std::string& name) {
        if (!find_ref(name)) refs[name] = Load::kResolve;
    }
    void store(const std::string& name) {
        stores.insert(name);
        if (refs.count(name)) return;
        refs[name] = (parent && parent->find_ref(name)) ? Load::kAlias : Load::kUndefined;
    }
    void declare_parameter(const std::string& name) {
        stores.insert(name);
        refs[name] = Load::kParameter;
    }
    // After an if statement: a name first assigned in any branch may stay unassigned, so it starts out
    // with the outer value rather than undefined.
    void branch_update(const std::vector<Symbols>& branches) {
        std::set<std::string> fresh;
        for (const Symbols& b : branches) {
            for (const std::string& n : b.stores) {
                if (!stores.count(n)) fresh.insert(n);
            }
        }
        for (const Symbols& b : branches) {
            for (const auto& [n, load] : b.refs) refs[n] = load;
            stores.insert(b.stores.begin(), b.stores.end());
        }
        for (const std::string& n : fresh) refs[n] = (parent && parent->find_ref(n)) ? Load::kAlias : Load::kResolve;
    }
    std::vector<std::string> undefined_locals() const {
        std::vector<std::string> out;
        for (const auto& [n, load] : refs) {
            if (load == Load::kUndefined) out.push_back(n);
        }
        return out;
    }
};

class Analyzer {
  public:
    // Analyzes one frame: `setup` declares its parameters and visits what belongs to it besides the body;
    // statements that open frames of their own are analyzed afterwards, against the completed symbols.
    template <typename Setup>
    std::vector<std::string> frame(const Symbols* parent, const Body& body, Setup&& setup) {
        Symbols sym;
        sym.parent = parent;
        std::vector<Stmt*> children;
        std::swap(children, pending_);
        setup(sym);
        for (const StmtPtr& s : body) visit(*s, sym);
        std::swap(children, pending_);
        for (Stmt* child : children) open_frames(*child, sym);
        return sym.undefined_locals();
    }

  private:
    void visit_expr(const Expr* e, Symbols& sym) {
        if (!e) return;
        if (e->kind == ExprKind::kName) sym.load(e->name);
        for (const ExprPtr& c : e->children) visit_expr(c.get(), sym);
        for (const auto& kw : e->kwargs) visit_expr(kw.second.get(), sym);
        visit_expr(e->dyn_args.get(), sym);
        visit_expr(e->dyn_kwargs.get(), sym);
    }

    void store_target(const Target& t, Symbols& sym) {
        switch (t.kind) {
            case Target::Kind::kName:
                sym.store(t.name);
                break;
            case Target::Kind::kTuple:
                for (const Target& item : t.items) store_target(item, sym);
                break;
            case Target::Kind::kNsAttr:
                sym.load(t.name);
                break;
        }
    }

    static void declare_target(const Target& t, Symbols& sym) {
        if (t.kind == Target::Kind::kName) sym.declare_parameter(t.name);
        for (const Target& item : t.items) declare_target(item, sym);
    }

    // jinja2 keeps `elif`s as nested if statements inside one branch group: replicate that shape.
    void visit_if(const std::vector<Branch>& branches, size_t first, bool with_else, Symbols& sym) {
        visit_expr(branches[first].test.get(), sym);
        std::vector<Symbols> groups(3, sym);
        for (const StmtPtr& s : branches[first].body) visit(*s, groups[0]);
        size_t k = first + 1;
        while (k < branches.size() && branches[k].test) visit_if(branches, k++, false, groups[1]);
        if (with_else && k < branches.size()) {
            for (const StmtPtr& s : branches[k].body) visit(*s, groups[2]);
        }
        sym.branch_update(groups);
    }

    // The part of a statement that belongs to the frame it appears in.
    void visit(Stmt& s, Symbols& sym) {
        switch (s.kind) {
            case StmtKind::kText:
            case StmtKind::kBreak:
            case StmtKind::kContinue:
                return;
            case StmtKind::kPrint:
                visit_expr(s.expr.get(), sym);
                return;
            case StmtKind::kIf:
                visit_if(s.branches, 0, true, sym);
                return;
            case StmtKind::kSet:
                visit_expr(s.expr.get(), sym);
                store_target(s.target, sym);
                return;
            case StmtKind::kSetBlock:
                store_target(s.target, sym);
                break;
            case StmtKind::kMacro:
                sym.store(s.name);
                break;
            case StmtKind::kFor:
            case StmtKind::kCallBlock:
            case StmtKind::kFilterBlock:
                visit_expr(s.expr.get(), sym);
                break;
            case StmtKind::kWith:
                for (const ExprPtr& v : s.values) visit_expr(v.get(), sym);
                break;
            case StmtKind::kScope:
            case StmtKind::kTransparent:
                break;
        }
        pending_.push_back(&s);
    }

    void open_frames(Stmt& s, const Symbols& parent) {
        switch (s.kind) {
            case StmtKind::kFor:
                s.locals = frame(&parent, s.body, [&](Symbols& sym) {
                    declare_target(s.target, sym);
                    sym.declare_parameter("loop");
                });
                s.else_locals = frame(&parent, s.else_body, [](Symbols&) {});
                // The loop condition runs in a frame of its own that can only read.
                return;
            case StmtKind::kMacro:
            case StmtKind::kCallBlock:
                s.locals = frame(&parent, s.body, [&](Symbols& sym) {
                    for (const std::string& p : s.params) sym.declare_parameter(p);
                    for (const char* special : {"caller", "varargs", "kwargs"}) sym.declare_parameter(special);
                    for (const ExprPtr& d : s.defaults) visit_expr(d.get(), sym);
                });
                return;
            case StmtKind::kWith:
                s.locals = frame(&parent, s.body, [&](Symbols& sym) {
                    for (const Target& t : s.targets) declare_target(t, sym);
                });
                return;
            default:
                s.locals = frame(&parent, s.body, [](Symbols&) {});
                return;
        }
    }

    std::vector<Stmt*> pending_;
};

}  // namespace

void analyze_scopes(Template& t) {
    Analyzer a;
    t.locals = a.frame(nullptr, t.body, [](Symbols&) {});
}

}  // namespace turbolm::jinja
