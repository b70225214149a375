// Small pieces of HTTP the API handlers share: header lookup, bearer keys, path decoding, JSON
// replies and Server-Sent Events.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/http/http_server.h"

namespace turbolm::server {

inline constexpr const char* kJsonContentType = "application/json";
inline constexpr const char* kEventStreamContentType = "text/event-stream";

// The first header of this (lower-case) name, or nullptr. (Request::header does the same in the
// HTTP core; this keeps the API layer linkable without it.)
const std::string* find_header(const http::Request& request, std::string_view lower_name);

// Whether "Authorization: Bearer <key>" carries `key`; compared in time independent of where
// the first difference is.
bool has_bearer_key(const http::Request& request, const std::string& key);

// %XX sequences decoded; a malformed one is kept as it is.
std::string percent_decode(std::string_view s);

// JSON text; invalid UTF-8 (a token that is part of a character) becomes U+FFFD rather than failing.
std::string dump_json(const nlohmann::json& value);

void reply_json(http::Responder& responder, int status, const nlohmann::json& body, http::Headers extra = {});

// The headers of an SSE reply, and one event: "data: <json>\n\n".
http::Headers event_stream_headers();
std::string sse_data(const nlohmann::json& value);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

std::string random_hex(size_t n_bytes);  // for response ids
int64_t unix_time_now();

}  // namespace turbolm::server
