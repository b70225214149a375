// One client connection: reads requests one after another (keep-alive, pipelined bytes are kept),
// hands each to the handler with a Responder and writes the reply from an ordered queue. Everything
// runs on the connection's strand; Responders reach it only by posting there.
//
// Phases: kRequest (reading a request under the idle, then the request deadline) → kExchange (the
// handler has the request; a read stays pending so that a client that leaves is noticed at once)
// → back to kRequest, or kClosing (the last bytes are written, then a lingering close reads and
// drops what the client still sends, so that it sees the reply rather than a reset) → kClosed.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "server/http/http_server.h"
#include "server/http/server_core.h"

namespace turbolm::http {

struct Exchange;

class Connection : public std::enable_shared_from_this<Connection> {
  public:
    using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

    Connection(std::shared_ptr<ServerCore> core, boost::asio::ip::tcp::socket socket, Strand strand);
    ~Connection();

    const Strand& strand() const { return strand_; }
    ServerCore& core() { return *core_; }

    // On the strand. `reject`: answer 503 (too many connections) and close.
    void start(bool reject);
    // On the strand: Server::stop. Cuts the connection off; a reply in progress sees a disconnect.
    void shut_down();

    // On the strand, from the Responder of `ex`; calls for an exchange that is over are ignored.
    void send_reply(const std::shared_ptr<Exchange>& ex, int status, std::string content_type, std::string body,
                    Headers extra);
    void send_stream_head(const std::shared_ptr<Exchange>& ex, int status, std::string content_type, Headers extra);
    void send_stream_data(const std::shared_ptr<Exchange>& ex, std::string data);
    void send_stream_end(const std::shared_ptr<Exchange>& ex);
    void abandon(const std::shared_ptr<Exchange>& ex);  // the Responder was dropped mid-stream
    void add_disconnect_callback(const std::shared_ptr<Exchange>& ex, std::function<void()> fn);

  private:
    enum class Phase { kRequest, kExchange, kClosing, kClosed };

    void read_more();
    void on_read(const boost::system::error_code& ec, size_t n);
    void parse();
    void dispatch();
    void next_request();
    void fail_request(int status, const std::string& message);

    void enqueue(std::string bytes);
    void write_more();
    void on_write(const boost::system::error_code& ec, size_t n);
    void on_flushed();
    void finish_exchange();

    void start_linger();
    void client_left();  // the client went away or was cut off: close, tell an unfinished reply
    void close();

    void arm_read_deadline(std::chrono::steady_clock::duration d);
    void cancel_read_deadline();
    void on_read_deadline();

    std::shared_ptr<ServerCore> core_;  // first member: the io_context outlives the socket and timers
    Strand strand_;
    boost::asio::ip::tcp::socket socket_;
    boost::asio::steady_timer read_timer_;
    boost::asio::steady_timer write_timer_;
    std::string remote_;
    Phase phase_ = Phase::kRequest;

    boost::beast::flat_buffer in_;
    std::array<char, 4096> scratch_;  // reads while in_ may be consumed (see read_more)
    std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
    bool reading_ = false;
    bool request_started_ = false;  // bytes of the current request have arrived (request deadline runs)
    bool continue_sent_ = false;
    bool peer_closed_ = false;  // the client closed its side after its request
    bool lingering_ = false;

    std::deque<std::string> out_;
    size_t out_offset_ = 0;  // bytes of out_.front() already written
    size_t out_bytes_ = 0;   // queued and not yet written
    bool writing_ = false;

    std::shared_ptr<Exchange> exchange_;  // the request the handler has, kExchange only
    unsigned read_deadline_gen_ = 0;
    unsigned write_deadline_gen_ = 0;
};

}  // namespace turbolm::http
