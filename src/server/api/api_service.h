// The HTTP APIs of `turbolm serve` over the public engine API: OpenAI (/v1/completions,
// /v1/chat/completions, /v1/models), KServe v2 / Triton (/v2/...), Prometheus /metrics, vLLM's
// /health and /version, and the web page at /. The engine may arrive after the server has started
// (loading a large checkpoint takes a while): until then inference routes answer 503 and
// /v2/health/ready is not ready.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "server/http/http_server.h"
#include "turbolm/engine.h"

namespace turbolm::server {

struct StaticFile {
    std::string content_type;
    std::string body;
};

struct ServiceOptions {
    std::string served_model_name;  // the name clients pass as "model"
    std::string api_key;            // empty: no key needed; otherwise "Authorization: Bearer KEY" on /v1 and /v2
    int64_t max_waiting = 4096;     // requests queued beyond the running ones; more get 503
    std::map<std::string, StaticFile> static_files;  // by path, e.g. "/" -> the web page
};

class ApiService {
public:
    explicit ApiService(ServiceOptions options);
    ~ApiService();
    ApiService(const ApiService&) = delete;
    ApiService& operator=(const ApiService&) = delete;

    void set_engine(std::shared_ptr<Engine> engine);  // the model is loaded: start serving
    void set_load_error(Status status);               // loading failed: inference answers 503 with this
    // Answers one request; called on server threads, never blocks on the engine.
    void handle(const http::Request& request, std::shared_ptr<http::Responder> responder);
    int64_t requests_in_flight() const;               // submitted to the engine and not finished

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace turbolm::server
