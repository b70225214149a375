// Errors the APIs answer with. Handlers throw ApiError; the router writes it in the shape of the
// API the request was for: OpenAI's {"error": {"message", "type", "param", "code"}} (type as
// OpenAI names it, code the HTTP status as vLLM puts it) or KServe's {"error": "message"}.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "turbolm/status.h"

namespace turbolm::server {

struct ApiError : std::runtime_error {
    ApiError(int status, std::string message, std::string param = {})
        : std::runtime_error(message), status(status), param(std::move(param)) {}
    int status;
    std::string param;  // the request field at fault, if one is
    std::string allow;  // with 405: the methods the path takes ("GET", "POST")
};

inline ApiError method_not_allowed(std::string allow) {
    ApiError e(405, "Method Not Allowed");
    e.allow = std::move(allow);
    return e;
}

// 400 for the caller's mistakes, 503 when the engine is out of room, 500 for the rest.
int http_status_of(StatusCode code);
inline ApiError api_error_of(const Status& status) { return ApiError(http_status_of(status.code()), status.message()); }

// "invalid_request_error", "authentication_error", "service_unavailable", "server_error", ...
const char* openai_error_type(int status);

nlohmann::json openai_error_body(int status, const std::string& message, const std::string& param = {});
inline nlohmann::json openai_error_body(const ApiError& e) { return openai_error_body(e.status, e.what(), e.param); }

inline nlohmann::json kserve_error_body(const std::string& message) { return {{"error", message}}; }

}  // namespace turbolm::server
