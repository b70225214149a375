#include "bench_http.h"
#include "bench_stats.h"

#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace turbolm::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;

struct HttpTrace {
    Clock::time_point submitted, first, last;
    bool has_first = false, done = false, failed = false;
    int64_t usage_tokens = -1;
    std::vector<double> gaps_ms;
    std::string error;
};

// Splits the SSE stream into events and updates the trace at each one.
class EventReader {
public:
    explicit EventReader(HttpTrace& t) : t_(t) {}
    void feed(std::string_view data) {
        pending_.append(data);
        size_t end;
        while ((end = pending_.find("\n\n")) != std::string::npos) {
            on_event(pending_.substr(0, end));
            pending_.erase(0, end + 2);
        }
    }

private:
    void on_event(const std::string& event) {
        if (event.rfind("data: ", 0) != 0) return;
        const std::string payload = event.substr(6);
        if (payload == "[DONE]") {
            t_.done = true;
            return;
        }
        const auto j = nlohmann::json::parse(payload, nullptr, false);
        if (j.is_discarded() || j.contains("error")) {
            t_.failed = true;
            t_.error = payload.substr(0, 200);
            return;
        }
        if (j.contains("usage") && j["usage"].is_object()) t_.usage_tokens = j["usage"].value("completion_tokens", int64_t(-1));
        if (!j.contains("choices") || j["choices"].empty()) return;
        // Token ids, not text: a model without a tokenizer streams no text, and text can be held
        // back while a character or a stop string is incomplete.
        const auto& ids = j["choices"][0]["token_ids"];
        if (!ids.is_array() || ids.empty()) return;
        const auto now = Clock::now();
        if (!t_.has_first) {
            t_.first = now;
            t_.has_first = true;
        } else {
            t_.gaps_ms.push_back(std::chrono::duration<double, std::milli>(now - t_.last).count());
        }
        t_.last = now;
    }

    HttpTrace& t_;
    std::string pending_;
};

void stream_one(const std::string& host, int port, const std::string& body, HttpTrace& t) {
    try {
        asio::io_context io;
        asio::ip::tcp::socket socket(io);
        socket.connect({asio::ip::make_address(host), static_cast<unsigned short>(port)});
        bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/completions", 11};
        req.set(bhttp::field::host, host);
        req.set(bhttp::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
        t.submitted = Clock::now();
        bhttp::write(socket, req);
        beast::flat_buffer buffer;
        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(boost::none);
        EventReader reader(t);
        auto on_chunk = [&](std::uint64_t, beast::string_view data, beast::error_code&) {
            reader.feed(std::string_view(data.data(), data.size()));
            return data.size();
        };
        parser.on_chunk_body(on_chunk);
        bhttp::read_header(socket, buffer, parser);
        if (parser.get().result_int() != 200) {
            bhttp::read(socket, buffer, parser);
            t.failed = true;
            t.error = std::to_string(parser.get().result_int()) + " " + parser.get().body().substr(0, 200);
            return;
        }
        while (!parser.is_done()) bhttp::read_some(socket, buffer, parser);
        beast::error_code ignored;
        socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    } catch (const std::exception& e) {
        t.failed = true;
        t.error = e.what();
    }
}

}  // namespace

nlohmann::json run_http_online_bench(const std::string& host, int port, const std::string& model_name,
                                     const OnlineBenchOptions& o) {
    // The same prompts and arrival times as run_online_bench draws from the same seed.
    // Arrival times from the seed alone, prompts from the seed and the prompt set: runs that
    // differ only in prompt_set see the same arrivals with different prompts.
    std::mt19937_64 arrivals(o.seed), prompts(o.seed * 0x9e3779b97f4a7c15ULL + o.prompt_set);
    std::uniform_int_distribution<int32_t> token(0, int32_t(o.vocab - 1));
    std::exponential_distribution<double> gap(o.rate);
    std::vector<HttpTrace> traces(size_t(o.num_requests));
    std::vector<std::thread> clients;
    clients.reserve(size_t(o.num_requests));
    const auto t0 = Clock::now();
    auto next_arrival = t0;
    for (int64_t i = 0; i < o.num_requests; ++i) {
        std::this_thread::sleep_until(next_arrival);
        next_arrival += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap(arrivals)));
        std::vector<int32_t> prompt(size_t(o.input_len));
        for (auto& t : prompt) t = token(prompts);
        const nlohmann::json body = {{"model", model_name},    {"prompt", prompt},       {"max_tokens", o.output_len},
                                     {"temperature", 0.0},     {"ignore_eos", true},     {"stream", true},
                                     {"stream_options", {{"include_usage", true}}}, {"return_token_ids", true}};
        clients.emplace_back(stream_one, host, port, body.dump(), std::ref(traces[size_t(i)]));
    }
    for (auto& c : clients) c.join();
    const double total = std::chrono::duration<double>(Clock::now() - t0).count();

    std::vector<double> ttft, itl, e2e;
    int64_t tokens = 0, failed = 0, wrong_length = 0;
    std::string first_error;
    for (const HttpTrace& t : traces) {
        const bool ok = !t.failed && t.done;
        failed += ok ? 0 : 1;
        if (!ok && first_error.empty()) first_error = t.error.empty() ? "stream ended without [DONE]" : t.error;
        tokens += std::max<int64_t>(t.usage_tokens, 0);
        wrong_length += t.usage_tokens != o.output_len ? 1 : 0;
        if (t.has_first) ttft.push_back(std::chrono::duration<double, std::milli>(t.first - t.submitted).count());
        if (t.has_first) e2e.push_back(std::chrono::duration<double, std::milli>(t.last - t.submitted).count());
        itl.insert(itl.end(), t.gaps_ms.begin(), t.gaps_ms.end());
    }
    std::printf("HTTP: %lld requests at %.1f/s, %lld/%lld: %.1f output tokens/s, TTFT p50 %.1f p99 %.1f ms, ITL p50 "
                "%.2f p99 %.2f ms, %lld failed, %lld with a wrong token count%s%s\n",
                (long long)o.num_requests, o.rate, (long long)o.input_len, (long long)o.output_len,
                double(tokens) / total, quantile(ttft, 0.5), quantile(ttft, 0.99), quantile(itl, 0.5),
                quantile(itl, 0.99), (long long)failed, (long long)wrong_length, first_error.empty() ? "" : "; first error: ",
                first_error.c_str());
    nlohmann::json run = online_run_json("online-http", o, {total, tokens, failed, wrong_length, ttft, itl, e2e});
    run["first_error"] = first_error;
    return run;
}

}  // namespace turbolm::cli
