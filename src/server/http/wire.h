// The bytes the HTTP server writes: status line and headers, chunk framing, and the JSON error body
// in the OpenAI shape. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "server/http/http_server.h"

namespace turbolm::http::wire {

// How the end of a reply body is marked.
enum class Framing {
    kLength,      // Content-Length
    kChunked,     // Transfer-Encoding: chunked
    kUntilClose,  // the connection closes after the body (HTTP/1.0 clients of a stream)
};

struct Head {
    int status = 200;
    std::string_view content_type;  // empty: no Content-Type
    const Headers* extra = nullptr;
    Framing framing = Framing::kLength;
    size_t content_length = 0;  // for kLength
    bool keep_alive = true;     // false: "Connection: close"
    bool http10 = false;        // the request was HTTP/1.0 (keep-alive must then be said)
};

// "HTTP/1.1 200 OK\r\n...\r\n\r\n". Extra headers that would break the framing (Content-Length,
// Transfer-Encoding, Connection) or that hold CR/LF are left out.
std::string head(const Head& h);

// 1xx, 204 and 304 replies carry no body.
bool status_has_body(int status);

// One chunk of a chunked body: "<hex size>\r\n<data>\r\n". `data` must not be empty.
std::string chunk(std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";
inline constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// {"error":{"message":"...","type":"invalid_request_error","code":413}}; 5xx codes get type
// "server_error".
std::string error_json(int status, std::string_view message);

// A whole JSON error reply, with Connection: close when !keep_alive.
std::string error_response(int status, std::string_view message, bool keep_alive);

// The IMF-fixdate of now: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date();

}  // namespace turbolm::http::wire
