// jinja2 decides variable scoping when it compiles a template, not while it runs: within a frame (the top
// level, a loop body, a macro, a filter/set/with/call block), a name whose first reference is an
// unconditional assignment is a local of that frame from the frame's start, undefined until assigned, and
// it hides the same name from the context even in nested frames that run before the assignment:
//
//   {% for i in l %}{{ x }}{% endfor %}{% set x = 5 %}   with x=3 passed in prints "" for each i
//
// Assignments inside `if` branches, or preceded by a read of the name, keep the outer value instead. This
// pass marks those names so that the evaluator can declare them when it enters the frame.
#pragma once

#include "chat/jinja_ast.h"

namespace turbolm::jinja {

void analyze_scopes(Template& t);

}  // namespace turbolm::jinja
