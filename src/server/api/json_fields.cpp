#include "server/api/json_fields.h"

#include <cmath>
#include <limits>

#include "server/api/http_util.h"
#include "server/api/json_errors.h"

namespace turbolm::server::fields {

namespace {

// The offending value as the client sent it, shortened: enough to recognise it.
std::string shown(const json& value) {
    std::string s = dump_json(value);
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return s;
}

[[noreturn]] void wrong(const std::string& name, const std::string& expected, const json& value) {
    throw ApiError(400, "'" + name + "' must be " + expected + ", got " + shown(value), name);
}

std::string show_number(double v) {
    json j = v;
    if (v == std::floor(v) && std::fabs(v) < 1e15) j = int64_t(v);
    return j.dump();
}

}  // namespace

json parse_body(const std::string& body) {
    json j;
    try {
        j = json::parse(body);
    } catch (const json::parse_error& e) {
        throw ApiError(400, std::string("the request body is not valid JSON: ") + e.what());
    }
    if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
    return j;
}

int64_t integer(const json& value, const std::string& name) {
    if (value.is_number_integer()) {
        if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
            wrong(name, "an integer that fits in 64 bits", value);
        return value.get<int64_t>();
    }
    if (value.is_number_float()) {
        const double d = value.get<double>();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18) return int64_t(d);
    }
    wrong(name, "an integer", value);
}

int64_t integer_in(const json& value, const std::string& name, int64_t lo, int64_t hi) {
    const int64_t v = integer(value, name);
    if (v < lo || v > hi)
        throw ApiError(400, "'" + name + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                                ", got " + std::to_string(v), name);
    return v;
}

double number(const json& value, const std::string& name) {
    if (!value.is_number()) wrong(name, "a number", value);
    return value.get<double>();
}

double number_in(const json& value, const std::string& name, double lo, double hi, bool lo_open) {
    const double v = number(value, name);
    const bool low_ok = lo_open ? v > lo : v >= lo;
    if (!low_ok || !(v <= hi)) {
        const std::string range = (lo_open ? "(" : "[") + show_number(lo) + ", " + show_number(hi) + "]";
        throw ApiError(400, "'" + name + "' must be in " + range + ", got " + shown(value), name);
    }
    return v;
}

bool boolean(const json& value, const std::string& name) {
    if (!value.is_boolean()) wrong(name, "a boolean", value);
    return value.get<bool>();
}

std::string string(const json& value, const std::string& name) {
    if (!value.is_string()) wrong(name, "a string", value);
    return value.get<std::string>();
}

std::vector<std::string> strings(const json& value, const std::string& name, size_t max_items) {
    if (value.is_string()) return {value.get<std::string>()};
    if (!value.is_array()) wrong(name, "a string or an array of strings", value);
    if (value.size() > max_items)
        throw ApiError(400, "'" + name + "' may hold at most " + std::to_string(max_items) + " items, got " +
                                std::to_string(value.size()), name);
    std::vector<std::string> out;
    for (const json& item : value) {
        if (!item.is_string()) wrong(name, "a string or an array of strings", value);
        out.push_back(item.get<std::string>());
    }
    return out;
}

std::vector<int32_t> token_ids(const json& value, const std::string& name) {
    if (!value.is_array()) wrong(name, "an array of token ids", value);
    std::vector<int32_t> out;
    out.reserve(value.size());
    for (const json& item : value) {
        if (!item.is_number_integer() || item.get<int64_t>() < 0 || item.get<int64_t>() > std::numeric_limits<int32_t>::max())
            wrong(name, "an array of token ids (non-negative integers)", value);
        out.push_back(item.get<int32_t>());
    }
    return out;
}

const json& object(const json& value, const std::string& name) {
    if (!value.is_object()) wrong(name, "an object", value);
    return value;
}

void unrecognized(const std::string& name) {
    throw ApiError(400, "Unrecognized request argument supplied: " + name, name);
}

void unsupported(const std::string& name, const std::string& what) {
    throw ApiError(400, "'" + name + "': " + what + " is not supported", name);
}

}  // namespace turbolm::server::fields
