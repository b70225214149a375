// Pieces shared by the turbolm subcommands: parsing id lists, human-readable sizes, and the one
// place where an exception becomes an error message and an exit code.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace turbolm::cli {

// "1, 2,3" -> {1, 2, 3}; throws Error(kInvalidArgument) on anything else.
std::vector<int32_t> parse_id_list(const std::string& text);
std::string join_ids(const std::vector<int32_t>& ids);
std::string human_bytes(double bytes);  // "1.50 GiB"
std::string human_count(double n);      // "1.24 B"

// "cpu" or "cuda"; throws Error(kInvalidArgument) otherwise.
Device parse_device(const std::string& name);
// The commit this binary was built from ("unknown" outside a git checkout).
const char* build_commit();

// Runs a subcommand body; prints "error: ..." and returns a non-zero code on failure.
int run_guarded(const std::function<void()>& body);

}  // namespace turbolm::cli
