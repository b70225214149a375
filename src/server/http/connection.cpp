// A Connection's life and its request side: reading and parsing requests under their deadlines,
// handing them to the handler, and closing. The reply side is in connection_reply.cpp.
#include "server/http/connection.h"

#include <cstring>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include "core/logging.h"
#include "server/http/responder.h"
#include "server/http/wire.h"

namespace turbolm::http {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr uint32_t kHeaderLimit = 64 * 1024;           // request line and header fields; beyond: 431
constexpr size_t kReadSize = 64 * 1024;                // one read while a request arrives
constexpr size_t kMaxBufferedWhileBusy = 64 * 1024;    // pipelined bytes kept while a reply is made
constexpr auto kLingerTime = std::chrono::seconds(2);  // reading what a closed client still sends

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return out;
}

std::string_view view(boost::beast::string_view s) {
    return {s.data(), s.size()};
}

std::string endpoint_text(const asio::ip::tcp::endpoint& e) {
    auto address = e.address();
    std::string host = address.to_string();
    if (address.is_v6()) host = "[" + host + "]";
    return host + ":" + std::to_string(e.port());
}

}  // namespace

Connection::Connection(std::shared_ptr<ServerCore> core, asio::ip::tcp::socket socket, Strand strand)
    : core_(std::move(core)),
      strand_(std::move(strand)),
      socket_(std::move(socket)),
      read_timer_(strand_),
      write_timer_(strand_) {
    error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    if (!ec) remote_ = endpoint_text(remote);
    error_code ignored;
    socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
}

Connection::~Connection() {
    std::lock_guard lock(core_->connections_mutex);
    core_->connections.erase(this);
}

void Connection::start(bool reject) {
    if (phase_ == Phase::kClosed) return;
    if (reject) {
        phase_ = Phase::kClosing;
        enqueue(wire::error_response(503, "the server has too many open connections", false));
        read_more();
        return;
    }
    arm_read_deadline(core_->options.idle_timeout);
    read_more();
}

void Connection::shut_down() {
    client_left();
}

// ---- reading ----

void Connection::read_more() {
    if (reading_ || phase_ == Phase::kClosed) return;
    if (phase_ == Phase::kExchange && in_.size() >= kMaxBufferedWhileBusy) return;
    reading_ = true;
    // Only a request read goes straight into in_: while a reply is made or the connection closes,
    // in_ may be parsed and consumed, so those reads land in scratch_ and are appended on completion.
    bool direct = phase_ == Phase::kRequest;
    auto target = direct ? in_.prepare(kReadSize) : asio::buffer(scratch_);
    socket_.async_read_some(target, [self = shared_from_this(), direct](const error_code& ec, size_t n) {
        if (!ec) {
            if (direct) {
                self->in_.commit(n);
            } else {
                auto dst = self->in_.prepare(n);
                std::memcpy(dst.data(), self->scratch_.data(), n);
                self->in_.commit(n);
            }
        }
        self->on_read(ec, n);
    });
}

void Connection::on_read(const error_code& ec, size_t n) {
    reading_ = false;
    switch (phase_) {
        case Phase::kClosed:
            return;
        case Phase::kClosing:
            in_.consume(in_.size());
            if (ec) {
                if (lingering_ || !writing_) {
                    close();
                } else {
                    peer_closed_ = true;
                }
                return;
            }
            read_more();
            return;
        case Phase::kExchange:
            if (ec == asio::error::eof && exchange_ && exchange_->ended) {
                // The client closed its side after the whole reply was handed over: it may still be
                // reading, so the reply is written out before the connection closes.
                exchange_->keep_alive = false;
                peer_closed_ = true;
                return;
            }
            // A read error or end of stream while the reply is made: the client has left.
            if (ec) {
                client_left();
                return;
            }
            read_more();
            return;
        case Phase::kRequest:
            if (ec) {
                close();  // the client closed (or broke) the connection between or inside requests
                return;
            }
            if (!request_started_ && n > 0) {
                request_started_ = true;
                arm_read_deadline(core_->options.request_timeout);
            }
            parse();
            return;
    }
}

void Connection::parse() {
    for (;;) {
        if (!parser_) {
            parser_.emplace();
            parser_->header_limit(kHeaderLimit);
            parser_->body_limit(uint64_t(core_->options.max_body_bytes));
            parser_->eager(true);
            continue_sent_ = false;
        }
        if (in_.size() == 0) break;
        error_code ec;
        size_t used = parser_->put(in_.data(), ec);
        in_.consume(used);
        if (ec == bhttp::error::need_more) break;
        if (ec == bhttp::error::body_limit) {
            fail_request(413, "the request body is larger than the limit of " +
                                  std::to_string(core_->options.max_body_bytes) + " bytes");
            return;
        }
        if (ec == bhttp::error::header_limit) {
            fail_request(431,
                         "the request header is larger than the limit of " + std::to_string(kHeaderLimit) + " bytes");
            return;
        }
        if (ec) {
            fail_request(400, "malformed HTTP request: " + ec.message());
            return;
        }
        if (parser_->is_done()) {
            dispatch();
            return;
        }
        if (used == 0) break;
    }
    // The header is in and a body is announced: a client that asked for it may now send the body.
    if (parser_->is_header_done() && !continue_sent_) {
        continue_sent_ = true;
        const auto& h = parser_->get();
        auto expect = h.find(bhttp::field::expect);
        if (h.version() >= 11 && expect != h.end() && lower(view(expect->value())) == "100-continue")
            enqueue(std::string(wire::kContinue));
    }
    read_more();
}

void Connection::dispatch() {
    auto message = parser_->release();
    parser_.reset();
    cancel_read_deadline();
    request_started_ = false;

    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    size_t q = request.target.find('?');
    request.path = request.target.substr(0, q);
    if (q != std::string::npos) request.query = request.target.substr(q + 1);
    for (const auto& field : message)
        request.headers.emplace_back(lower(view(field.name_string())), std::string(view(field.value())));
    request.body = std::move(message.body());
    request.remote = remote_;

    auto ex = std::make_shared<Exchange>();
    ex->head = message.method() == bhttp::verb::head;
    ex->http10 = message.version() < 11;
    ex->keep_alive = message.keep_alive() && core_->accepting.load();
    exchange_ = ex;
    phase_ = Phase::kExchange;
    core_->replies_in_progress.fetch_add(1);
    read_more();  // notices a client that leaves while the reply is made

    auto responder = std::make_shared<ResponderImpl>(shared_from_this(), ex);
    try {
        core_->handler(request, responder);
    } catch (const std::exception& e) {
        log::error("http: handler failed on ", request.method, " ", request.target, ": ", e.what());
        if (!responder->answered())
            responder->reply(500, "application/json", wire::error_json(500, std::string("internal error: ") + e.what()),
                             Headers{});
    } catch (...) {
        log::error("http: handler failed on ", request.method, " ", request.target);
        if (!responder->answered())
            responder->reply(500, "application/json", wire::error_json(500, "internal error"), Headers{});
    }
}

void Connection::next_request() {
    phase_ = Phase::kRequest;
    parser_.reset();
    if (in_.size() == 0) {
        request_started_ = false;
        in_.shrink_to_fit();  // an idle connection holds no buffer
        arm_read_deadline(core_->options.idle_timeout);
        read_more();
        return;
    }
    request_started_ = true;  // the next request was pipelined behind the last one
    arm_read_deadline(core_->options.request_timeout);
    parse();
}

void Connection::fail_request(int status, const std::string& message) {
    log::debug("http: ", remote_, ": ", status, " ", message);
    parser_.reset();
    cancel_read_deadline();
    phase_ = Phase::kClosing;
    enqueue(wire::error_response(status, message, false));
    read_more();
}

// ---- closing ----

void Connection::start_linger() {
    lingering_ = true;
    error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    if (ec) {
        close();
        return;
    }
    arm_read_deadline(kLingerTime);
    read_more();
}

void Connection::client_left() {
    if (phase_ == Phase::kClosed) return;
    auto ex = std::move(exchange_);
    exchange_.reset();
    close();
    if (!ex) return;
    ex->finished = true;
    core_->replies_in_progress.fetch_sub(1);
    auto fn = std::move(ex->on_disconnect);
    ex->on_disconnect = nullptr;
    if (!ex->ended) {
        ex->disconnected.store(true);
        run_disconnect_callback(fn);
    }
}

void Connection::close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    error_code ec;
    socket_.close(ec);
    cancel_read_deadline();
    ++write_deadline_gen_;
    write_timer_.cancel();
    parser_.reset();
    if (!writing_) {
        out_.clear();
        out_bytes_ = 0;
    }
    std::lock_guard lock(core_->connections_mutex);
    core_->connections.erase(this);
}

// ---- deadlines ----

void Connection::arm_read_deadline(std::chrono::steady_clock::duration d) {
    auto gen = ++read_deadline_gen_;
    read_timer_.expires_after(d);
    read_timer_.async_wait([self = shared_from_this(), gen](const error_code& ec) {
        if (ec || gen != self->read_deadline_gen_) return;
        self->on_read_deadline();
    });
}

void Connection::cancel_read_deadline() {
    ++read_deadline_gen_;
    read_timer_.cancel();
}

void Connection::on_read_deadline() {
    switch (phase_) {
        case Phase::kRequest:
            if (request_started_) {
                fail_request(408, "the request did not arrive within " +
                                      std::to_string(core_->options.request_timeout.count()) + " ms");
            } else {
                close();  // idle keep-alive connection
            }
            return;
        case Phase::kClosing:
            close();
            return;  // the lingering close is over
        default:
            return;
    }
}

}  // namespace turbolm::http
