#include "chat/jinja_parser.h"

#include "chat/jinja_parser_impl.h"
#include "chat/jinja_scopes.h"

namespace turbolm::jinja {

Body Parser::subparse(const std::vector<std::string_view>& end_tags) {
    Body body;
    while (cur().type != TokenType::kEof) {
        const Token& t = cur();
        if (t.type == TokenType::kData) {
            auto s = std::make_unique<Stmt>();
            s->kind = StmtKind::kText;
            s->line = t.line;
            s->column = t.column;
            s->text = t.text;
            body.push_back(std::move(s));
            next();
        } else if (t.type == TokenType::kVarBegin) {
            next();
            auto s = std::make_unique<Stmt>();
            s->kind = StmtKind::kPrint;
            s->line = cur().line;
            s->column = cur().column;
            s->expr = parse_tuple(true, false, {});
            expect_type(TokenType::kVarEnd, "end of print statement");
            body.push_back(std::move(s));
        } else if (t.type == TokenType::kBlockBegin) {
            next();
            if (cur().type == TokenType::kName &&
                std::find(end_tags.begin(), end_tags.end(), cur().text) != end_tags.end()) {
                return body;
            }
            StmtPtr s = parse_statement();
            expect_type(TokenType::kBlockEnd, "end of statement block");
            if (s) body.push_back(std::move(s));
        } else {
            fail(t, str_cat("unexpected '", describe_token(t), "'"));
        }
    }
    return body;
}

// Parses `%}` body up to one of end_tags; leaves the end tag name as the current token unless drop.
Body Parser::parse_statements(const std::vector<std::string_view>& end_tags, const char* block, bool drop) {
    skip_op(":");
    expect_type(TokenType::kBlockEnd, "end of statement block");
    Body body = subparse(end_tags);
    if (cur().type == TokenType::kEof) {
        std::string tags;
        for (size_t k = 0; k < end_tags.size(); ++k) tags += str_cat(k ? " or " : "", "'", end_tags[k], "'");
        fail(cur(), str_cat("Unexpected end of template. Jinja was looking for the following tags: ", tags,
                            ". The innermost block that needs to be closed is '", block, "'."));
    }
    if (drop) next();
    return body;
}

StmtPtr Parser::new_stmt(StmtKind kind, const Token& at) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = at.line;
    s->column = at.column;
    return s;
}

StmtPtr Parser::parse_statement() {
    DepthGuard guard(this);
    const Token& t = cur();
    if (t.type != TokenType::kName) fail(t, "tag name expected");
    const std::string& tag = t.text;
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "call") return parse_call_block();
    if (tag == "filter") return parse_filter_block();
    if (tag == "with") return parse_with();
    if (tag == "block") return parse_block();
    if (tag == "generation") {
        // transformers compiles the body into a call block, a function of its own: loop controls inside
        // it cannot reach an enclosing loop.
        auto s = new_stmt(StmtKind::kTransparent, next());
        const int saved = loop_depth_;
        loop_depth_ = 0;
        s->body = parse_statements({"endgeneration"}, "generation", true);
        loop_depth_ = saved;
        return s;
    }
    if (tag == "break" || tag == "continue") {
        if (loop_depth_ == 0) fail(t, str_cat("'", tag, "' outside of a loop"));
        return new_stmt(tag == "break" ? StmtKind::kBreak : StmtKind::kContinue, next());
    }
    fail(t, str_cat("Encountered unknown tag '", tag, "'."));
}

StmtPtr Parser::parse_if() {
    auto s = new_stmt(StmtKind::kIf, next());
    while (true) {
        Branch b;
        b.test = parse_tuple(false, false, {});
        b.body = parse_statements({"elif", "else", "endif"}, "if", false);
        s->branches.push_back(std::move(b));
        const Token& tag = next();
        if (tag.text == "elif") continue;
        if (tag.text == "else") {
            Branch e;
            e.body = parse_statements({"endif"}, "if", true);
            s->branches.push_back(std::move(e));
        }
        break;
    }
    return s;
}

// jinja2 rejects any assignment to `loop` anywhere inside a for statement (its target, body, else).
void Parser::check_not_loop(const Target& t, const Token& at) const {
    if (for_nesting_ == 0) return;
    if (t.kind == Target::Kind::kName && t.name == "loop") {
        fail(at, "Can't assign to special loop variable in for-loop target");
    }
    for (const Target& item : t.items) check_not_loop(item, at);
}

StmtPtr Parser::parse_for() {
    auto s = new_stmt(StmtKind::kFor, next());
    ++for_nesting_;
    const Token& target_tok = cur();
    s->target = parse_assign_target(true, false, {"in"});
    check_not_loop(s->target, target_tok);
    if (!skip_name("in")) {
        if (cur().type == TokenType::kEof) fail(cur(), "unexpected end of template, expected 'in'.");
        fail(cur(), str_cat("expected token 'in', got '", describe_token(cur()), "'"));
    }
    s->expr = parse_tuple(false, false, {"recursive"});
    if (skip_name("if")) s->cond = parse_expression(true);
    s->recursive = skip_name("recursive");
    ++loop_depth_;
    s->body = parse_statements({"endfor", "else"}, "for", false);
    --loop_depth_;
    if (next().text == "else") s->else_body = parse_statements({"endfor"}, "for", true);
    --for_nesting_;
    return s;
}

StmtPtr Parser::parse_set() {
    auto s = new_stmt(StmtKind::kSet, next());
    const Token& target_tok = cur();
    s->target = parse_assign_target(true, true, {});
    check_not_loop(s->target, target_tok);
    if (skip_op("=")) {
        s->expr = parse_tuple(true, false, {});
        return s;
    }
    s->kind = StmtKind::kSetBlock;
    if (is_op(cur(), "|")) s->expr = parse_filter(nullptr, false);
    s->body = parse_statements({"endset"}, "set", true);
    return s;
}

void Parser::parse_signature(Stmt* s) {
    expect_op("(");
    while (!is_op(cur(), ")")) {
        if (!s->params.empty()) expect_op(",");
        const Token& name = expect_name();
        check_assignable(name);
        if (skip_op("=")) {
            s->defaults.push_back(parse_expression(true));
        } else if (!s->defaults.empty()) {
            fail(name, "non-default argument follows default argument");
        }
        s->params.push_back(name.text);
    }
    expect_op(")");
}

StmtPtr Parser::parse_macro() {
    auto s = new_stmt(StmtKind::kMacro, next());
    const Token& name = expect_name();
    check_assignable(name);
    s->name = name.text;
    parse_signature(s.get());
    const int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_statements({"endmacro"}, "macro", true);
    loop_depth_ = saved;
    return s;
}

StmtPtr Parser::parse_call_block() {
    auto s = new_stmt(StmtKind::kCallBlock, next());
    if (is_op(cur(), "(")) parse_signature(s.get());
    const Token& at = cur();
    s->expr = parse_expression(true);
    if (s->expr->kind != ExprKind::kCall) fail(at, "expected call");
    const int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_statements({"endcall"}, "call", true);
    loop_depth_ = saved;
    return s;
}

StmtPtr Parser::parse_filter_block() {
    auto s = new_stmt(StmtKind::kFilterBlock, next());
    s->expr = parse_filter(nullptr, true);
    s->body = parse_statements({"endfilter"}, "filter", true);
    return s;
}

StmtPtr Parser::parse_with() {
    auto s = new_stmt(StmtKind::kWith, next());
    while (cur().type != TokenType::kBlockEnd) {
        if (!s->targets.empty()) expect_op(",");
        s->targets.push_back(parse_assign_target(true, false, {}));
        expect_op("=");
        s->values.push_back(parse_expression(true));
    }
    s->body = parse_statements({"endwith"}, "with", true);
    return s;
}

StmtPtr Parser::parse_block() {
    auto s = new_stmt(StmtKind::kScope, next());
    s->name = expect_name().text;
    while (skip_name("scoped") || skip_name("required")) {
    }
    const int saved = loop_depth_;  // a block renders as a function of its own
    loop_depth_ = 0;
    s->body = parse_statements({"endblock"}, "block", true);
    loop_depth_ = saved;
    if (cur().type == TokenType::kName) next();  // {% endblock name %}
    return s;
}

void Parser::check_assignable(const Token& t) {
    static const char* const kConstants[] = {"true", "false", "none", "True", "False", "None"};
    for (const char* c : kConstants) {
        if (t.text == c) fail(t, str_cat("can't assign to '", t.text, "'"));
    }
}

// for-loop and set targets: names, (nested) tuples of names, or ns.attr.
Target Parser::parse_assign_target(bool with_tuple, bool with_namespace, const std::vector<std::string_view>& end) {
    if (with_namespace && cur().type == TokenType::kName && is_op(look(), ".")) {
        Target t;
        t.kind = Target::Kind::kNsAttr;
        t.name = next().text;
        next();
        t.attr = expect_name().text;
        return t;
    }
    Target tuple;
    tuple.kind = Target::Kind::kTuple;
    bool is_tuple = false;
    while (true) {
        if (!tuple.items.empty()) expect_op(",");
        if (is_tuple_end(end)) break;
        tuple.items.push_back(parse_target_primary());
        if (is_op(cur(), ",") && with_tuple) {
            is_tuple = true;
        } else {
            break;
        }
    }
    if (!is_tuple && tuple.items.size() == 1) return std::move(tuple.items[0]);
    if (tuple.items.empty() && !is_tuple) fail(cur(), "can't assign to an empty target");
    return tuple;
}

Target Parser::parse_target_primary() {
    if (skip_op("(")) {
        Target inner = parse_assign_target(true, false, {});
        expect_op(")");
        return inner;
    }
    const Token& t = cur();
    if (t.type != TokenType::kName) fail(t, str_cat("can't assign to '", describe_token(t), "'"));
    check_assignable(t);
    Target target;
    target.name = next().text;
    return target;
}

Template parse_template(std::string_view source) {
    Template t;
    t.body = Parser(tokenize(source)).parse();
    analyze_scopes(t);
    return t;
}

}  // namespace turbolm::jinja
