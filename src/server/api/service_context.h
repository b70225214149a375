// What a route handler sees of the service for one request: the options, the engine (once
// loaded), the metrics, and when the request arrived.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/api/api_service.h"
#include "server/api/output_delivery.h"
#include "server/api/server_metrics.h"

namespace turbolm::server {

struct ServiceContext {
    const ServiceOptions& options;
    std::shared_ptr<Engine> engine;  // null while loading
    Status load_error;               // why loading failed, when it did
    std::shared_ptr<ServerMetrics> metrics;
    std::shared_ptr<OutputDelivery> delivery;  // where engine outputs become replies
    int64_t created = 0;  // when the service started (unix seconds): its model's "created"
    std::chrono::steady_clock::time_point arrival;
};

// The engine, or ApiError(503) while it loads or after it failed to.
std::shared_ptr<Engine> require_engine(const ServiceContext& ctx);

// ApiError(503) when the engine's queue is as long as options.max_waiting allows. Requests
// submitted but not yet scheduled count too, so a burst cannot slip past between engine steps.
void check_admission(const ServiceContext& ctx, const Engine& engine);

// Prompt plus completion must fit the context; when max_tokens is absent the completion may take
// the rest of it. Returns the max_tokens to use, or throws ApiError(400) with vLLM's message.
int64_t settle_max_tokens(int64_t prompt_tokens, std::optional<int64_t> max_tokens, int64_t max_model_len,
                          const std::string& prompt_param);

}  // namespace turbolm::server
