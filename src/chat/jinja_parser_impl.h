// The template parser, shared by jinja_parser.cpp (statements) and jinja_parse_expr.cpp (expressions).
// It follows jinja2's recursive-descent grammar, including its operator precedence and quirks (left-
// associative `**`, tests binding tighter than arithmetic, `a if b` without else).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"

namespace turbolm::jinja {

// Deep nesting would overflow the native stack long before Python's recursion limit bites in jinja2.
inline constexpr int kMaxParseDepth = 200;

class Parser {
  public:
    explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

    Body parse() {
        Body body = subparse({});
        if (cur().type != TokenType::kEof) fail(cur(), str_cat("unexpected '", describe_token(cur()), "'"));
        return body;
    }

  private:
    // ---- token stream ----

    const Token& cur() const { return tokens_[i_]; }
    const Token& look() const { return tokens_[std::min(i_ + 1, tokens_.size() - 1)]; }
    const Token& next() {
        const Token& t = tokens_[i_];
        if (i_ + 1 < tokens_.size()) ++i_;
        return t;
    }
    static bool is_op(const Token& t, std::string_view op) { return t.type == TokenType::kOperator && t.text == op; }
    static bool is_name(const Token& t, std::string_view n) { return t.type == TokenType::kName && t.text == n; }
    bool skip_op(std::string_view op) {
        if (!is_op(cur(), op)) return false;
        next();
        return true;
    }
    bool skip_name(std::string_view n) {
        if (!is_name(cur(), n)) return false;
        next();
        return true;
    }

    [[noreturn]] static void fail(const Token& t, const std::string& message) {
        syntax_error(t.line, t.column, message);
    }

    void expect_type(TokenType type, const char* what) {
        if (cur().type == type) {
            next();
            return;
        }
        if (cur().type == TokenType::kEof) fail(cur(), str_cat("unexpected end of template, expected '", what, "'."));
        fail(cur(), str_cat("expected token '", what, "', got '", describe_token(cur()), "'"));
    }
    void expect_op(std::string_view op) {
        if (is_op(cur(), op)) {
            next();
            return;
        }
        if (cur().type == TokenType::kEof) fail(cur(), str_cat("unexpected end of template, expected '", op, "'."));
        fail(cur(), str_cat("expected token '", op, "', got '", describe_token(cur()), "'"));
    }
    const Token& expect_name() {
        if (cur().type != TokenType::kName) {
            if (cur().type == TokenType::kEof) fail(cur(), "unexpected end of template, expected 'name'.");
            fail(cur(), str_cat("expected token 'name', got '", describe_token(cur()), "'"));
        }
        return next();
    }

    struct DepthGuard {
        explicit DepthGuard(Parser* p) : p_(p) {
            if (++p_->depth_ > kMaxParseDepth) fail(p_->cur(), "the template is nested too deeply");
        }
        ~DepthGuard() { --p_->depth_; }
        Parser* p_;
    };

    static ExprPtr make(ExprKind kind, const Token& at) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->line = at.line;
        e->column = at.column;
        return e;
    }

    // ---- statements ----

    Body subparse(const std::vector<std::string_view>& end_tags);
    // Parses `%}` body up to one of end_tags; leaves the end tag name as the current token unless drop.
    Body parse_statements(const std::vector<std::string_view>& end_tags, const char* block, bool drop);
    StmtPtr new_stmt(StmtKind kind, const Token& at);
    StmtPtr parse_statement();
    StmtPtr parse_if();
    // jinja2 rejects any assignment to `loop` anywhere inside a for statement (its target, body, else).
    void check_not_loop(const Target& t, const Token& at) const;
    StmtPtr parse_for();
    StmtPtr parse_set();
    void parse_signature(Stmt* s);
    StmtPtr parse_macro();
    StmtPtr parse_call_block();
    StmtPtr parse_filter_block();
    StmtPtr parse_with();
    StmtPtr parse_block();
    void check_assignable(const Token& t);
    // for-loop and set targets: names, (nested) tuples of names, or ns.attr.
    Target parse_assign_target(bool with_tuple, bool with_namespace, const std::vector<std::string_view>& end);
    Target parse_target_primary();

    // ---- expressions ----

    bool is_tuple_end(const std::vector<std::string_view>& extra) const;
    ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens, const std::vector<std::string_view>& end);
    ExprPtr parse_expression(bool with_condexpr);
    ExprPtr binary(ExprKind kind, const Token& at, ExprPtr left, ExprPtr right, std::string op = {});
    ExprPtr parse_or();
    ExprPtr parse_and();
    ExprPtr parse_not();
    ExprPtr parse_compare();
    ExprPtr parse_math1();
    ExprPtr parse_concat();
    ExprPtr parse_math2();
    ExprPtr parse_pow();
    ExprPtr parse_unary(bool with_filter);
    ExprPtr parse_primary();
    ExprPtr parse_list();
    ExprPtr parse_dict();
    ExprPtr parse_postfix(ExprPtr node);
    ExprPtr parse_filter_expr(ExprPtr node);
    ExprPtr parse_subscript(ExprPtr node);
    ExprPtr parse_subscribed();
    // (args, kw=args, *dyn, **dyn) into e.
    void parse_call_args(Expr* e);
    ExprPtr parse_call(ExprPtr node);
    // `| name(args)` chains; with start_inline the first filter has no leading pipe (filter blocks).
    ExprPtr parse_filter(ExprPtr node, bool start_inline);
    ExprPtr parse_test(ExprPtr node);
    std::vector<Token> tokens_;
    size_t i_ = 0;
    int depth_ = 0;
    int loop_depth_ = 0;
    int for_nesting_ = 0;
};

}  // namespace turbolm::jinja
