// The HTTP server against a plain POSIX-socket client (tests/server/http_test_client.h): framing,
// keep-alive, limits, timeouts, streaming, disconnects, load and shutdown.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "server/http/http_server.h"
#include "server/http_test_client.h"

namespace turbolm::http {
namespace {

using namespace std::chrono_literals;
using test::HttpClient;
using test::HttpResponse;
using Clock = std::chrono::steady_clock;

template <typename Pred>
bool wait_for(Pred pred, std::chrono::milliseconds within = 2000ms) {
    auto deadline = Clock::now() + within;
    while (!pred()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

long long ms_since(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

ServerOptions options() {
    ServerOptions o;
    o.port = 0;
    o.threads = 2;
    return o;
}

std::unique_ptr<Server> start(ServerOptions o, Handler h) {
    auto server = std::make_unique<Server>(std::move(o), std::move(h));
    Status s = server->start();
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    EXPECT_GT(server->port(), 0);
    return server;
}

// Replies "METHOD path query x-test body" and an X-Echo header.
void echo(const Request& r, std::shared_ptr<Responder> out) {
    const std::string* t = r.header("x-test");
    out->reply(200, "text/plain", r.method + " " + r.path + " " + r.query + " " + (t ? *t : "-") + " " + r.body,
               {{"X-Echo", "yes"}});
}

std::string get(const std::string& target, const std::string& extra = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

std::string post(const std::string& target, const std::string& body) {
    return "POST " + target +
           " HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
}

// Every connection closed and every reply over.
void expect_drained(const Server& s) {
    EXPECT_TRUE(wait_for([&] { return s.open_connections() == 0 && s.replies_in_progress() == 0; }))
        << s.open_connections() << " connections open, " << s.replies_in_progress() << " replies in progress";
}

// Threads the handlers start; joined at the end of the test.
struct Workers {
    std::mutex mutex;
    std::vector<std::thread> threads;
    template <typename Fn>
    void run(Fn fn) {
        std::lock_guard lock(mutex);
        threads.emplace_back(std::move(fn));
    }
    ~Workers() {
        for (auto& t : threads) t.join();
    }
};

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
    std::mutex m;
    std::string remote;
    auto server = start(options(), [&](const Request& r, std::shared_ptr<Responder> out) {
        {
            std::lock_guard lock(m);
            remote = r.remote;
        }
        echo(r, std::move(out));
    });
    HttpClient c(server->port());
    ASSERT_TRUE(c.connected());

    ASSERT_TRUE(c.send(get("/a/b?x=1&y=%20", "X-TeSt: hello\r\n")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status_line, "HTTP/1.1 200 OK");
    EXPECT_EQ(r->body, "GET /a/b x=1&y=%20 hello ");
    EXPECT_EQ(r->header_or("server"), "turbolm");
    EXPECT_EQ(r->header_or("content-type"), "text/plain");
    EXPECT_EQ(r->header_or("content-length"), std::to_string(r->body.size()));
    EXPECT_EQ(r->header_or("x-echo"), "yes");
    EXPECT_EQ(r->header("connection"), nullptr);
    EXPECT_EQ(server->open_connections(), 1u);

    ASSERT_TRUE(c.send(post("/p", "payload bytes")));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "POST /p  - payload bytes");

    ASSERT_TRUE(c.send(get("/third")));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /third  - ");
    {
        std::lock_guard lock(m);
        EXPECT_EQ(remote.rfind("127.0.0.1:", 0), 0u) << remote;
    }
    // The reply has ended once its last byte is written, which may be just after the client read it.
    EXPECT_TRUE(wait_for([&] { return server->replies_in_progress() == 0; }));
    EXPECT_EQ(server->open_connections(), 1u);
    c.close();
    expect_drained(*server);
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
    auto server = start(options(), echo);
    HttpClient c(server->port());
    ASSERT_TRUE(c.send(get("/1") + post("/2", "two") + get("/3")));
    for (const char* want : {"GET /1  - ", "POST /2  - two", "GET /3  - "}) {
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, want);
    }
}

TEST(HttpServer, ConnectionCloseAndHttp10) {
    auto server = start(options(), echo);
    {
        HttpClient c(server->port());
        ASSERT_TRUE(c.send(get("/x", "Connection: close\r\n")));
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->header_or("connection"), "close");
        EXPECT_TRUE(c.closed_by_server());
    }
    {
        HttpClient c(server->port());
        ASSERT_TRUE(c.send("GET /old HTTP/1.0\r\n\r\n"));
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, "GET /old  - ");
        EXPECT_TRUE(c.closed_by_server());
    }
    {
        HttpClient c(server->port());
        ASSERT_TRUE(c.send("GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->header_or("connection"), "keep-alive");
        ASSERT_TRUE(c.send("GET /again HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, "GET /again  - ");
    }
    expect_drained(*server);
}

TEST(HttpServer, HeadRepliesCarryNoBody) {
    auto server = start(options(), echo);
    HttpClient c(server->port());
    ASSERT_TRUE(c.send("HEAD /h HTTP/1.1\r\nHost: test\r\n\r\n"));
    auto r = c.read_response(/*head_request=*/true);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header_or("content-length"), std::to_string(std::string("HEAD /h  - ").size()));
    // Were a body sent, it would be read as the start of this reply.
    ASSERT_TRUE(c.send(get("/next")));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /next  - ");
}

TEST(HttpServer, DeclaredBodyOverTheLimitGets413) {
    std::atomic<int> calls{0};
    ServerOptions o = options();
    o.max_body_bytes = 1 << 20;
    auto server = start(o, [&](const Request& r, std::shared_ptr<Responder> out) {
        ++calls;
        echo(r, out);
    });
    HttpClient c(server->port());
    ASSERT_TRUE(c.send("POST /big HTTP/1.1\r\nHost: test\r\nContent-Length: 20971520\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status_line, "HTTP/1.1 413 Payload Too Large");
    EXPECT_EQ(r->header_or("content-type"), "application/json");
    EXPECT_EQ(r->header_or("connection"), "close");
    EXPECT_EQ(r->body, R"({"error":{"message":"the request body is larger than the limit of 1048576 bytes",)"
                       R"("type":"invalid_request_error","code":413}})");
    EXPECT_TRUE(c.closed_by_server());
    EXPECT_EQ(calls.load(), 0);

    // At the limit exactly is fine.
    HttpClient ok(server->port());
    ASSERT_TRUE(ok.send(post("/fits", std::string(1 << 20, 'z'))));
    r = ok.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body.size(), std::string("POST /fits  - ").size() + (1 << 20));
    EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServer, HundredMegabyteBodyBeingSentGets413) {
    ServerOptions o = options();
    o.max_body_bytes = 1 << 20;
    auto server = start(o, echo);
    HttpClient c(server->port());
    auto t0 = Clock::now();
    std::atomic<size_t> sent{0};
    std::thread sender([&] {
        if (!c.send("POST /big HTTP/1.1\r\nHost: test\r\nContent-Length: 104857600\r\n\r\n")) return;
        std::string piece(64 * 1024, 'x');
        while (sent < 104857600u) {
            if (!c.send(piece)) return;
            sent += piece.size();
        }
    });
    auto r = c.read_response();
    ::shutdown(c.fd(), SHUT_RDWR);  // stops the sender
    sender.join();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_LT(sent.load(), 104857600u);
    EXPECT_LT(ms_since(t0), 2000);
    c.close();
    expect_drained(*server);
}

TEST(HttpServer, ChunkedRequestBodiesAreDecodedAndLimited) {
    ServerOptions o = options();
    o.max_body_bytes = 1000;
    auto server = start(o, echo);
    {
        HttpClient c(server->port());
        ASSERT_TRUE(
            c.send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, "POST /c  - hello world");
    }
    {
        HttpClient c(server->port());
        std::string piece(800, 'a');
        ASSERT_TRUE(c.send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + piece +
                           "\r\n320\r\n" + piece + "\r\n0\r\n\r\n"));
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 413);
        EXPECT_TRUE(c.closed_by_server());
    }
}

TEST(HttpServer, MalformedRequestsGet400AndTooLargeHeaders431) {
    auto server = start(options(), echo);
    for (std::string bad :
         {std::string("GARBAGE\r\n\r\n"), std::string("GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
          std::string("GET / HTTP/1.1\r\nbad header line\r\n\r\n")}) {
        HttpClient c(server->port());
        ASSERT_TRUE(c.send(bad));
        auto r = c.read_response();
        ASSERT_TRUE(r) << bad;
        EXPECT_EQ(r->status_line, "HTTP/1.1 400 Bad Request") << bad;
        EXPECT_EQ(r->body.rfind(R"({"error":{"message":"malformed HTTP request: )", 0), 0u) << r->body;
        EXPECT_NE(r->body.find(R"("type":"invalid_request_error","code":400}})"), std::string::npos) << r->body;
        EXPECT_TRUE(c.closed_by_server()) << bad;
    }
    HttpClient c(server->port());
    ASSERT_TRUE(c.send(get("/", "X-Big: " + std::string(70 * 1024, 'b') + "\r\n")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 431);
    EXPECT_TRUE(c.closed_by_server());
    c.close();
    expect_drained(*server);
}

TEST(HttpServer, SlowLorisIsCutOffWhileOthersAreServed) {
    ServerOptions o = options();
    o.request_timeout = 300ms;
    auto server = start(o, echo);
    HttpClient slow(server->port());
    ASSERT_TRUE(slow.connected());
    std::atomic<bool> stop_sending{false};
    auto t0 = Clock::now();
    std::thread sender([&] {
        if (!slow.send("GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ")) return;
        while (!stop_sending && slow.send("a")) std::this_thread::sleep_for(20ms);
    });
    for (int i = 0; i < 5; ++i) {
        auto t = Clock::now();
        HttpClient c(server->port());
        ASSERT_TRUE(c.send(get("/fast" + std::to_string(i))));
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, "GET /fast" + std::to_string(i) + "  - ");
        EXPECT_LT(ms_since(t), 200);
        std::this_thread::sleep_for(20ms);
    }
    auto r = slow.read_response();
    auto elapsed = ms_since(t0);
    stop_sending = true;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
    EXPECT_GE(elapsed, 280);
    EXPECT_LT(elapsed, 1000);
    EXPECT_TRUE(slow.closed_by_server(1000ms));
    sender.join();
}

TEST(HttpServer, IdleKeepAliveConnectionIsClosed) {
    ServerOptions o = options();
    o.idle_timeout = 200ms;
    auto server = start(o, echo);
    HttpClient c(server->port());
    ASSERT_TRUE(c.send(get("/")));
    ASSERT_TRUE(c.read_response());
    auto t0 = Clock::now();
    EXPECT_TRUE(c.closed_by_server(1500ms));
    EXPECT_GE(ms_since(t0), 150);
    expect_drained(*server);
}

TEST(HttpServer, StreamsChunksWrittenFromAnotherThread) {
    Workers workers;
    auto server = start(options(), [&](const Request& r, std::shared_ptr<Responder> out) {
        if (r.path != "/stream") return echo(r, out);
        out->begin_stream(200, "text/event-stream", {{"Cache-Control", "no-cache"}});
        workers.run([out] {
            for (int i = 0; i < 50; ++i) {
                out->write("data: " + std::to_string(i) + "\n\n");
                if (i % 10 == 0) std::this_thread::sleep_for(1ms);
            }
            out->end();
            out->write("after the end");  // ignored
        });
    });
    HttpClient c(server->port());
    ASSERT_TRUE(c.send(get("/stream")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header_or("transfer-encoding"), "chunked");
    EXPECT_EQ(r->header_or("content-type"), "text/event-stream");
    EXPECT_EQ(r->header_or("cache-control"), "no-cache");
    EXPECT_EQ(r->header("content-length"), nullptr);
    ASSERT_EQ(r->chunks.size(), 50u);
    std::string want;
    for (int i = 0; i < 50; ++i) {
        EXPECT_EQ(r->chunks[size_t(i)], "data: " + std::to_string(i) + "\n\n");
        want += "data: " + std::to_string(i) + "\n\n";
    }
    EXPECT_EQ(r->body, want);
    // The connection stays usable after the stream.
    ASSERT_TRUE(c.send(get("/after")));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /after  - ");
    c.close();
    expect_drained(*server);
}

TEST(HttpServer, Http10StreamEndsWithTheConnection) {
    Workers workers;
    auto server = start(options(), [&](const Request&, std::shared_ptr<Responder> out) {
        out->begin_stream(200, "text/event-stream");
        workers.run([out] {
            out->write("one,");
            out->write("two");
            out->end();
        });
    });
    HttpClient c(server->port());
    ASSERT_TRUE(c.send("GET /s HTTP/1.0\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("transfer-encoding"), nullptr);
    EXPECT_EQ(r->header_or("connection"), "close");
    EXPECT_EQ(r->body, "one,two");
}

TEST(HttpServer, ClientLeavingMidStreamFiresOnDisconnectOnce) {
    std::atomic<int> disconnects{0}, late_disconnects{0};
    std::mutex m;
    std::shared_ptr<Responder> kept;
    auto server = start(options(), [&](const Request&, std::shared_ptr<Responder> out) {
        out->on_disconnect([&] { ++disconnects; });
        out->begin_stream(200, "text/event-stream");
        out->write("first");
        std::lock_guard lock(m);
        kept = out;
    });
    HttpClient c(server->port());
    ASSERT_TRUE(c.send(get("/stream")));
    ASSERT_TRUE(c.read_head());
    EXPECT_EQ(c.read_chunk().value_or("?"), "first");
    EXPECT_EQ(server->replies_in_progress(), 1u);
    c.close();
    ASSERT_TRUE(wait_for([&] { return disconnects.load() == 1; }));
    std::shared_ptr<Responder> out;
    {
        std::lock_guard lock(m);
        out = kept;
    }
    ASSERT_TRUE(out);
    EXPECT_TRUE(out->disconnected());
    for (int i = 0; i < 3; ++i) out->write("late");
    out->end();
    out->on_disconnect([&] { ++late_disconnects; });  // the client has left: runs at once
    ASSERT_TRUE(wait_for([&] { return late_disconnects.load() == 1; }));
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(disconnects.load(), 1);
    expect_drained(*server);
}

TEST(HttpServer, StreamDroppedBeforeItsEndClosesTheConnection) {
    auto server = start(options(), [](const Request&, std::shared_ptr<Responder> out) {
        out->begin_stream(200, "text/event-stream");
        out->write("partial");
    });
    HttpClient c(server->port());
    ASSERT_TRUE(c.send(get("/s")));
    ASSERT_TRUE(c.read_head());
    EXPECT_EQ(c.read_chunk().value_or("?"), "partial");
    // No last chunk: the client sees the body cut short.
    EXPECT_FALSE(c.read_chunk());
    c.close();
    expect_drained(*server);
}

TEST(HttpServer, ReaderThatNeverReadsIsCutOff) {
    ServerOptions o = options();
    o.max_pending_write_bytes = 256 * 1024;
    Workers workers;
    std::atomic<int> disconnects{0};
    std::atomic<size_t> written{0};
    auto server = start(o, [&](const Request&, std::shared_ptr<Responder> out) {
        out->on_disconnect([&] { ++disconnects; });
        out->begin_stream(200, "application/octet-stream");
        workers.run([&, out] {
            std::string piece(16 * 1024, 'w');
            for (int i = 0; !out->disconnected() && written < (size_t(1) << 30); ++i) {
                out->write(piece);
                written += piece.size();
                if (i % 32 == 0) std::this_thread::sleep_for(1ms);
            }
            out->end();
        });
    });
    HttpClient c(server->port(), /*rcvbuf=*/4096);
    ASSERT_TRUE(c.send(get("/flood")));
    // Never reads.
    ASSERT_TRUE(wait_for([&] { return disconnects.load() == 1; }, 3000ms)) << written.load() << " bytes written";
    expect_drained(*server);
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(disconnects.load(), 1);
}

TEST(HttpServer, DroppedResponderAnswers500) {
    auto server = start(options(), [](const Request& r, std::shared_ptr<Responder> out) {
        if (r.path == "/ok") echo(r, out);
    });
    HttpClient c(server->port());
    ASSERT_TRUE(c.send(get("/drop")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status_line, "HTTP/1.1 500 Internal Server Error");
    EXPECT_EQ(r->body,
              R"({"error":{"message":"the handler did not answer the request","type":"server_error","code":500}})");
    ASSERT_TRUE(c.send(get("/ok")));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /ok  - ");
}

TEST(HttpServer, HandlerExceptionAnswers500) {
    auto server = start(options(), [](const Request& r, std::shared_ptr<Responder> out) {
        if (r.path == "/after-reply") {
            out->reply(201, "text/plain", "made");
            throw std::runtime_error("too late to matter");
        }
        throw std::runtime_error("boom");
    });
    HttpClient c(server->port());
    ASSERT_TRUE(c.send(get("/throw")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(r->body, R"({"error":{"message":"internal error: boom","type":"server_error","code":500}})");
    ASSERT_TRUE(c.send(get("/after-reply")));
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status_line, "HTTP/1.1 201 Created");
    EXPECT_EQ(r->body, "made");
}

TEST(HttpServer, ManyConcurrentConnectionsAreAllAnswered) {
    ServerOptions o = options();
    o.threads = 4;
    auto server = start(o, echo);
    constexpr int kClients = 500;
    std::vector<HttpClient> clients;
    clients.reserve(kClients);
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back(server->port());
        ASSERT_TRUE(clients.back().connected()) << i;
    }
    for (int i = 0; i < kClients; ++i) ASSERT_TRUE(clients[size_t(i)].send(get("/" + std::to_string(i))));
    EXPECT_TRUE(wait_for([&] { return server->open_connections() == size_t(kClients); })) << server->open_connections();
    for (int i = 0; i < kClients; ++i) {
        auto r = clients[size_t(i)].read_response();
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->body, "GET /" + std::to_string(i) + "  - ");
    }
    clients.clear();
    expect_drained(*server);
}

TEST(HttpServer, ConnectionsBeyondTheLimitGet503) {
    ServerOptions o = options();
    o.max_connections = 2;
    auto server = start(o, echo);
    HttpClient a(server->port()), b(server->port());
    for (HttpClient* c : {&a, &b}) {
        ASSERT_TRUE(c->send(get("/in")));
        ASSERT_TRUE(c->read_response());
    }
    HttpClient extra(server->port());
    ASSERT_TRUE(extra.send(get("/over")));
    auto r = extra.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->body,
              R"({"error":{"message":"the server has too many open connections","type":"server_error","code":503}})");
    EXPECT_TRUE(extra.closed_by_server());
    extra.close();
    ASSERT_TRUE(a.send(get("/still")));
    r = a.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /still  - ");
}

TEST(HttpServer, StopWithOpenStreamsReturnsPromptly) {
    std::atomic<int> disconnects{0};
    std::mutex m;
    std::vector<std::shared_ptr<Responder>> kept;
    auto server = start(options(), [&](const Request&, std::shared_ptr<Responder> out) {
        out->on_disconnect([&] { ++disconnects; });
        out->begin_stream(200, "text/event-stream");
        out->write("hello");
        std::lock_guard lock(m);
        kept.push_back(out);
    });
    std::vector<HttpClient> clients;
    for (int i = 0; i < 5; ++i) {
        clients.emplace_back(server->port());
        ASSERT_TRUE(clients.back().send(get("/stream")));
        ASSERT_TRUE(clients.back().read_head());
        EXPECT_EQ(clients.back().read_chunk().value_or("?"), "hello");
    }
    EXPECT_EQ(server->replies_in_progress(), 5u);
    auto t0 = Clock::now();
    server->stop();
    EXPECT_LT(ms_since(t0), 500);
    EXPECT_EQ(disconnects.load(), 5);
    EXPECT_EQ(server->open_connections(), 0u);
    EXPECT_EQ(server->replies_in_progress(), 0u);
    for (auto& c : clients) EXPECT_TRUE(c.closed_by_server(500ms));
    server.reset();
    // The responders outlive the server: their calls do nothing, a late on_disconnect runs at once.
    std::lock_guard lock(m);
    for (auto& out : kept) {
        EXPECT_TRUE(out->disconnected());
        out->write("late");
        out->end();
        out->on_disconnect([&] { ++disconnects; });
    }
    EXPECT_EQ(disconnects.load(), 10);
    kept.clear();
}

TEST(HttpServer, StartFailsOnABusyPortOrBadHost) {
    auto first = start(options(), echo);
    ServerOptions o = options();
    o.port = first->port();
    Server second(o, echo);
    Status s = second.start();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    std::string prefix = "cannot listen on 127.0.0.1:" + std::to_string(first->port()) + ": ";
    EXPECT_EQ(s.message().rfind(prefix, 0), 0u) << s.message();
    EXPECT_GT(s.message().size(), prefix.size());

    o.host = "256.0.0.1";
    o.port = 0;
    Server third(o, echo);
    s = third.start();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message().rfind("cannot listen on 256.0.0.1:0: ", 0), 0u) << s.message();
}

TEST(HttpServer, StopAcceptingKeepsServingOpenConnections) {
    auto server = start(options(), echo);
    HttpClient c(server->port());
    ASSERT_TRUE(c.send(get("/before")));
    ASSERT_TRUE(c.read_response());
    server->stop_accepting();
    HttpClient late(server->port());
    EXPECT_FALSE(late.connected());
    ASSERT_TRUE(c.send(get("/draining")));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /draining  - ");
    EXPECT_EQ(r->header_or("connection"), "close");
    EXPECT_TRUE(c.closed_by_server());
    c.close();
    expect_drained(*server);
}

TEST(HttpServer, ExpectContinueGets100BeforeTheBody) {
    auto server = start(options(), echo);
    HttpClient c(server->port());
    ASSERT_TRUE(c.send("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
    auto interim = c.read_head();
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status_line, "HTTP/1.1 100 Continue");
    ASSERT_TRUE(c.send("abcde"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "POST /e  - abcde");
}

}  // namespace
}  // namespace turbolm::http
