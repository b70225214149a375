// What the listener, the connections and the responders share: the io_context, the options and
// handler, the counters and the set of open connections. Responders may outlive the Server, so this
// is held by shared_ptr and closes a gate once the server has stopped: posts after that are dropped.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "server/http/http_server.h"

namespace turbolm::http {

class Connection;

struct ServerCore {
    ServerCore(ServerOptions o, Handler h)
        : options(std::move(o)), handler(std::move(h)), ioc(options.threads > 0 ? options.threads : 1) {}

    const ServerOptions options;
    const Handler handler;
    boost::asio::io_context ioc;

    std::atomic<size_t> replies_in_progress{0};
    std::atomic<bool> accepting{false};  // false after stop_accepting: replies then close their connection

    // Open connections (sockets not yet closed), for the limit, the count and stop().
    std::mutex connections_mutex;
    std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;
    bool closing = false;  // stop() has begun: new connections are closed at once

    // Posts fn to `executor` unless the server has stopped; returns whether it was posted.
    template <typename Executor, typename Fn>
    bool post(const Executor& executor, Fn&& fn) {
        std::shared_lock lock(gate_mutex);
        if (stopped) return false;
        boost::asio::post(executor, std::forward<Fn>(fn));
        return true;
    }
    void close_gate() {
        std::unique_lock lock(gate_mutex);
        stopped = true;
    }

  private:
    std::shared_mutex gate_mutex;
    bool stopped = false;
};

}  // namespace turbolm::http
