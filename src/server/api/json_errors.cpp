#include "server/api/json_errors.h"

namespace turbolm::server {

int http_status_of(StatusCode code) {
    switch (code) {
        case StatusCode::kInvalidArgument:
        case StatusCode::kOutOfRange:
            return 400;
        case StatusCode::kNotFound:
            return 404;
        case StatusCode::kUnimplemented:
            return 501;
        case StatusCode::kResourceExhausted:
        case StatusCode::kCancelled:  // the engine stopped: the server is going away
            return 503;
        default:
            return 500;
    }
}

const char* openai_error_type(int status) {
    switch (status) {
        case 401:
            return "authentication_error";
        case 403:
            return "permission_error";
        case 404:
            return "invalid_request_error";
        case 429:
            return "rate_limit_error";
        case 503:
            return "service_unavailable";
        default:
            return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

nlohmann::json openai_error_body(int status, const std::string& message, const std::string& param) {
    return {{"error",
             {{"message", message},
              {"type", openai_error_type(status)},
              {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
              {"code", status}}}};
}

}  // namespace turbolm::server
