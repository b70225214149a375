#include "bench_offline.h"
#include "bench_stats.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <numeric>
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
    // One engine for every pass, as a server keeps its own: the warm-up passes leave behind what a
    // running engine has (a decode graph for every batch size the workload reaches, the GEMM plans
    // of its shapes), so the measured passes time the steady state.
    EngineCore core(model, eo);
    const int64_t usable_blocks = kv.n_blocks - 1;
    uint64_t next_id = 1;

    // One pass: num_requests fresh random prompts (no prefix-cache hits between passes) run to the end.
    auto run_pass = [&](uint64_t seed) -> nlohmann::json {
        std::mt19937_64 rng(seed);
        std::uniform_int_distribution<int32_t> token(0, int32_t(model.config().n_vocab - 1));
        for (int64_t i = 0; i < o.num_requests; ++i) {
            CoreRequest r;
            r.id = next_id++;
            r.prompt.resize(size_t(o.input_len));
            for (auto& t : r.prompt) t = token(rng);
            r.max_tokens = o.output_len;
            r.sampling.temperature = 0.0f;
            r.ignore_eos = true;
            core.add(std::move(r));
        }
        const BlockManagerStats before = core.scheduler().block_manager().stats();
        const int64_t preemptions_before = core.scheduler().num_preemptions();
        const int64_t graphs_before = core.decode_graphs_captured();
        ops::synchronize(model.device());
        const auto t0 = Clock::now();
        std::map<uint64_t, double> first, last;
        std::vector<double> itl;
        int64_t steps = 0, peak_blocks = 0, generated = 0;
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
        const BlockManagerStats& st = core.scheduler().block_manager().stats();
        const int64_t preemptions = core.scheduler().num_preemptions() - preemptions_before;
        const double out_tps = double(generated) / total;
        std::printf("%lld requests %lld/%lld: %.1f output tokens/s, %.1f total tokens/s, %lld steps, TTFT p50 %.1f "
                    "ms, ITL p50 %.2f ms p99 %.2f ms, %lld preemptions, peak KV %.0f%%\n",
                    (long long)o.num_requests, (long long)o.input_len, (long long)o.output_len, out_tps,
                    double(generated + o.num_requests * o.input_len) / total, (long long)steps, quantile(ttft, 0.5),
                    quantile(itl, 0.5), quantile(itl, 0.99), (long long)preemptions,
                    100.0 * double(peak_blocks) / double(usable_blocks));
        std::fflush(stdout);
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
                {"preemptions", preemptions},
                {"prefix_cache",
                 {{"queried_tokens", st.prefix_queries - before.prefix_queries},
                  {"hit_tokens", st.prefix_hits - before.prefix_hits}}},
                {"kv_cache",
                 {{"blocks", usable_blocks},
                  {"block_size", o.block_size},
                  {"peak_blocks_used", peak_blocks},
                  {"bytes", kv.bytes},
                  {"summary", kv.summary}}},
                {"scheduler", {{"max_batched_tokens", o.max_batched_tokens}, {"max_running", o.max_running}}},
                {"decode_graphs", o.decode_graphs && model.device() != Device::kCpu},
                // Graphs captured during this pass (none once a warm-up pass has met every batch size),
                // and all the engine holds.
                {"decode_graphs_captured", core.decode_graphs_captured() - graphs_before},
                {"decode_graphs_held", core.decode_graphs_captured()}};
    };

    for (int64_t i = 0; i < o.warmup; ++i) {
        std::printf("warm-up: ");
        run_pass(o.seed + 1000 + uint64_t(i));
    }
    std::vector<nlohmann::json> passes;
    for (int64_t i = 0; i < o.repeats; ++i) passes.push_back(run_pass(o.seed + uint64_t(i)));
    // The pass of median throughput stands for the run (the lower middle one of an even count), with
    // every pass's throughput beside it.
    std::vector<size_t> order(passes.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return passes[a]["output_tokens_per_second"].get<double>() < passes[b]["output_tokens_per_second"].get<double>();
    });
    nlohmann::json out = passes[order[(order.size() - 1) / 2]];
    nlohmann::json all = nlohmann::json::array();
    for (const auto& p : passes) all.push_back(p["output_tokens_per_second"]);
    out["warmup_passes"] = o.warmup;
    out["passes_output_tokens_per_second"] = all;
    return out;
}

}  // namespace turbolm::cli
