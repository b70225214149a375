// Expressions: jinja2's precedence climbing from conditional expressions down to primaries, postfix
// subscripts and calls, filters and tests.
#include "chat/jinja_builtins.h"
#include "chat/jinja_parser_impl.h"

namespace turbolm::jinja {

bool Parser::is_tuple_end(const std::vector<std::string_view>& extra) const {
    const Token& t = cur();
    if (t.type == TokenType::kVarEnd || t.type == TokenType::kBlockEnd || t.type == TokenType::kEof || is_op(t, ")")) {
        return true;
    }
    return t.type == TokenType::kName && std::find(extra.begin(), extra.end(), t.text) != extra.end();
}

ExprPtr Parser::parse_tuple(bool with_condexpr, bool explicit_parens, const std::vector<std::string_view>& end) {
    const Token& start = cur();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
        if (!items.empty()) expect_op(",");
        if (is_tuple_end(end)) break;
        items.push_back(parse_expression(with_condexpr));
        if (is_op(cur(), ",")) {
            is_tuple = true;
        } else {
            break;
        }
    }
    if (!is_tuple) {
        if (!items.empty()) return std::move(items[0]);
        if (!explicit_parens) {
            if (cur().type == TokenType::kEof) fail(cur(), "unexpected end of template");
            fail(cur(), str_cat("Expected an expression, got '", describe_token(cur()), "'"));
        }
    }
    auto e = make(ExprKind::kTuple, start);
    e->children = std::move(items);
    return e;
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
    DepthGuard guard(this);
    if (!with_condexpr) return parse_or();
    ExprPtr expr = parse_or();
    while (is_name(cur(), "if")) {
        auto e = make(ExprKind::kCondExpr, next());
        ExprPtr test = parse_or();
        ExprPtr otherwise;
        if (skip_name("else")) otherwise = parse_expression(true);
        e->children.push_back(std::move(test));
        e->children.push_back(std::move(expr));
        e->children.push_back(std::move(otherwise));
        expr = std::move(e);
    }
    return expr;
}

ExprPtr Parser::binary(ExprKind kind, const Token& at, ExprPtr left, ExprPtr right, std::string op) {
    auto e = make(kind, at);
    e->name = std::move(op);
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
}

ExprPtr Parser::parse_or() {
    ExprPtr left = parse_and();
    while (is_name(cur(), "or")) {
        const Token& at = next();
        left = binary(ExprKind::kOr, at, std::move(left), parse_and());
    }
    return left;
}

ExprPtr Parser::parse_and() {
    ExprPtr left = parse_not();
    while (is_name(cur(), "and")) {
        const Token& at = next();
        left = binary(ExprKind::kAnd, at, std::move(left), parse_not());
    }
    return left;
}

ExprPtr Parser::parse_not() {
    if (is_name(cur(), "not")) {
        DepthGuard guard(this);
        auto e = make(ExprKind::kNot, next());
        e->children.push_back(parse_not());
        return e;
    }
    return parse_compare();
}

ExprPtr Parser::parse_compare() {
    const Token& start = cur();
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
        const Token& t = cur();
        std::string op;
        if (t.type == TokenType::kOperator &&
            (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">=")) {
            op = t.text;
            next();
        } else if (is_name(t, "in")) {
            op = "in";
            next();
        } else if (is_name(t, "not") && is_name(look(), "in")) {
            op = "notin";
            next();
            next();
        } else {
            break;
        }
        if (!cmp) {
            cmp = make(ExprKind::kCompare, start);
            cmp->children.push_back(std::move(first));
        }
        cmp->ops.push_back(op);
        cmp->children.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
}

ExprPtr Parser::parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op(cur(), "+") || is_op(cur(), "-")) {
        const Token& at = next();
        left = binary(ExprKind::kBinary, at, std::move(left), parse_concat(), at.text);
    }
    return left;
}

ExprPtr Parser::parse_concat() {
    const Token& start = cur();
    ExprPtr first = parse_math2();
    if (!is_op(cur(), "~")) return first;
    auto e = make(ExprKind::kConcat, start);
    e->children.push_back(std::move(first));
    while (skip_op("~")) e->children.push_back(parse_math2());
    return e;
}

ExprPtr Parser::parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op(cur(), "*") || is_op(cur(), "/") || is_op(cur(), "//") || is_op(cur(), "%")) {
        const Token& at = next();
        left = binary(ExprKind::kBinary, at, std::move(left), parse_pow(), at.text);
    }
    return left;
}

ExprPtr Parser::parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op(cur(), "**")) {
        const Token& at = next();
        left = binary(ExprKind::kBinary, at, std::move(left), parse_unary(true), "**");
    }
    return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
    DepthGuard guard(this);
    ExprPtr node;
    if (is_op(cur(), "-") || is_op(cur(), "+")) {
        const Token& at = next();
        node = make(at.text == "-" ? ExprKind::kNeg : ExprKind::kPos, at);
        node->children.push_back(parse_unary(false));
    } else {
        node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
}

ExprPtr Parser::parse_primary() {
    const Token& t = cur();
    if (t.type == TokenType::kName) {
        next();
        if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
            auto e = make(ExprKind::kConst, t);
            e->value = Value(t.text == "true" || t.text == "True");
            return e;
        }
        if (t.text == "none" || t.text == "None") {
            auto e = make(ExprKind::kConst, t);
            e->value = Value::none();
            return e;
        }
        auto e = make(ExprKind::kName, t);
        e->name = t.text;
        return e;
    }
    if (t.type == TokenType::kString) {
        std::string s = next().text;
        while (cur().type == TokenType::kString) s += next().text;  // adjacent literals concatenate
        auto e = make(ExprKind::kConst, t);
        e->value = Value(std::move(s));
        return e;
    }
    if (t.type == TokenType::kInteger || t.type == TokenType::kFloat) {
        next();
        auto e = make(ExprKind::kConst, t);
        e->value = t.type == TokenType::kInteger ? Value(t.int_value) : Value(t.float_value);
        return e;
    }
    if (is_op(t, "(")) {
        next();
        ExprPtr e = parse_tuple(true, true, {});
        expect_op(")");
        return e;
    }
    if (is_op(t, "[")) return parse_list();
    if (is_op(t, "{")) return parse_dict();
    if (t.type == TokenType::kEof) fail(t, "unexpected end of template");
    fail(t, str_cat("unexpected '", describe_token(t), "'"));
}

ExprPtr Parser::parse_list() {
    auto e = make(ExprKind::kList, next());
    while (!is_op(cur(), "]")) {
        if (!e->children.empty()) expect_op(",");
        if (is_op(cur(), "]")) break;
        e->children.push_back(parse_expression(true));
    }
    expect_op("]");
    return e;
}

ExprPtr Parser::parse_dict() {
    auto e = make(ExprKind::kDict, next());
    while (!is_op(cur(), "}")) {
        if (!e->children.empty()) expect_op(",");
        if (is_op(cur(), "}")) break;
        e->children.push_back(parse_expression(true));
        expect_op(":");
        e->children.push_back(parse_expression(true));
    }
    expect_op("}");
    return e;
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
    while (true) {
        if (is_op(cur(), ".") || is_op(cur(), "[")) {
            node = parse_subscript(std::move(node));
        } else if (is_op(cur(), "(")) {
            node = parse_call(std::move(node));
        } else {
            return node;
        }
    }
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
    while (true) {
        if (is_op(cur(), "|")) {
            node = parse_filter(std::move(node), false);
        } else if (is_name(cur(), "is")) {
            node = parse_test(std::move(node));
        } else if (is_op(cur(), "(")) {
            node = parse_call(std::move(node));
        } else {
            return node;
        }
    }
}

ExprPtr Parser::parse_subscript(ExprPtr node) {
    DepthGuard guard(this);
    const Token& t = next();
    if (t.text == ".") {
        const Token& attr = cur();
        if (attr.type == TokenType::kName) {
            next();
            auto e = make(ExprKind::kGetattr, t);
            e->name = attr.text;
            e->children.push_back(std::move(node));
            return e;
        }
        if (attr.type != TokenType::kInteger) fail(attr, "expected name or number");
        next();
        auto key = make(ExprKind::kConst, attr);
        key->value = Value(attr.int_value);
        auto e = make(ExprKind::kGetitem, t);
        e->children.push_back(std::move(node));
        e->children.push_back(std::move(key));
        return e;
    }
    std::vector<ExprPtr> args;
    while (!is_op(cur(), "]")) {
        if (!args.empty()) expect_op(",");
        args.push_back(parse_subscribed());
    }
    expect_op("]");
    auto e = make(ExprKind::kGetitem, t);
    e->children.push_back(std::move(node));
    if (args.size() == 1) {
        e->children.push_back(std::move(args[0]));
    } else {
        auto tuple = make(ExprKind::kTuple, t);
        tuple->children = std::move(args);
        e->children.push_back(std::move(tuple));
    }
    return e;
}

ExprPtr Parser::parse_subscribed() {
    const Token& start = cur();
    std::vector<ExprPtr> parts;
    if (is_op(cur(), ":")) {
        next();
        parts.push_back(nullptr);
    } else {
        ExprPtr node = parse_expression(true);
        if (!is_op(cur(), ":")) return node;
        next();
        parts.push_back(std::move(node));
    }
    auto optional_expr = [&]() -> ExprPtr {
        if (is_op(cur(), "]") || is_op(cur(), ",") || is_op(cur(), ":")) return nullptr;
        return parse_expression(true);
    };
    parts.push_back(optional_expr());
    if (skip_op(":")) {
        parts.push_back(optional_expr());
    } else {
        parts.push_back(nullptr);
    }
    auto e = make(ExprKind::kSlice, start);
    e->children = std::move(parts);
    return e;
}

// (args, kw=args, *dyn, **dyn) into e.
void Parser::parse_call_args(Expr* e) {
    const Token& open = cur();
    expect_op("(");
    bool require_comma = false;
    auto ensure = [&](bool ok) {
        if (!ok) fail(open, "invalid syntax for function call expression");
    };
    while (!is_op(cur(), ")")) {
        if (require_comma) {
            expect_op(",");
            if (is_op(cur(), ")")) break;
        }
        if (is_op(cur(), "*")) {
            ensure(!e->dyn_args && !e->dyn_kwargs);
            next();
            e->dyn_args = parse_expression(true);
        } else if (is_op(cur(), "**")) {
            ensure(!e->dyn_kwargs);
            next();
            e->dyn_kwargs = parse_expression(true);
        } else if (cur().type == TokenType::kName && is_op(look(), "=")) {
            ensure(!e->dyn_kwargs);
            std::string key = next().text;
            next();
            e->kwargs.emplace_back(std::move(key), parse_expression(true));
        } else {
            ensure(!e->dyn_args && !e->dyn_kwargs && e->kwargs.empty());
            e->children.push_back(parse_expression(true));
        }
        require_comma = true;
    }
    expect_op(")");
}

ExprPtr Parser::parse_call(ExprPtr node) {
    DepthGuard guard(this);
    auto e = make(ExprKind::kCall, cur());
    e->children.push_back(std::move(node));
    parse_call_args(e.get());
    return e;
}

// `| name(args)` chains; with start_inline the first filter has no leading pipe (filter blocks).
ExprPtr Parser::parse_filter(ExprPtr node, bool start_inline) {
    while (is_op(cur(), "|") || start_inline) {
        DepthGuard guard(this);
        if (!start_inline) next();
        const Token& name_tok = expect_name();
        std::string name = name_tok.text;
        while (skip_op(".")) name += "." + expect_name().text;
        auto e = make(ExprKind::kFilter, name_tok);
        e->name = name;
        e->filter = find_filter(name);
        if (!e->filter) fail(name_tok, str_cat("No filter named '", name, "'."));
        e->children.push_back(std::move(node));
        if (is_op(cur(), "(")) parse_call_args(e.get());
        node = std::move(e);
        start_inline = false;
    }
    return node;
}

ExprPtr Parser::parse_test(ExprPtr node) {
    DepthGuard guard(this);
    const Token& is_tok = next();
    const bool negated = skip_name("not");
    const Token& name_tok = expect_name();
    std::string name = name_tok.text;
    while (skip_op(".")) name += "." + expect_name().text;
    auto e = make(ExprKind::kTest, name_tok);
    e->name = name;
    e->test = find_test(name);
    if (!e->test) fail(name_tok, str_cat("No test named '", name, "'."));
    e->children.push_back(std::move(node));
    const Token& t = cur();
    if (is_op(t, "(")) {
        parse_call_args(e.get());
    } else if ((t.type == TokenType::kName || t.type == TokenType::kString || t.type == TokenType::kInteger ||
                t.type == TokenType::kFloat || is_op(t, "(") || is_op(t, "[") || is_op(t, "{")) &&
               !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
        if (is_name(t, "is")) fail(t, "You cannot chain multiple tests with is");
        e->children.push_back(parse_postfix(parse_primary()));
    }
    if (!negated) return e;
    auto n = make(ExprKind::kNot, is_tok);
    n->children.push_back(std::move(e));
    return n;
}

}  // namespace turbolm::jinja
