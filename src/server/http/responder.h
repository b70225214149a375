// The Responder the handler gets: checks that the calls come in a valid order (one reply, or
// begin_stream → write... → end) and posts each to the connection's strand, where the Exchange (the
// state of one request on its connection) decides what still goes out.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "server/http/connection.h"
#include "server/http/http_server.h"

namespace turbolm::http {

struct Exchange {
    bool head = false;       // a HEAD request: headers only
    bool keep_alive = true;  // the connection stays open after this reply
    bool http10 = false;

    // Strand only.
    bool streaming = false;  // the stream head was queued
    bool ended = false;      // the handler is done: reply(), end(), or the Responder was dropped
    bool finished = false;   // the connection is done with it: written out, or closed
    std::function<void()> on_disconnect;

    // Set on the strand when the client leaves before `ended`; read from any thread.
    std::atomic<bool> disconnected{false};
};

// Runs an on_disconnect callback; what it throws is logged, not passed on.
void run_disconnect_callback(std::function<void()>& fn);

class ResponderImpl final : public Responder {
  public:
    ResponderImpl(std::shared_ptr<Connection> connection, std::shared_ptr<Exchange> exchange)
        : connection_(std::move(connection)), exchange_(std::move(exchange)) {}
    ~ResponderImpl() override;

    void reply(int status, std::string content_type, std::string body, Headers extra) override;
    void begin_stream(int status, std::string content_type, Headers extra) override;
    void write(std::string data) override;
    void end() override;
    void on_disconnect(std::function<void()> fn) override;
    bool disconnected() const override { return exchange_->disconnected.load(); }

    bool answered() const { return state_.load() != kFresh; }  // reply() or begin_stream() was called

  private:
    enum State { kFresh, kStreaming, kDone };

    template <typename Fn>
    bool post(Fn&& fn) {
        return connection_->core().post(connection_->strand(), std::forward<Fn>(fn));
    }

    std::shared_ptr<Connection> connection_;
    std::shared_ptr<Exchange> exchange_;
    std::atomic<int> state_{kFresh};
};

}  // namespace turbolm::http
