// The server's metrics, named after vLLM's (turbolm: instead of vllm:) so that dashboards built
// for it read these: request counts by finish reason, token throughput (counters, from which
// rates are computed), latency histograms, and the engine's queue and KV cache state, read from
// Engine::stats when scraped. Also counts the requests in flight, which admission control reads.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "server/api/metrics.h"
#include "turbolm/engine.h"

namespace turbolm::server {

class ServerMetrics {
public:
    explicit ServerMetrics(const std::string& model_name);

    // One completion's life; the engine thread calls these as outputs arrive.
    void prompt_tokens(int64_t n) { prompt_tokens_.inc(double(n)); }
    void generation_tokens(int64_t n) { generation_tokens_.inc(double(n)); }
    void time_to_first_token(double seconds) { ttft_.observe(seconds); }
    void inter_token_latency(double seconds) { itl_.observe(seconds); }
    void finished(const std::string& reason, double e2e_seconds);  // "stop", "length" or "abort"
    void failed(double e2e_seconds);

    void http_response(int status);

    // Engine requests submitted and not yet finished.
    void request_started() { in_flight_.fetch_add(1); }
    void request_ended() { in_flight_.fetch_sub(1); }
    int64_t in_flight() const { return in_flight_.load(); }

    // The text exposition, with the engine's gauges and counters as of `stats` (none while loading).
    std::string expose(const EngineStats* stats);

private:
    metrics::Registry registry_;
    metrics::Labels labels_;
    metrics::Gauge &running_, &waiting_, &kv_usage_;
    metrics::Counter &prefix_queries_, &prefix_hits_, &preemptions_;
    metrics::Counter &prompt_tokens_, &generation_tokens_;
    metrics::Counter &success_stop_, &success_length_, &success_abort_, &failure_;
    metrics::Histogram &ttft_, &itl_, &e2e_;
    std::atomic<int64_t> in_flight_{0};
};

}  // namespace turbolm::server
