// A client that leaves mid-stream has its request cancelled: it ends as "abort" long before
// max_tokens, stops being in flight, and its KV cache blocks go back.
#include <thread>

#include <gtest/gtest.h>

#include "server/test_api_support.h"

namespace turbolm::test {
namespace {

bool eventually(const std::function<bool()>& condition, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return condition();
}

double sample(const std::string& metrics, const std::string& key) {
    const size_t at = metrics.find("\n" + key + " ");
    if (at == std::string::npos) return -1;
    return std::stod(metrics.substr(at + key.size() + 2));
}

void leave_mid_stream(server::ApiService& service, const std::string& path, const json& body) {
    auto engine = demo_engine();
    http::Request request;
    request.method = "POST";
    request.path = request.target = path;
    request.body = body.dump();
    auto responder = std::make_shared<FakeResponder>();
    responder->disconnect_at_write(3);
    service.handle(request, responder);
    ASSERT_TRUE(responder->wait_writes(3)) << responder->body();
    responder->wait_hook();
    EXPECT_TRUE(eventually([&] { return service.requests_in_flight() == 0; }));
    EXPECT_FALSE(responder->wait_done(std::chrono::seconds(0))) << "the reply went on after the client left";

    const std::string metrics = get(service, "/metrics")->body();
    EXPECT_EQ(sample(metrics, "turbolm:request_success_total{model_name=\"demo\",finished_reason=\"abort\"}"), 1.0)
        << metrics;
    EXPECT_LT(sample(metrics, "turbolm:generation_tokens_total{model_name=\"demo\"}"), 200.0) << metrics;
    // The engine publishes its state after a step: one more request, then nothing holds blocks.
    EXPECT_EQ(post(service, "/v1/completions", {{"prompt", "a"}, {"max_tokens", 1}})->status(), 200);
    EXPECT_TRUE(eventually([&] {
        const EngineStats s = engine->stats();
        return s.running == 0 && s.kv_blocks_used == 0;
    })) << "KV blocks still in use: " << engine->stats().kv_blocks_used;
}

TEST(ApiDisconnect, LeavingACompletionStreamCancelsIt) {
    auto service = demo_service();
    leave_mid_stream(*service, "/v1/completions",
                     {{"prompt", "And God said"}, {"max_tokens", 200}, {"ignore_eos", true}, {"stream", true}});
}

TEST(ApiDisconnect, LeavingAChatStreamCancelsIt) {
    auto service = demo_service();
    leave_mid_stream(*service, "/v1/chat/completions",
                     {{"messages", {{{"role", "user"}, {"content", "Who made the earth?"}}}},
                      {"max_tokens", 200},
                      {"ignore_eos", true},
                      {"stream", true}});
}

TEST(ApiDisconnect, LeavingAnUnstreamedRequestCancelsIt) {
    auto service = demo_service();
    http::Request request;
    request.method = "POST";
    request.path = request.target = "/v1/completions";
    request.body = json({{"prompt", "And God said"}, {"max_tokens", 200}, {"ignore_eos", true}, {"n", 2}}).dump();
    auto responder = std::make_shared<FakeResponder>();
    service->handle(request, responder);
    responder->disconnect();
    EXPECT_TRUE(eventually([&] { return service->requests_in_flight() == 0; }));
    const std::string metrics = get(*service, "/metrics")->body();
    EXPECT_EQ(sample(metrics, "turbolm:request_success_total{model_name=\"demo\",finished_reason=\"abort\"}"), 2.0)
        << metrics;
    EXPECT_EQ(responder->status(), 0) << "nothing is sent to a client that left";
}

TEST(ApiDisconnect, ConcurrentStreamsFinishIndependently) {
    auto service = demo_service();
    const json body = {{"prompt", "In the beginning"}, {"max_tokens", 10}, {"temperature", 0}, {"ignore_eos", true}};
    const json whole = post(*service, "/v1/completions", body)->body_json();
    json streamed = body;
    streamed["stream"] = true;
    std::vector<std::shared_ptr<FakeResponder>> replies(6);
    std::vector<std::thread> clients;
    for (size_t i = 0; i < replies.size(); ++i)
        clients.emplace_back([&, i] { replies[i] = post(*service, "/v1/completions", i % 2 ? body : streamed); });
    for (auto& t : clients) t.join();
    for (size_t i = 0; i < replies.size(); ++i) {
        std::string text;
        if (i % 2) {
            text = replies[i]->body_json()["choices"][0]["text"];
        } else {
            for (const json& e : replies[i]->events()) text += e["choices"][0]["text"].get<std::string>();
        }
        EXPECT_EQ(text, whole["choices"][0]["text"]) << i;
    }
    EXPECT_EQ(service->requests_in_flight(), 0);
}

}  // namespace
}  // namespace turbolm::test
