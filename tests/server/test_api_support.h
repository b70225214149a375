// What the API tests share: a Responder that records the reply (and can play a client that leaves),
// the demo model's engine on the CPU, a service over it, and the engine's own answer to compare with.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/api/api_service.h"
#include "turbolm/engine.h"

namespace turbolm::test {

using nlohmann::json;

class FakeResponder : public http::Responder {
public:
    ~FakeResponder() override;
    void reply(int status, std::string content_type, std::string body, http::Headers extra) override;
    void begin_stream(int status, std::string content_type, http::Headers extra) override;
    void write(std::string data) override;
    void end() override;
    void on_disconnect(std::function<void()> fn) override;
    bool disconnected() const override;

    // Waits for the reply to be complete (reply() or end()); false on timeout.
    bool wait_done(std::chrono::seconds timeout = std::chrono::seconds(60));
    // Waits until the stream holds at least n writes.
    bool wait_writes(size_t n, std::chrono::seconds timeout = std::chrono::seconds(60));
    // The client goes away: the hook runs as the server would run it, on another thread.
    void disconnect();
    // The client goes away as the n-th write arrives (on the thread that writes, so the request is
    // still young); wait_hook() waits for the hook to have run.
    void disconnect_at_write(size_t n);
    void wait_hook();

    int status() const;
    std::string content_type() const;
    std::string header(const std::string& name) const;  // "" when absent
    std::string body() const;                            // the reply's body, or the stream's writes joined
    bool streamed() const;
    json body_json() const;
    // The stream's "data: ..." payloads as JSON, in order; done tells whether "data: [DONE]" ended it.
    std::vector<json> events(bool* done = nullptr) const;

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    int status_ = 0;
    std::string content_type_;
    http::Headers headers_;
    std::vector<std::string> writes_;
    bool streamed_ = false, done_ = false, gone_ = false;
    std::function<void()> on_gone_;
    size_t disconnect_at_ = 0;
    std::thread hook_;
};

// The demo model on the CPU, loaded once per test process.
std::shared_ptr<Engine> demo_engine();

inline constexpr const char* kModelName = "demo";

struct Call {
    std::string method = "POST";
    std::string path;
    std::string body;
    http::Headers headers;
};

// Sends one request through the service and waits for its whole reply.
std::shared_ptr<FakeResponder> send(server::ApiService& service, const Call& call);
inline std::shared_ptr<FakeResponder> post(server::ApiService& service, const std::string& path, const json& body) {
    return send(service, {"POST", path, body.dump(), {{"content-type", "application/json"}}});
}
inline std::shared_ptr<FakeResponder> get(server::ApiService& service, const std::string& path) {
    return send(service, {"GET", path, "", {}});
}

// A service over the demo engine, as `turbolm serve` sets one up.
std::unique_ptr<server::ApiService> demo_service(server::ServiceOptions options = {});

// The engine's own answer to a request, submitted directly: text, tokens and log-probabilities
// of each completion.
struct DirectResult {
    std::map<int, std::string> text;
    std::map<int, std::vector<int32_t>> tokens;
    std::map<int, std::vector<TokenLogprobs>> logprobs;
    std::map<int, std::string> finish_reason;
};
DirectResult run_direct(Engine& engine, GenerationRequest request);

std::vector<int32_t> tokenize(const Engine& engine, const std::string& text);

// "The model ... is ..." checks on OpenAI's error shape.
void expect_openai_error(const FakeResponder& r, int status, const std::string& param = "");

}  // namespace turbolm::test
