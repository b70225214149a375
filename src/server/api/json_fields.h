// Typed reads of request fields. A value of the wrong type or out of range throws ApiError(400)
// naming the field, so that a client learns which argument to fix. JSON null reads as absent, as
// an optional field does in OpenAI's (and vLLM's) schemas.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace turbolm::server::fields {

using nlohmann::json;

// A request body, which must be a JSON object.
json parse_body(const std::string& body);

// A number without a fraction (16 and 16.0, not true or "16").
int64_t integer(const json& value, const std::string& name);
int64_t integer_in(const json& value, const std::string& name, int64_t lo, int64_t hi);
double number(const json& value, const std::string& name);
// lo <= v <= hi, or lo < v when lo_open.
double number_in(const json& value, const std::string& name, double lo, double hi, bool lo_open = false);
bool boolean(const json& value, const std::string& name);
std::string string(const json& value, const std::string& name);
// A string, or an array of at most max_items strings.
std::vector<std::string> strings(const json& value, const std::string& name, size_t max_items);
// An array of token ids (non-negative integers).
std::vector<int32_t> token_ids(const json& value, const std::string& name);
const json& object(const json& value, const std::string& name);

// Throws the 400 for a field this API does not know.
[[noreturn]] void unrecognized(const std::string& name);
// Throws the 400 for a known field whose value asks for something not implemented.
[[noreturn]] void unsupported(const std::string& name, const std::string& what);

}  // namespace turbolm::server::fields
