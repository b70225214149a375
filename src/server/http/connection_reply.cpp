// The reply side of a Connection: what the Responder queues (after checking that its exchange is
// still the current one) and the write loop that sends the queue in order.
#include <utility>

#include <boost/asio/buffer.hpp>

#include "core/logging.h"
#include "server/http/connection.h"
#include "server/http/responder.h"
#include "server/http/wire.h"

namespace turbolm::http {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr auto kWriteTimeout = std::chrono::seconds(60);  // a write that makes no progress this long

}  // namespace

// ---- replies (from the Responder) ----

void Connection::send_reply(const std::shared_ptr<Exchange>& ex, int status, std::string content_type, std::string body,
                            Headers extra) {
    if (ex != exchange_ || ex->ended || ex->streaming) return;
    ex->ended = true;
    wire::Head h;
    h.status = status;
    h.content_type = content_type;
    h.extra = &extra;
    h.framing = wire::Framing::kLength;
    h.content_length = body.size();
    h.keep_alive = ex->keep_alive;
    h.http10 = ex->http10;
    enqueue(wire::head(h));
    if (!ex->head && wire::status_has_body(status)) enqueue(std::move(body));
}

void Connection::send_stream_head(const std::shared_ptr<Exchange>& ex, int status, std::string content_type,
                                  Headers extra) {
    if (ex != exchange_ || ex->ended || ex->streaming) return;
    ex->streaming = true;
    if (ex->http10) ex->keep_alive = false;  // no chunked encoding: the end of the body is the close
    wire::Head h;
    h.status = status;
    h.content_type = content_type;
    h.extra = &extra;
    h.framing = ex->http10 ? wire::Framing::kUntilClose : wire::Framing::kChunked;
    h.keep_alive = ex->keep_alive;
    h.http10 = ex->http10;
    enqueue(wire::head(h));
}

void Connection::send_stream_data(const std::shared_ptr<Exchange>& ex, std::string data) {
    if (ex != exchange_ || !ex->streaming || ex->ended || ex->head || data.empty()) return;
    enqueue(ex->http10 ? std::move(data) : wire::chunk(data));
    if (out_bytes_ > core_->options.max_pending_write_bytes) {
        log::debug("http: ", remote_, ": cut off, ", out_bytes_, " bytes unsent");
        client_left();
    }
}

void Connection::send_stream_end(const std::shared_ptr<Exchange>& ex) {
    if (ex != exchange_ || !ex->streaming || ex->ended) return;
    ex->ended = true;
    if (!ex->http10 && !ex->head) {
        enqueue(std::string(wire::kLastChunk));
    } else if (!writing_) {
        on_flushed();
    }
}

void Connection::abandon(const std::shared_ptr<Exchange>& ex) {
    if (ex != exchange_ || ex->ended) return;
    // The stream stops short of its last chunk; closing the connection tells the client so.
    ex->ended = true;
    ex->keep_alive = false;
    if (!writing_) on_flushed();
}

void Connection::add_disconnect_callback(const std::shared_ptr<Exchange>& ex, std::function<void()> fn) {
    if (ex->disconnected.load()) {
        run_disconnect_callback(fn);
    } else if (!ex->finished && !ex->ended) {
        ex->on_disconnect = std::move(fn);
    }
}

// ---- writing ----

void Connection::enqueue(std::string bytes) {
    if (phase_ == Phase::kClosed || bytes.empty()) return;
    out_bytes_ += bytes.size();
    out_.push_back(std::move(bytes));
    if (!writing_) write_more();
}

void Connection::write_more() {
    std::array<asio::const_buffer, 16> buffers;
    size_t count = 0;
    for (size_t i = 0; i < out_.size() && count < buffers.size(); ++i) {
        size_t skip = i == 0 ? out_offset_ : 0;
        buffers[count++] = asio::buffer(out_[i].data() + skip, out_[i].size() - skip);
    }
    writing_ = true;
    auto gen = ++write_deadline_gen_;
    write_timer_.expires_after(kWriteTimeout);
    write_timer_.async_wait([self = shared_from_this(), gen](const error_code& ec) {
        if (ec || gen != self->write_deadline_gen_ || self->phase_ == Phase::kClosed) return;
        log::debug("http: ", self->remote_, ": a write made no progress in ", kWriteTimeout.count(), " s");
        self->client_left();
    });
    // Unused entries stay empty buffers.
    socket_.async_write_some(buffers,
                             [self = shared_from_this()](const error_code& ec, size_t n) { self->on_write(ec, n); });
}

void Connection::on_write(const error_code& ec, size_t n) {
    writing_ = false;
    ++write_deadline_gen_;
    write_timer_.cancel();
    if (phase_ == Phase::kClosed) {
        out_.clear();
        out_bytes_ = 0;
        return;
    }
    if (ec) {
        client_left();
        return;
    }
    out_bytes_ -= n;
    while (n > 0) {
        size_t left = out_.front().size() - out_offset_;
        if (n >= left) {
            n -= left;
            out_.pop_front();
            out_offset_ = 0;
        } else {
            out_offset_ += n;
            n = 0;
        }
    }
    if (!out_.empty()) {
        write_more();
        return;
    }
    on_flushed();
}

void Connection::on_flushed() {
    if (phase_ == Phase::kExchange) {
        if (exchange_ && exchange_->ended) finish_exchange();
    } else if (phase_ == Phase::kClosing && !lingering_) {
        if (peer_closed_) {
            close();
        } else {
            start_linger();
        }
    }
}

void Connection::finish_exchange() {
    auto ex = std::move(exchange_);
    exchange_.reset();
    ex->finished = true;
    auto fn = std::move(ex->on_disconnect);  // never runs: the reply ended
    ex->on_disconnect = nullptr;
    core_->replies_in_progress.fetch_sub(1);
    if (!ex->keep_alive) {
        phase_ = Phase::kClosing;
        on_flushed();  // nothing is queued: linger, or close when the client already has
    } else {
        next_request();
    }
}

}  // namespace turbolm::http
