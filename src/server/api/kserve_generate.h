// Triton's generate extension over the engine (see kserve.h for the shapes).
#pragma once

#include <memory>

#include "server/api/service_context.h"
#include "server/http/http_server.h"

namespace turbolm::server {

void handle_kserve_generate(const ServiceContext& ctx, const http::Request& request,
                            std::shared_ptr<http::Responder> responder, bool stream);

}  // namespace turbolm::server
