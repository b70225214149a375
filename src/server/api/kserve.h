// The KServe v2 / Triton routes under /v2: server metadata, health, model metadata, readiness and
// configuration, and Triton's generate extension:
//   POST /v2/models/{m}/generate         {"text_input": "...", "max_tokens": 16, "parameters": {...}}
//                                         -> {"model_name", "model_version", "text_output"}
//   POST /v2/models/{m}/generate_stream  -> SSE, one {"model_name", "model_version", "text_output"} per piece
// Sampling fields may sit at the top level or in "parameters", with OpenAI's names and ranges.
// As Triton's vLLM backend does, the non-streamed text_output is the prompt followed by the
// completion unless "exclude_input_in_output" is true; streamed pieces are only new text.
// Errors are {"error": "message"}.
#pragma once

#include <memory>
#include <string>

#include "server/api/service_context.h"
#include "server/http/http_server.h"

namespace turbolm::server {

// Any path under /v2 (already percent-decoded). Throws ApiError for what it refuses.
void handle_kserve(const ServiceContext& ctx, const http::Request& request, const std::string& path,
                   std::shared_ptr<http::Responder> responder);

}  // namespace turbolm::server
