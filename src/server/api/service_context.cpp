#include "server/api/service_context.h"

#include <algorithm>
#include <limits>

#include "server/api/json_errors.h"

namespace turbolm::server {

std::shared_ptr<Engine> require_engine(const ServiceContext& ctx) {
    if (ctx.engine) return ctx.engine;
    if (!ctx.load_error.is_ok()) throw ApiError(503, "the model failed to load: " + ctx.load_error.message());
    throw ApiError(503, "the model is loading; try again shortly");
}

void check_admission(const ServiceContext& ctx, const Engine& engine) {
    const EngineStats stats = engine.stats();
    const int64_t waiting = std::max(stats.waiting, ctx.metrics->in_flight() - stats.running);
    if (waiting >= ctx.options.max_waiting)
        throw ApiError(503, "the server is overloaded: " + std::to_string(waiting) +
                                " requests are waiting; try again later");
}

int64_t settle_max_tokens(int64_t prompt_tokens, std::optional<int64_t> max_tokens, int64_t max_model_len,
                          const std::string& prompt_param) {
    if (!max_tokens) {
        if (prompt_tokens >= max_model_len)
            throw ApiError(400, "This model's maximum context length is " + std::to_string(max_model_len) +
                                    " tokens. However, your request has " + std::to_string(prompt_tokens) +
                                    " input tokens. Please reduce the length of the input messages.",
                           prompt_param);
        return max_model_len - prompt_tokens;
    }
    // Both are at most 2^63 - 1; compare without overflowing their sum.
    if (*max_tokens > max_model_len - prompt_tokens) {
        const int64_t requested = *max_tokens > std::numeric_limits<int64_t>::max() - prompt_tokens
                                      ? std::numeric_limits<int64_t>::max()
                                      : prompt_tokens + *max_tokens;
        throw ApiError(400, "This model's maximum context length is " + std::to_string(max_model_len) +
                                " tokens. However, you requested " + std::to_string(requested) + " tokens (" +
                                std::to_string(prompt_tokens) + " in the messages, " + std::to_string(*max_tokens) +
                                " in the completion). Please reduce the length of the messages or completion.",
                       prompt_param);
    }
    return *max_tokens;
}

}  // namespace turbolm::server
