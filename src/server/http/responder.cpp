#include "server/http/responder.h"

#include <exception>
#include <utility>

#include "core/logging.h"
#include "server/http/wire.h"

namespace turbolm::http {

void run_disconnect_callback(std::function<void()>& fn) {
    if (!fn) return;
    try {
        fn();
    } catch (const std::exception& e) {
        log::warn("http: disconnect callback threw: ", e.what());
    } catch (...) {
        log::warn("http: disconnect callback threw");
    }
}

ResponderImpl::~ResponderImpl() {
    int state = state_.load();
    auto c = connection_;
    auto ex = exchange_;
    if (state == kFresh) {
        post([c, ex] {
            c->send_reply(ex, 500, "application/json", wire::error_json(500, "the handler did not answer the request"),
                          Headers{});
        });
    } else if (state == kStreaming) {
        post([c, ex] { c->abandon(ex); });
    }
}

void ResponderImpl::reply(int status, std::string content_type, std::string body, Headers extra) {
    int expected = kFresh;
    if (!state_.compare_exchange_strong(expected, kDone)) return;
    post([c = connection_, ex = exchange_, status, ct = std::move(content_type), body = std::move(body),
          extra = std::move(extra)]() mutable {
        c->send_reply(ex, status, std::move(ct), std::move(body), std::move(extra));
    });
}

void ResponderImpl::begin_stream(int status, std::string content_type, Headers extra) {
    int expected = kFresh;
    if (!state_.compare_exchange_strong(expected, kStreaming)) return;
    post([c = connection_, ex = exchange_, status, ct = std::move(content_type), extra = std::move(extra)]() mutable {
        c->send_stream_head(ex, status, std::move(ct), std::move(extra));
    });
}

void ResponderImpl::write(std::string data) {
    if (data.empty() || state_.load() != kStreaming || exchange_->disconnected.load()) return;
    post([c = connection_, ex = exchange_, data = std::move(data)]() mutable {
        c->send_stream_data(ex, std::move(data));
    });
}

void ResponderImpl::end() {
    int expected = kStreaming;
    if (!state_.compare_exchange_strong(expected, kDone)) return;
    post([c = connection_, ex = exchange_] { c->send_stream_end(ex); });
}

void ResponderImpl::on_disconnect(std::function<void()> fn) {
    if (!fn) return;
    auto shared_fn = std::make_shared<std::function<void()>>(std::move(fn));
    bool posted =
        post([c = connection_, ex = exchange_, shared_fn] { c->add_disconnect_callback(ex, std::move(*shared_fn)); });
    // The server has stopped, so every unfinished reply has been cut off: tell this one here.
    if (!posted && exchange_->disconnected.load()) run_disconnect_callback(*shared_fn);
}

}  // namespace turbolm::http
