#include "server/test_api_support.h"

#include <thread>

#include "support/test_paths.h"

namespace turbolm::test {

void FakeResponder::reply(int status, std::string content_type, std::string body, http::Headers extra) {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_FALSE(done_ || streamed_) << "a second reply";
    status_ = status;
    content_type_ = std::move(content_type);
    headers_ = std::move(extra);
    writes_ = {std::move(body)};
    done_ = true;
    cv_.notify_all();
}

void FakeResponder::begin_stream(int status, std::string content_type, http::Headers extra) {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_FALSE(done_ || streamed_) << "a stream after a reply";
    status_ = status;
    content_type_ = std::move(content_type);
    headers_ = std::move(extra);
    streamed_ = true;
    cv_.notify_all();
}

FakeResponder::~FakeResponder() {
    if (hook_.joinable()) hook_.detach();  // it holds nothing of this responder
}

void FakeResponder::write(std::string data) {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_TRUE(streamed_) << "a write before begin_stream";
    EXPECT_FALSE(done_) << "a write after end";
    if (gone_) return;  // as the server drops writes to a client that left
    writes_.push_back(std::move(data));
    cv_.notify_all();
    if (disconnect_at_ != 0 && writes_.size() == disconnect_at_) {
        gone_ = true;
        // The writer holds locks of its own: the hook runs elsewhere, as a server thread would run it.
        if (on_gone_) hook_ = std::thread(std::move(on_gone_));
    }
}

void FakeResponder::disconnect_at_write(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    disconnect_at_ = n;
}

void FakeResponder::wait_hook() {
    std::thread hook;
    {
        std::lock_guard<std::mutex> lock(mu_);
        hook = std::move(hook_);
    }
    if (hook.joinable()) hook.join();
}

void FakeResponder::end() {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_TRUE(streamed_) << "end without begin_stream";
    done_ = true;
    cv_.notify_all();
}

void FakeResponder::on_disconnect(std::function<void()> fn) {
    bool now = false;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (gone_) now = true;
        else on_gone_ = std::move(fn);
    }
    if (now) fn();
}

bool FakeResponder::disconnected() const {
    std::lock_guard<std::mutex> lock(mu_);
    return gone_;
}

bool FakeResponder::wait_done(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done_; });
}

bool FakeResponder::wait_writes(size_t n, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return writes_.size() >= n || done_; }) && writes_.size() >= n;
}

void FakeResponder::disconnect() {
    std::function<void()> fn;
    {
        std::lock_guard<std::mutex> lock(mu_);
        gone_ = true;
        fn = std::move(on_gone_);
    }
    if (fn) std::thread(fn).join();
}

int FakeResponder::status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
}

std::string FakeResponder::content_type() const {
    std::lock_guard<std::mutex> lock(mu_);
    return content_type_;
}

std::string FakeResponder::header(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [k, v] : headers_)
        if (k == name) return v;
    return "";
}

std::string FakeResponder::body() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const std::string& w : writes_) out += w;
    return out;
}

bool FakeResponder::streamed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return streamed_;
}

json FakeResponder::body_json() const {
    const std::string b = body();
    json j = json::parse(b, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << b;
    return j;
}

std::vector<json> FakeResponder::events(bool* done) const {
    const std::string all = body();
    std::vector<json> out;
    if (done) *done = false;
    size_t pos = 0;
    while (pos < all.size()) {
        const size_t end = all.find("\n\n", pos);
        EXPECT_NE(end, std::string::npos) << "an event without its blank line: " << all.substr(pos);
        if (end == std::string::npos) break;
        const std::string event = all.substr(pos, end - pos);
        pos = end + 2;
        EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
        const std::string data = event.substr(6);
        if (data == "[DONE]") {
            EXPECT_EQ(pos, all.size()) << "events after [DONE]";
            if (done) *done = true;
            continue;
        }
        json j = json::parse(data, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << data;
        out.push_back(std::move(j));
    }
    return out;
}

std::shared_ptr<Engine> demo_engine() {
    static std::shared_ptr<Engine> engine = [] {
        EngineConfig c;
        c.model_dir = (source_dir() / "models" / "demo").string();
        c.device = "cpu";
        c.max_model_len = 256;
        c.kv_fraction = 0.05;
        c.max_batched_tokens = 256;
        auto e = Engine::create(c);
        EXPECT_TRUE(e.has_value()) << e.status().message();
        return e ? std::shared_ptr<Engine>(std::move(e.value())) : nullptr;
    }();
    return engine;
}

std::shared_ptr<FakeResponder> send(server::ApiService& service, const Call& call) {
    http::Request request;
    request.method = call.method;
    request.target = call.path;
    const size_t q = call.path.find('?');
    request.path = call.path.substr(0, q);
    if (q != std::string::npos) request.query = call.path.substr(q + 1);
    request.headers = call.headers;
    request.body = call.body;
    request.remote = "127.0.0.1:5555";
    auto responder = std::make_shared<FakeResponder>();
    service.handle(request, responder);
    EXPECT_TRUE(responder->wait_done()) << call.method << " " << call.path << " got no whole reply";
    return responder;
}

std::unique_ptr<server::ApiService> demo_service(server::ServiceOptions options) {
    if (options.served_model_name.empty()) options.served_model_name = kModelName;
    auto service = std::make_unique<server::ApiService>(std::move(options));
    service->set_engine(demo_engine());
    return service;
}

DirectResult run_direct(Engine& engine, GenerationRequest request) {
    struct Shared {
        std::mutex mu;
        std::condition_variable cv;
        DirectResult result;
        int finished = 0;
    };
    auto shared = std::make_shared<Shared>();
    const int n = request.params.n;
    auto id = engine.submit(std::move(request), [shared](const GenerationOutput& o) {
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->result.text[o.index] += o.text;
        auto& t = shared->result.tokens[o.index];
        t.insert(t.end(), o.token_ids.begin(), o.token_ids.end());
        auto& l = shared->result.logprobs[o.index];
        l.insert(l.end(), o.logprobs.begin(), o.logprobs.end());
        if (o.finished) {
            shared->result.finish_reason[o.index] = o.finish_reason;
            ++shared->finished;
            shared->cv.notify_all();
        }
    });
    EXPECT_TRUE(id.has_value());
    std::unique_lock<std::mutex> lock(shared->mu);
    EXPECT_TRUE(shared->cv.wait_for(lock, std::chrono::seconds(60), [&] { return shared->finished == n; }));
    return shared->result;
}

std::vector<int32_t> tokenize(const Engine& engine, const std::string& text) {
    auto ids = engine.tokenize(text);
    EXPECT_TRUE(ids.has_value()) << ids.status().message();
    return ids ? ids.value() : std::vector<int32_t>{};
}

void expect_openai_error(const FakeResponder& r, int status, const std::string& param) {
    EXPECT_EQ(r.status(), status) << r.body();
    EXPECT_EQ(r.content_type(), "application/json");
    const json j = r.body_json();
    ASSERT_TRUE(j.contains("error") && j["error"].is_object()) << j.dump();
    const json& e = j["error"];
    EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << j.dump();
    EXPECT_TRUE(e["type"].is_string()) << j.dump();
    EXPECT_EQ(e["code"], status) << j.dump();
    if (param.empty()) EXPECT_TRUE(e.contains("param")) << j.dump();
    else EXPECT_EQ(e["param"], param) << j.dump();
}

}  // namespace turbolm::test
