#include "server/api/server_metrics.h"

namespace turbolm::server {

namespace {

// vLLM's buckets, so that its dashboards' quantiles mean the same here.
const std::vector<double> kTtftBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                                          1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
const std::vector<double> kItlBuckets = {0.01, 0.025, 0.05, 0.075, 0.1,  0.15, 0.2,  0.3,  0.4, 0.5,
                                         0.75, 1.0,   2.5,  5.0,   7.5,  10.0, 20.0, 40.0, 80.0};
const std::vector<double> kE2eBuckets = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,  15.0,  20.0,
                                         30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

metrics::Labels with(metrics::Labels labels, std::string name, std::string value) {
    labels.emplace_back(std::move(name), std::move(value));
    return labels;
}

const char* kSuccessHelp = "Finished requests (completions), by why they finished.";

}  // namespace

ServerMetrics::ServerMetrics(const std::string& model_name)
    : labels_{{"model_name", model_name}},
      running_(registry_.gauge("turbolm:num_requests_running", "Requests in the running batch.", labels_)),
      waiting_(registry_.gauge("turbolm:num_requests_waiting", "Requests waiting to be scheduled.", labels_)),
      kv_usage_(registry_.gauge("turbolm:kv_cache_usage_perc", "Fraction of KV cache blocks in use (0 to 1).", labels_)),
      prefix_queries_(registry_.counter("turbolm:prefix_cache_queries_total",
                                        "Prompt tokens looked up in the prefix cache.", labels_)),
      prefix_hits_(registry_.counter("turbolm:prefix_cache_hits_total",
                                     "Prompt tokens found in the prefix cache.", labels_)),
      preemptions_(registry_.counter("turbolm:num_preemptions_total",
                                     "Requests preempted (to be recomputed) for lack of KV cache.", labels_)),
      prompt_tokens_(registry_.counter("turbolm:prompt_tokens_total", "Prompt tokens processed.", labels_)),
      generation_tokens_(registry_.counter("turbolm:generation_tokens_total", "Tokens generated.", labels_)),
      success_stop_(registry_.counter("turbolm:request_success_total", kSuccessHelp,
                                      with(labels_, "finished_reason", "stop"))),
      success_length_(registry_.counter("turbolm:request_success_total", kSuccessHelp,
                                        with(labels_, "finished_reason", "length"))),
      success_abort_(registry_.counter("turbolm:request_success_total", kSuccessHelp,
                                       with(labels_, "finished_reason", "abort"))),
      failure_(registry_.counter("turbolm:request_failure_total", "Requests that ended in an error.", labels_)),
      ttft_(registry_.histogram("turbolm:time_to_first_token_seconds",
                                "Time from arrival to the first generated token.", kTtftBuckets, labels_)),
      itl_(registry_.histogram("turbolm:inter_token_latency_seconds",
                               "Time between successive generated tokens of a completion.", kItlBuckets, labels_)),
      e2e_(registry_.histogram("turbolm:e2e_request_latency_seconds",
                               "Time from arrival to the end of a completion.", kE2eBuckets, labels_)) {
    // Listed from the start (at 0) so that rates exist before the first failure.
    registry_.counter("turbolm:http_requests_total", "HTTP responses, by status code.", with(labels_, "status", "200"));
}

void ServerMetrics::finished(const std::string& reason, double e2e_seconds) {
    if (reason == "stop") success_stop_.inc();
    else if (reason == "length") success_length_.inc();
    else success_abort_.inc();
    e2e_.observe(e2e_seconds);
}

void ServerMetrics::failed(double e2e_seconds) {
    failure_.inc();
    e2e_.observe(e2e_seconds);
}

void ServerMetrics::http_response(int status) {
    registry_.counter("turbolm:http_requests_total", "HTTP responses, by status code.",
                      with(labels_, "status", std::to_string(status)))
        .inc();
}

std::string ServerMetrics::expose(const EngineStats* stats) {
    if (stats) {
        running_.set(double(stats->running));
        waiting_.set(double(stats->waiting));
        kv_usage_.set(stats->kv_blocks_total > 0 ? double(stats->kv_blocks_used) / double(stats->kv_blocks_total) : 0.0);
        prefix_queries_.raise_to(double(stats->prefix_cache_queries));
        prefix_hits_.raise_to(double(stats->prefix_cache_hits));
        preemptions_.raise_to(double(stats->preemptions));
    }
    return registry_.expose();
}

}  // namespace turbolm::server
