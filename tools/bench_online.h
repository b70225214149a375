// `turbolm bench --mode online`: requests arrive as a Poisson process at a given rate through the
// public engine API (include/turbolm/engine.h), as a server's clients would send them; reports
// throughput, time to first token, inter-token and end-to-end latency, KV usage and preemptions.
// Then it checks the outputs: every request got exactly output_len tokens (none lost or repeated by
// preemption), and a few requests run again alone give the same greedy tokens.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "turbolm/engine.h"

namespace turbolm::cli {

struct OnlineBenchOptions {
    int64_t num_requests = 256;
    double rate = 10.0;  // requests per second
    int64_t input_len = 128, output_len = 128;
    int64_t vocab = 0;   // prompts are random ids below this
    uint64_t seed = 0;
    uint64_t prompt_set = 0;  // same arrivals, other prompts (so that the prefix cache favours no run)
    int64_t rerun_requests = 8;  // run again alone afterwards and compared token by token
};

nlohmann::json run_online_bench(Engine& engine, const OnlineBenchOptions& options);

// What every online run reports, through the engine API or through HTTP: the load, throughput,
// failures, token-count checks and latency percentiles (milliseconds).
struct OnlineRunTotals {
    double seconds = 0.0;
    int64_t tokens = 0, failed = 0, wrong_length = 0;
    std::vector<double> ttft_ms, itl_ms, e2e_ms;
};
nlohmann::json online_run_json(const char* mode, const OnlineBenchOptions& options, const OnlineRunTotals& totals);

}  // namespace turbolm::cli
