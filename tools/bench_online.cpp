#include "bench_online.h"
#include "bench_stats.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "core/error.h"

namespace turbolm::cli {
namespace {

using Clock = std::chrono::steady_clock;


struct Trace {
    Clock::time_point submitted, first, last;
    bool has_first = false, finished = false, failed = false;
    int64_t tokens = 0;
    std::vector<double> gaps_ms;
    std::vector<int32_t> ids;
};

// Runs one request alone and returns its tokens with their two most likely candidates.
struct Alone {
    std::vector<int32_t> ids;
    std::vector<TokenLogprobs> logprobs;
};

Alone run_alone(Engine& engine, GenerationRequest r) {
    std::mutex mu;
    std::condition_variable done;
    bool finished = false;
    Alone alone;
    r.params.logprobs = 2;
    auto submitted = engine.submit(std::move(r), [&](const GenerationOutput& out) {
        std::lock_guard<std::mutex> lock(mu);
        alone.ids.insert(alone.ids.end(), out.token_ids.begin(), out.token_ids.end());
        alone.logprobs.insert(alone.logprobs.end(), out.logprobs.begin(), out.logprobs.end());
        if (out.finished) {
            finished = true;
            done.notify_all();
        }
    });
    if (!submitted.has_value()) fail(StatusCode::kInternal, "submit failed: ", submitted.status().message());
    std::unique_lock<std::mutex> lock(mu);
    done.wait(lock, [&] { return finished; });
    return alone;
}

}  // namespace

// Requests of the benchmark's lengths, all at once and unmeasured: the first steps of an engine
// pay for plans, graphs and first touches of memory that a running server has long paid for.
void warm_up(Engine& engine, const OnlineBenchOptions& o) {
    std::mt19937_64 rng(o.seed ^ 0x5eedULL);  // prompts of neither measured run
    std::uniform_int_distribution<int32_t> token(0, int32_t(o.vocab - 1));
    std::mutex mu;
    std::condition_variable done;
    int64_t left = std::min<int64_t>(o.num_requests, 32);
    const int64_t n = left;
    for (int64_t i = 0; i < n; ++i) {
        GenerationRequest r;
        r.prompt_ids.resize(size_t(o.input_len));
        for (auto& t : r.prompt_ids) t = token(rng);
        r.params.max_tokens = std::min<int64_t>(o.output_len, 16);
        r.params.temperature = 0.0f;
        r.params.ignore_eos = true;
        auto submitted = engine.submit(std::move(r), [&](const GenerationOutput& out) {
            if (!out.finished) return;
            std::lock_guard<std::mutex> lock(mu);
            --left;
            done.notify_all();
        });
        if (!submitted.has_value()) fail(StatusCode::kInternal, "submit failed: ", submitted.status().message());
    }
    std::unique_lock<std::mutex> lock(mu);
    done.wait(lock, [&] { return left == 0; });
}

nlohmann::json run_online_bench(Engine& engine, const OnlineBenchOptions& o) {
    warm_up(engine, o);
    // Arrival times from the seed alone, prompts from the seed and the prompt set: runs that
    // differ only in prompt_set see the same arrivals with different prompts.
    std::mt19937_64 arrivals(o.seed), prompts(o.seed * 0x9e3779b97f4a7c15ULL + o.prompt_set);
    std::uniform_int_distribution<int32_t> token(0, int32_t(o.vocab - 1));
    std::exponential_distribution<double> gap(o.rate);
    std::vector<Trace> traces(size_t(o.num_requests));
    std::vector<GenerationRequest> requests;
    std::mutex mu;
    std::condition_variable all_done;
    int64_t n_done = 0, peak_kv = 0, kv_total = 0;

    const auto t0 = Clock::now();
    auto next_arrival = t0;
    for (int64_t i = 0; i < o.num_requests; ++i) {
        std::this_thread::sleep_until(next_arrival);
        next_arrival += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap(arrivals)));
        GenerationRequest r;
        r.prompt_ids.resize(size_t(o.input_len));
        for (auto& t : r.prompt_ids) t = token(prompts);
        r.params.max_tokens = o.output_len;
        r.params.temperature = 0.0f;
        r.params.ignore_eos = true;
        requests.push_back(r);
        Trace& tr = traces[size_t(i)];
        {
            std::lock_guard<std::mutex> lock(mu);
            tr.submitted = Clock::now();
        }
        auto submitted = engine.submit(std::move(r), [&, i](const GenerationOutput& out) {
            const auto now = Clock::now();
            std::lock_guard<std::mutex> lock(mu);
            Trace& t = traces[size_t(i)];
            if (!out.token_ids.empty()) {
                if (!t.has_first) {
                    t.first = now;
                    t.has_first = true;
                } else {
                    t.gaps_ms.push_back(std::chrono::duration<double, std::milli>(now - t.last).count());
                }
                t.last = now;
                t.tokens += int64_t(out.token_ids.size());
                t.ids.insert(t.ids.end(), out.token_ids.begin(), out.token_ids.end());
            }
            if (out.finished) {
                t.finished = true;
                t.failed = out.finish_reason == "error" || out.finish_reason == "abort";
                ++n_done;
                all_done.notify_all();
            }
        });
        if (!submitted.has_value()) fail(StatusCode::kInternal, "submit failed: ", submitted.status().message());
        const EngineStats s = engine.stats();
        peak_kv = std::max(peak_kv, s.kv_blocks_used);
        kv_total = s.kv_blocks_total;
    }
    {
        std::unique_lock<std::mutex> lock(mu);
        while (n_done < o.num_requests) {
            all_done.wait_for(lock, std::chrono::milliseconds(50));
            lock.unlock();
            const EngineStats s = engine.stats();
            lock.lock();
            peak_kv = std::max(peak_kv, s.kv_blocks_used);
        }
    }
    const double total = std::chrono::duration<double>(Clock::now() - t0).count();
    std::vector<double> ttft, itl, e2e;
    int64_t tokens = 0, failed = 0;
    for (const Trace& t : traces) {
        failed += t.failed ? 1 : 0;
        tokens += t.tokens;
        if (t.has_first) ttft.push_back(std::chrono::duration<double, std::milli>(t.first - t.submitted).count());
        if (t.has_first) e2e.push_back(std::chrono::duration<double, std::milli>(t.last - t.submitted).count());
        itl.insert(itl.end(), t.gaps_ms.begin(), t.gaps_ms.end());
    }
    const EngineStats s = engine.stats();
    // Preemption recomputes a request's blocks: it must neither lose nor repeat a token.
    int64_t wrong_length = 0;
    for (const Trace& t : traces) wrong_length += t.tokens != o.output_len ? 1 : 0;
    // The same greedy request alone: identical tokens unless a near-tie in the logits rounds
    // differently at another batch size (random weights give many), so at the first difference
    // the gap between the two best candidates alone is reported, and whether the batched run
    // took the runner-up.
    nlohmann::json reruns = nlohmann::json::array();
    int64_t identical = 0;
    const int64_t n_rerun = std::min(o.rerun_requests, o.num_requests);
    for (int64_t i = 0; i < n_rerun; ++i) {
        const size_t k = size_t(i * o.num_requests / std::max<int64_t>(n_rerun, 1));
        const Alone alone = run_alone(engine, requests[k]);
        const std::vector<int32_t>& batched = traces[k].ids;
        const bool same = alone.ids == batched;
        identical += same ? 1 : 0;
        nlohmann::json detail = {{"request", k}, {"identical", same}};
        if (!same) {
            const auto diff = std::mismatch(alone.ids.begin(), alone.ids.end(), batched.begin(), batched.end());
            const size_t d = size_t(diff.first - alone.ids.begin());
            detail["first_difference"] = d;
            if (d < alone.logprobs.size() && d < batched.size() && alone.logprobs[d].top.size() >= 2) {
                const auto& top = alone.logprobs[d].top;
                detail["top2_logprob_gap"] = top[0].second - top[1].second;
                detail["batched_took_runner_up"] = batched[d] == top[1].first;
            }
        }
        reruns.push_back(detail);
    }
    std::printf("%lld requests at %.1f/s, %lld/%lld: %.1f output tokens/s, TTFT p50 %.1f p99 %.1f ms, ITL p50 %.2f p99 "
                "%.2f ms, %lld preemptions, %lld failed, %lld with a wrong token count, %lld/%lld identical alone\n",
                (long long)o.num_requests, o.rate, (long long)o.input_len, (long long)o.output_len,
                double(tokens) / total, quantile(ttft, 0.5), quantile(ttft, 0.99), quantile(itl, 0.5),
                quantile(itl, 0.99), (long long)s.preemptions, (long long)failed, (long long)wrong_length, (long long)identical,
                (long long)n_rerun);
    nlohmann::json run = online_run_json("online", o, {total, tokens, failed, wrong_length, ttft, itl, e2e});
    run["rerun_alone"] = {{"requests", n_rerun}, {"identical", identical}, {"details", reruns}};
    run.update(nlohmann::json{
            {"preemptions", s.preemptions},
            {"prefix_cache", {{"queried_tokens", s.prefix_cache_queries}, {"hit_tokens", s.prefix_cache_hits}}},
            {"kv_cache", {{"blocks", kv_total}, {"peak_blocks_used", peak_kv}}}});
    return run;
}

nlohmann::json online_run_json(const char* mode, const OnlineBenchOptions& o, const OnlineRunTotals& t) {
    return {{"mode", mode},
            {"num_requests", o.num_requests},
            {"rate", o.rate},
            {"input_len", o.input_len},
            {"output_len", o.output_len},
            {"seconds", t.seconds},
            {"output_tokens_per_second", double(t.tokens) / t.seconds},
            {"failed_requests", t.failed},
            {"requests_with_wrong_token_count", t.wrong_length},
            {"ttft_ms", percentiles(t.ttft_ms)},
            {"inter_token_latency_ms", percentiles(t.itl_ms)},
            {"end_to_end_latency_ms", percentiles(t.e2e_ms)}};
}

}  // namespace turbolm::cli
