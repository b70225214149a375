// An HTTP/1.1 server on Boost.Asio/Beast: a few threads serve many keep-alive connections; a handler
// answers each request at once or streams its reply (chunked, for Server-Sent Events) from any
// thread, and learns when its client goes away. One misbehaving client (a body over the limit, a
// header that never ends, a reader that stops reading) loses its own connection and nothing else.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "turbolm/status.h"

namespace turbolm::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
    std::string method;  // "GET", "POST", ...
    std::string target;  // as sent: path and query
    std::string path;    // the target up to '?'
    std::string query;   // after '?', undecoded
    Headers headers;     // names lower-cased, in arrival order
    std::string body;
    std::string remote;  // "address:port" of the client

    // The first header of this (lower-case) name, or nullptr.
    const std::string* header(std::string_view name) const;
};

// The reply to one request. The handler may keep it (it is shared) and finish it later from any
// thread; calls are queued to the connection in order and never block. Exactly one of reply() or
// begin_stream() ... end() is used; a Responder dropped unanswered replies 500.
class Responder {
  public:
    virtual ~Responder() = default;
    virtual void reply(int status, std::string content_type, std::string body, Headers extra = {}) = 0;
    // A streamed reply in chunked transfer encoding (text/event-stream for SSE): begin, write
    // pieces as they come, end. Writes after the client left are dropped.
    virtual void begin_stream(int status, std::string content_type, Headers extra = {}) = 0;
    virtual void write(std::string data) = 0;
    virtual void end() = 0;
    // `fn` runs once, on a server thread, when the client disconnects (or is cut off) before the
    // reply has ended; at once if it already has (on the calling thread once the server has
    // stopped). It never runs for a reply that ended first. A later call replaces an earlier `fn`.
    virtual void on_disconnect(std::function<void()> fn) = 0;
    virtual bool disconnected() const = 0;
};

using Handler = std::function<void(const Request&, std::shared_ptr<Responder>)>;

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8000;  // 0: any free port (see Server::port)
    int threads = 2;
    size_t max_body_bytes = size_t(8) << 20;            // larger bodies get 413 and the connection closes
    std::chrono::milliseconds request_timeout{10'000};  // headers and body must arrive within this (slow clients)
    std::chrono::milliseconds idle_timeout{60'000};     // a keep-alive connection waiting for its next request
    size_t max_connections = 16384;                     // beyond: new connections get 503 and are closed
    size_t max_pending_write_bytes = size_t(16) << 20;  // a stream whose reader falls this far behind is cut off
};

class Server {
  public:
    Server(ServerOptions options, Handler handler);
    ~Server();  // stop()
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds, listens and starts the threads. Fails (kInvalidArgument) when the address cannot be bound.
    Status start();
    int port() const;  // the bound port
    // Closes the listening socket; open connections keep being served (for draining).
    void stop_accepting();
    size_t open_connections() const;
    size_t replies_in_progress() const;  // requests handed to the handler whose reply has not ended
    // Closes every connection (replies in progress see a disconnect) and joins the threads. Not
    // from a handler: it waits for the server threads.
    void stop();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace turbolm::http
