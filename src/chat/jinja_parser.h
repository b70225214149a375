// Builds the syntax tree from tokens with jinja2's grammar and operator precedence.
#pragma once

#include <string_view>

#include "chat/jinja_ast.h"

namespace turbolm::jinja {

// Throws RenderError("TemplateSyntaxError") with line and column on invalid syntax, unknown tags,
// unknown filters ("No filter named 'x'.") and unknown tests. The result carries the scope analysis.
Template parse_template(std::string_view source);

}  // namespace turbolm::jinja
