#include "bench_offline.h"
#include "bench_stats.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>

#include "engine/engine_core.h"
#include "engine/kv_sizing.h"
#include "ops/ops.h"

namespace turbolm::cli {
namespace {

using Clock = std::chrono::steady_clock;


}  // namespace

nlohmann::json run_offline_bench(const Model& model, const OfflineBenchOptions& o) {
    const int64_t max_model_len = o.max_model_len > 0 ? o.max_model_len : o.input_len + o.output_len;
    const size_t reserve = activation_reserve_bytes(model, o.max_batched_tokens, o.max_running);
    const KvSizing kv = size_kv_cache(model, o.block_size, o.kv_fraction, max_model_len, reserve);
    std::printf("%s\n", kv.summary.c_str());

    EngineCoreOptions eo;
    eo.scheduler.max_batched_tokens = o.max_batched_tokens;
    eo.scheduler.max_running = o.max_running;
    eo.scheduler.max_model_len = max_model_len;
    eo.scheduler.chunked_prefill = true;
    eo.kv.n_blocks = kv.n_blocks;
    eo.kv.block_size = o.block_size;
    eo.kv.prefix_caching = true;
    eo.decode_graphs = o.decode_graphs;
    EngineCore core(model, eo);

    std::mt19937_64 rng(o.seed);
    std::uniform_int_distribution<int32_t> token(0, int32_t(model.config().n_vocab - 1));
    for (int64_t i = 0; i < o.num_requests; ++i) {
        CoreRequest r;
        r.id = uint64_t(i + 1);
        r.prompt.resize(size_t(o.input_len));
        for (auto& t : r.prompt) t = token(rng);
        r.max_tokens = o.output_len;
        r.sampling.temperature = 0.0f;
        r.ignore_eos = true;
        core.add(std::move(r));
    }
    ops::synchronize(model.device());
    const auto t0 = Clock::now();
    std::map<uint64_t, double> first, last;
    std::vector<double> itl;
    int64_t steps = 0, peak_blocks = 0, generated = 0;
    const int64_t usable_blocks = kv.n_blocks - 1;
    while (core.has_unfinished()) {
        const std::vector<TokenEvent> events = core.step();
        const double now = std::chrono::duration<double>(Clock::now() - t0).count();
        ++steps;
        peak_blocks = std::max(peak_blocks, usable_blocks - core.scheduler().block_manager().available_blocks());
        for (const TokenEvent& e : events) {
            ++generated;
            if (!first.contains(e.id)) {
                first[e.id] = now;
            } else {
                itl.push_back((now - last[e.id]) * 1e3);
            }
            last[e.id] = now;
        }
    }
    const double total = std::chrono::duration<double>(Clock::now() - t0).count();
    std::vector<double> ttft, e2e;
    for (const auto& [id, t] : first) ttft.push_back(t * 1e3);
    for (const auto& [id, t] : last) e2e.push_back(t * 1e3);
    const double out_tps = double(generated) / total;
    std::printf("%lld requests %lld/%lld: %.1f output tokens/s, %.1f total tokens/s, %lld steps, TTFT p50 %.1f ms, "
                "ITL p50 %.2f ms p99 %.2f ms, %lld preemptions, peak KV %.0f%%\n",
                (long long)o.num_requests, (long long)o.input_len, (long long)o.output_len, out_tps,
                double(generated + o.num_requests * o.input_len) / total, (long long)steps, quantile(ttft, 0.5),
                quantile(itl, 0.5), quantile(itl, 0.99), (long long)core.scheduler().num_preemptions(),
                100.0 * double(peak_blocks) / double(usable_blocks));
    const BlockManagerStats& st = core.scheduler().block_manager().stats();
    return {{"mode", "offline"},
            {"num_requests", o.num_requests},
            {"input_len", o.input_len},
            {"output_len", o.output_len},
            {"seconds", total},
            {"output_tokens_per_second", out_tps},
            {"total_tokens_per_second", double(generated + o.num_requests * o.input_len) / total},
            {"steps", steps},
            {"ttft_ms", percentiles(ttft)},
            {"inter_token_latency_ms", percentiles(itl)},
            {"end_to_end_latency_ms", percentiles(e2e)},
            {"preemptions", core.scheduler().num_preemptions()},
            {"prefix_cache", {{"queried_tokens", st.prefix_queries}, {"hit_tokens", st.prefix_hits}}},
            {"kv_cache",
             {{"blocks", usable_blocks},
              {"block_size", o.block_size},
              {"peak_blocks_used", peak_blocks},
              {"bytes", kv.bytes},
              {"summary", kv.summary}}},
            {"scheduler", {{"max_batched_tokens", o.max_batched_tokens}, {"max_running", o.max_running}}},
            {"decode_graphs", o.decode_graphs && model.device() != Device::kCpu},
            {"decode_graphs_captured", core.decode_graphs_captured()}};
}

}  // namespace turbolm::cli
