// `turbolm bench --mode online --http`: the same Poisson load as the engine-API run, sent as
// streaming OpenAI completions to the HTTP server over loopback (each request on its own
// connection, prompts as token ids, ignore_eos, return_token_ids), measured the same way: TTFT at
// the first token event, inter-token latency between events, the token count from the usage chunk.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "bench_online.h"

namespace turbolm::cli {

nlohmann::json run_http_online_bench(const std::string& host, int port, const std::string& model_name,
                                     const OnlineBenchOptions& options);

}  // namespace turbolm::cli
