// `turbolm bench --mode offline`: N requests submitted at once to the continuous-batching engine
// (EngineCore), run to completion; throughput and the latency of each request. The workload runs
// `warmup` times unmeasured, then `repeats` times measured, on one engine.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "models/model.h"

namespace turbolm::cli {

struct OfflineBenchOptions {
    int64_t num_requests = 256;
    int64_t input_len = 128, output_len = 128;
    int64_t block_size = 16;
    double kv_fraction = 0.9;
    int64_t max_batched_tokens = 8192;
    int64_t max_running = 256;
    int64_t max_model_len = 0;  // 0: input_len + output_len
    uint64_t seed = 0;
    bool decode_graphs = true;
    int64_t warmup = 1;   // passes of the same workload run first and discarded
    int64_t repeats = 1;  // measured passes; the one of median throughput is reported
};

// Prints a one-line summary per pass and returns the measurements as JSON.
nlohmann::json run_offline_bench(const Model& model, const OfflineBenchOptions& options);

}  // namespace turbolm::cli
