// OpenAI's routes: POST /v1/completions, POST /v1/chat/completions, GET /v1/models[/{name}].
// Handlers throw ApiError for what they refuse; the router writes it.
#pragma once

#include <memory>
#include <string>

#include "server/api/service_context.h"
#include "server/http/http_server.h"

namespace turbolm::server {

// Validates, tokenizes on the calling thread (so that a prompt over the context is a 400 before
// anything is queued) and submits; the reply follows from the engine thread.
void handle_completions(const ServiceContext& ctx, const http::Request& request,
                        std::shared_ptr<http::Responder> responder);
void handle_chat_completions(const ServiceContext& ctx, const http::Request& request,
                             std::shared_ptr<http::Responder> responder);

// name: empty for the list, else the model asked for (404 unless it is the one served).
void handle_models(const ServiceContext& ctx, const std::string& name, http::Responder& responder);

}  // namespace turbolm::server
