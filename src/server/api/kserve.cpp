#include "server/api/kserve.h"

#include "server/api/http_util.h"
#include "server/api/json_errors.h"
#include "server/api/kserve_generate.h"

#ifndef TURBOLM_VERSION
#define TURBOLM_VERSION "unknown"
#endif

namespace turbolm::server {

namespace {

using nlohmann::json;

constexpr const char* kModelVersion = "1";  // one model, one version

// The generate extension's inputs, as the metadata and the configuration list them.
struct Input {
    const char* name;
    const char* datatype;  // KServe's name; the configuration writes Triton's TYPE_ form
    const char* config_type;
    bool optional;
};
constexpr Input kInputs[] = {
    {"text_input", "BYTES", "TYPE_STRING", false},
    {"max_tokens", "INT32", "TYPE_INT32", true},
    {"temperature", "FP32", "TYPE_FP32", true},
    {"top_p", "FP32", "TYPE_FP32", true},
    {"top_k", "INT32", "TYPE_INT32", true},
    {"min_p", "FP32", "TYPE_FP32", true},
    {"repetition_penalty", "FP32", "TYPE_FP32", true},
    {"presence_penalty", "FP32", "TYPE_FP32", true},
    {"frequency_penalty", "FP32", "TYPE_FP32", true},
    {"seed", "INT64", "TYPE_INT64", true},
    {"stop", "BYTES", "TYPE_STRING", true},
    {"ignore_eos", "BOOL", "TYPE_BOOL", true},
    {"exclude_input_in_output", "BOOL", "TYPE_BOOL", true},
    {"stream", "BOOL", "TYPE_BOOL", true},
};

json model_metadata(const std::string& name) {
    json inputs = json::array();
    for (const Input& in : kInputs)
        inputs.push_back({{"name", in.name}, {"datatype", in.datatype}, {"shape", json::array({1})}});
    return {{"name", name},
            {"versions", json::array({kModelVersion})},
            {"platform", "turbolm"},
            {"inputs", inputs},
            {"outputs", json::array({{{"name", "text_output"}, {"datatype", "BYTES"}, {"shape", json::array({-1})}}})}};
}

json model_config(const std::string& name, const Engine& engine) {
    json inputs = json::array();
    for (const Input& in : kInputs)
        inputs.push_back(
            {{"name", in.name}, {"data_type", in.config_type}, {"dims", json::array({1})}, {"optional", in.optional}});
    return {{"name", name},
            {"platform", "turbolm"},
            {"backend", "turbolm"},
            {"max_batch_size", 0},  // batching is the engine's (continuous), not Triton's
            {"model_transaction_policy", {{"decoupled", true}}},
            {"input", inputs},
            {"output", json::array({{{"name", "text_output"}, {"data_type", "TYPE_STRING"}, {"dims", json::array({-1})}}})},
            {"parameters",
             {{"max_model_len", {{"string_value", std::to_string(engine.max_model_len())}}},
              {"vocab_size", {{"string_value", std::to_string(engine.vocab_size())}}}}}};
}

void require_method(const http::Request& request, const char* method) {
    if (request.method != method) throw method_not_allowed(method);
}

// /v2/models/{name}[/versions/{v}][/{action}]. Names may hold '/', so the served name is matched
// as a whole before the path is split.
void handle_model(const ServiceContext& ctx, const http::Request& request, const std::string& rest,
                  std::shared_ptr<http::Responder> responder) {
    const std::string& served = ctx.options.served_model_name;
    std::string action;
    if (rest == served) {
        action = "";
    } else if (rest.size() > served.size() && rest.compare(0, served.size(), served) == 0 && rest[served.size()] == '/') {
        action = rest.substr(served.size());
    } else {
        throw ApiError(404, "Request for unknown model: '" + rest.substr(0, rest.find('/')) + "' is not found");
    }
    if (action.starts_with("/versions/")) {
        const size_t end = action.find('/', 10);
        const std::string version = action.substr(10, end == std::string::npos ? std::string::npos : end - 10);
        if (version != kModelVersion)
            throw ApiError(404, "Request for unknown model: '" + served + "' version " + version + " is not found");
        action = end == std::string::npos ? "" : action.substr(end);
    }
    if (action.empty()) {
        require_method(request, "GET");
        reply_json(*responder, 200, model_metadata(served));
    } else if (action == "/ready") {
        require_method(request, "GET");
        require_engine(ctx);
        responder->reply(200, "text/plain", "");
    } else if (action == "/config") {
        require_method(request, "GET");
        reply_json(*responder, 200, model_config(served, *require_engine(ctx)));
    } else if (action == "/generate" || action == "/generate_stream") {
        require_method(request, "POST");
        handle_kserve_generate(ctx, request, std::move(responder), action == "/generate_stream");
    } else {
        throw ApiError(404, "Not Found");
    }
}

}  // namespace

void handle_kserve(const ServiceContext& ctx, const http::Request& request, const std::string& path,
                   std::shared_ptr<http::Responder> responder) {
    if (path == "/v2" || path == "/v2/") {
        require_method(request, "GET");
        reply_json(*responder, 200, {{"name", "turbolm"}, {"version", TURBOLM_VERSION}, {"extensions", json::array()}});
    } else if (path == "/v2/health/live") {
        require_method(request, "GET");
        responder->reply(200, "text/plain", "");
    } else if (path == "/v2/health/ready") {
        require_method(request, "GET");
        // Not ready is any status >= 400 to KServe's clients; 503 also tells load balancers why.
        require_engine(ctx);
        responder->reply(200, "text/plain", "");
    } else if (path.starts_with("/v2/models/") && path.size() > 11) {
        handle_model(ctx, request, path.substr(11), std::move(responder));
    } else {
        throw ApiError(404, "Not Found");
    }
}

}  // namespace turbolm::server
