// Routing, API keys and readiness; the routes themselves live in openai_routes, kserve and
// (for /metrics) server_metrics.
#include "server/api/api_service.h"

#include <mutex>

#include "server/api/counting_responder.h"
#include "server/api/http_util.h"
#include "server/api/json_errors.h"
#include "server/api/kserve.h"
#include "server/api/metrics.h"
#include "server/api/openai_routes.h"
#include "server/api/service_context.h"

#ifndef TURBOLM_VERSION
#define TURBOLM_VERSION "unknown"
#endif

namespace turbolm::server {

namespace {

bool under(const std::string& path, const std::string& prefix) {
    return path == prefix || path.starts_with(prefix + "/");
}

// /v1 and /v2 need the key; probes (/v2/health) and the page and metrics at the root do not.
bool needs_key(const std::string& path) {
    return under(path, "/v1") || (under(path, "/v2") && !path.starts_with("/v2/health/"));
}

void require_method(const http::Request& request, const char* method) {
    // HEAD asks what GET would answer; the HTTP core sends the headers only.
    const bool head_for_get = request.method == "HEAD" && std::string_view(method) == "GET";
    if (request.method != method && !head_for_get) throw method_not_allowed(method);
}

}  // namespace

struct ApiService::Impl {
    ServiceOptions options;
    std::shared_ptr<ServerMetrics> metrics;
    int64_t created = unix_time_now();

    mutable std::mutex mu;
    std::shared_ptr<Engine> engine;
    Status load_error;
    // Two threads turn engine outputs into replies. Shut down before the engine goes: outputs
    // that arrive after that (the engine aborting what is left) are delivered on its thread.
    std::shared_ptr<OutputDelivery> delivery = std::make_shared<OutputDelivery>(2);

    ~Impl() { delivery->shutdown(); }

    ServiceContext context() const {
        std::lock_guard<std::mutex> lock(mu);
        return ServiceContext{options,  engine,  load_error, metrics,
                              delivery, created, std::chrono::steady_clock::now()};
    }

    void route(const ServiceContext& ctx, const http::Request& request, const std::string& path,
               const std::shared_ptr<http::Responder>& responder) const;
};

void ApiService::Impl::route(const ServiceContext& ctx, const http::Request& request, const std::string& path,
                             const std::shared_ptr<http::Responder>& responder) const {
    if (needs_key(path) && !options.api_key.empty() && !has_bearer_key(request, options.api_key)) {
        const bool sent = find_header(request, "authorization") != nullptr;
        throw ApiError(401, sent ? "Incorrect API key provided."
                                 : "You didn't provide an API key. Send it in an Authorization header using Bearer "
                                   "auth (Authorization: Bearer YOUR_KEY).");
    }
    if (path == "/v1/completions") {
        require_method(request, "POST");
        handle_completions(ctx, request, responder);
    } else if (path == "/v1/chat/completions") {
        require_method(request, "POST");
        handle_chat_completions(ctx, request, responder);
    } else if (path == "/v1/models" || path.starts_with("/v1/models/")) {
        require_method(request, "GET");
        handle_models(ctx, path.size() > 11 ? path.substr(11) : std::string(), *responder);
    } else if (under(path, "/v2")) {
        handle_kserve(ctx, request, path, responder);
    } else if (path == "/metrics") {
        require_method(request, "GET");
        EngineStats stats;
        if (ctx.engine) stats = ctx.engine->stats();
        responder->reply(200, metrics::kTextContentType, metrics->expose(ctx.engine ? &stats : nullptr));
    } else if (path == "/health") {
        // vLLM's probe: 200 once serving.
        require_method(request, "GET");
        require_engine(ctx);
        responder->reply(200, "text/plain", "");
    } else if (path == "/version") {
        require_method(request, "GET");
        reply_json(*responder, 200, {{"version", TURBOLM_VERSION}});
    } else if (auto file = options.static_files.find(path); file != options.static_files.end()) {
        require_method(request, "GET");
        responder->reply(200, file->second.content_type, file->second.body);
    } else {
        throw ApiError(404, "Not Found: " + path);
    }
}

ApiService::ApiService(ServiceOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    impl_->metrics = std::make_shared<ServerMetrics>(impl_->options.served_model_name);
}

ApiService::~ApiService() = default;

void ApiService::set_engine(std::shared_ptr<Engine> engine) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->engine = std::move(engine);
    impl_->load_error = Status::ok();
}

void ApiService::set_load_error(Status status) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->load_error = std::move(status);
}

void ApiService::handle(const http::Request& request, std::shared_ptr<http::Responder> responder) {
    const auto counted = std::make_shared<CountingResponder>(std::move(responder), impl_->metrics);
    const ServiceContext ctx = impl_->context();
    const std::string path = percent_decode(request.path);
    const bool kserve = under(path, "/v2");
    try {
        impl_->route(ctx, request, path, counted);
    } catch (const ApiError& e) {
        http::Headers extra;
        if (!e.allow.empty()) extra.emplace_back("Allow", e.allow);
        if (e.status == 401) extra.emplace_back("WWW-Authenticate", "Bearer");
        reply_json(*counted, e.status, kserve ? kserve_error_body(e.what()) : openai_error_body(e), std::move(extra));
    } catch (const std::exception& e) {
        // A bug, not the client's fault; the message helps the report.
        const std::string message = std::string("internal error: ") + e.what();
        reply_json(*counted, 500, kserve ? kserve_error_body(message) : openai_error_body(500, message));
    }
}

int64_t ApiService::requests_in_flight() const { return impl_->metrics->in_flight(); }

}  // namespace turbolm::server
