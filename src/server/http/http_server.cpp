// The listener and the thread pool. Connections live in connection.cpp, the Responder in
// responder.cpp, the bytes on the wire in wire.cpp.
#include "server/http/http_server.h"

#include <condition_variable>
#include <future>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "core/logging.h"
#include "server/http/connection.h"
#include "server/http/server_core.h"

namespace turbolm::http {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

thread_local bool t_on_server_thread = false;

constexpr auto kStopGrace = std::chrono::seconds(5);  // then the io_context is stopped outright

}  // namespace

const std::string* Request::header(std::string_view name) const {
    for (const auto& [key, value] : headers)
        if (key == name) return &value;
    return nullptr;
}

struct Server::Impl {
    Impl(ServerOptions options, Handler handler)
        : core(std::make_shared<ServerCore>(std::move(options), std::move(handler))),
          accept_strand(asio::make_strand(core->ioc)),
          acceptor(accept_strand),
          retry_timer(accept_strand) {}

    void accept();
    void on_accept(const error_code& ec, tcp::socket socket, Connection::Strand strand);
    void close_acceptor();
    void run_thread();

    std::shared_ptr<ServerCore> core;
    Connection::Strand accept_strand;
    tcp::acceptor acceptor;
    asio::steady_timer retry_timer;  // after a failed accept (out of descriptors), wait a little
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::vector<std::thread> threads;

    std::mutex lifecycle_mutex;
    bool started = false;
    bool stopped = false;
    int port = 0;

    std::mutex exit_mutex;
    std::condition_variable exit_cv;
    size_t threads_exited = 0;
};

void Server::Impl::accept() {
    auto strand = asio::make_strand(core->ioc);
    acceptor.async_accept(
        strand, [this, strand](const error_code& ec, tcp::socket socket) { on_accept(ec, std::move(socket), strand); });
}

void Server::Impl::on_accept(const error_code& ec, tcp::socket socket, Connection::Strand strand) {
    if (!acceptor.is_open()) return;
    if (ec) {
        if (ec == asio::error::operation_aborted) return;
        log::warn("http: accept failed: ", ec.message());
        retry_timer.expires_after(std::chrono::milliseconds(50));
        retry_timer.async_wait([this](const error_code& wait_ec) {
            if (!wait_ec && acceptor.is_open()) accept();
        });
        return;
    }
    auto connection = std::make_shared<Connection>(core, std::move(socket), strand);
    bool reject = false;
    bool closing = false;
    {
        std::lock_guard lock(core->connections_mutex);
        closing = core->closing;
        if (!closing) {
            reject = core->connections.size() >= core->options.max_connections;
            core->connections.emplace(connection.get(), connection);
        }
    }
    if (!closing) asio::post(strand, [connection, reject] { connection->start(reject); });
    accept();
}

void Server::Impl::close_acceptor() {
    error_code ec;
    acceptor.close(ec);
    retry_timer.cancel();
}

void Server::Impl::run_thread() {
    t_on_server_thread = true;
    for (;;) {
        try {
            core->ioc.run();
            break;
        } catch (const std::exception& e) {
            log::error("http: server thread: ", e.what());
        } catch (...) {
            log::error("http: server thread: unknown exception");
        }
    }
    std::lock_guard lock(exit_mutex);
    ++threads_exited;
    exit_cv.notify_all();
}

Server::Server(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

Server::~Server() {
    stop();
}

Status Server::start() {
    Impl& m = *impl_;
    std::lock_guard lock(m.lifecycle_mutex);
    const ServerOptions& o = m.core->options;
    std::string where = o.host + ":" + std::to_string(o.port);
    if (m.started) return {StatusCode::kInvalidArgument, "the server on " + where + " was already started"};
    if (o.port < 0 || o.port > 65535) return {StatusCode::kInvalidArgument, "cannot listen on " + where + ": bad port"};

    error_code ec;
    tcp::resolver resolver(m.core->ioc);
    auto endpoints = resolver.resolve(o.host, std::to_string(o.port), tcp::resolver::passive, ec);
    if (ec) return {StatusCode::kInvalidArgument, "cannot listen on " + where + ": " + ec.message()};
    error_code last = asio::error::host_not_found;
    for (const auto& entry : endpoints) {
        error_code e;
        m.acceptor.open(entry.endpoint().protocol(), e);
        if (!e) m.acceptor.set_option(asio::socket_base::reuse_address(true), e);
        if (!e) m.acceptor.bind(entry.endpoint(), e);
        if (!e) m.acceptor.listen(asio::socket_base::max_listen_connections, e);
        if (!e) {
            last = {};
            break;
        }
        last = e;
        error_code ignored;
        m.acceptor.close(ignored);
    }
    if (last) return {StatusCode::kInvalidArgument, "cannot listen on " + where + ": " + last.message()};
    m.port = m.acceptor.local_endpoint(ec).port();

    m.started = true;
    m.core->accepting = true;
    m.work.emplace(m.core->ioc.get_executor());
    asio::post(m.accept_strand, [&m] { m.accept(); });
    int n = o.threads > 0 ? o.threads : 1;
    for (int i = 0; i < n; ++i) m.threads.emplace_back([&m] { m.run_thread(); });
    return Status::ok();
}

int Server::port() const {
    return impl_->port;
}

void Server::stop_accepting() {
    Impl& m = *impl_;
    std::lock_guard lock(m.lifecycle_mutex);
    if (!m.started || m.stopped) return;
    m.core->accepting = false;
    if (t_on_server_thread) {  // waiting here could wait on this very thread
        asio::post(m.accept_strand, [&m] { m.close_acceptor(); });
        return;
    }
    std::promise<void> done;
    asio::post(m.accept_strand, [&m, &done] {
        m.close_acceptor();
        done.set_value();
    });
    done.get_future().wait();
}

size_t Server::open_connections() const {
    std::lock_guard lock(impl_->core->connections_mutex);
    return impl_->core->connections.size();
}

size_t Server::replies_in_progress() const {
    return impl_->core->replies_in_progress.load();
}

void Server::stop() {
    Impl& m = *impl_;
    std::lock_guard lock(m.lifecycle_mutex);
    if (!m.started || m.stopped) return;
    m.stopped = true;
    m.core->accepting = false;

    std::vector<std::shared_ptr<Connection>> open;
    {
        std::lock_guard conn_lock(m.core->connections_mutex);
        m.core->closing = true;
        for (auto& [ptr, weak] : m.core->connections)
            if (auto c = weak.lock()) open.push_back(std::move(c));
    }
    asio::post(m.accept_strand, [&m] { m.close_acceptor(); });
    for (auto& c : open) asio::post(c->strand(), [c] { c->shut_down(); });
    open.clear();

    // With every socket closed and no work guard, the threads run out of work and return.
    m.work.reset();
    {
        std::unique_lock exit_lock(m.exit_mutex);
        if (!m.exit_cv.wait_for(exit_lock, kStopGrace, [&m] { return m.threads_exited == m.threads.size(); })) {
            log::warn("http: server threads still busy after ", kStopGrace.count(), " s; stopping them");
            m.core->ioc.stop();
        }
    }
    for (auto& t : m.threads) t.join();
    m.threads.clear();

    // Responders kept by the handler may still post; from now on their posts are dropped. Run what
    // was posted before the gate closed, so that nothing stays queued.
    m.core->close_gate();
    m.core->ioc.restart();
    try {
        m.core->ioc.poll();
    } catch (const std::exception& e) {
        log::error("http: while stopping: ", e.what());
    }
}

}  // namespace turbolm::http
