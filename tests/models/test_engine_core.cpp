// Continuous batching on the CPU: requests of different lengths arriving while others run, prompts
// computed in chunks, a KV pool small enough to preempt, a shared prefix for the prefix cache. Every
// request's greedy output must equal what it generates alone.
#include <algorithm>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "engine/engine_core.h"
#include "engine/generate.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

class EngineCoreBatching : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineCoreBatching, MixedBatchEqualsEachRequestAlone) {
    const auto dir = test::fixtures_dir() / "hf-tiny" / GetParam();
    TURBOLM_SKIP_IF_MISSING(dir);
    auto model = Model::load(dir);
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int32_t vocab = int32_t(model->config().n_vocab);
    std::uniform_int_distribution<int32_t> token(0, vocab - 1);

    // Requests: random prompts, some starting with a common 12-token prefix.
    std::vector<int32_t> shared_prefix(12);
    for (auto& t : shared_prefix) t = token(rng);
    std::vector<CoreRequest> requests;
    for (uint64_t id = 1; id <= 14; ++id) {
        CoreRequest r;
        r.id = id;
        if (id % 3 == 0) r.prompt = shared_prefix;
        for (int n = 10 + int(rng() % 30); n > 0; --n) r.prompt.push_back(token(rng));
        r.max_tokens = 5 + int64_t(rng() % 16);
        r.sampling.temperature = 0.0f;
        r.ignore_eos = true;
        requests.push_back(r);
    }

    EngineCoreOptions opts;
    opts.scheduler.max_batched_tokens = 24;  // long prompts go in several chunks
    opts.scheduler.max_running = 6;
    opts.scheduler.max_model_len = 80;
    opts.scheduler.chunked_prefill = true;
    opts.kv.block_size = 4;  // 20 blocks hold one request of max_model_len
    opts.kv.n_blocks = 1 + 24;  // 96 positions for up to 6 requests of up to 72: preemption happens
    opts.kv.prefix_caching = true;
    EngineCore core(*model, opts);

    std::map<uint64_t, std::vector<int32_t>> outputs;
    std::map<uint64_t, int> finishes;
    size_t next = 0;
    for (int step = 0; step < 2000 && (next < requests.size() || core.has_unfinished()); ++step) {
        // Arrivals: a few at the start, then one every other step.
        while (next < requests.size() && (next < 4 || step % 2 == 0)) {
            core.add(requests[next++]);
            if (step > 0) break;
        }
        for (const TokenEvent& e : core.step()) {
            outputs[e.id].push_back(e.token);
            if (e.finished) ++finishes[e.id];
        }
    }
    ASSERT_FALSE(core.has_unfinished()) << "seed " << seed;
    for (const CoreRequest& r : requests) {
        EXPECT_EQ(finishes[r.id], 1) << "request " << r.id;
        GenerateOptions g;
        g.max_new_tokens = int(r.max_tokens);
        g.sampling.temperature = 0.0f;
        g.ignore_eos = true;
        const GenerateResult alone = generate(*model, r.prompt, g);
        EXPECT_EQ(outputs[r.id], alone.tokens) << "request " << r.id << " seed " << seed;
    }
    const BlockManagerStats& kv = core.scheduler().block_manager().stats();
    EXPECT_GT(core.scheduler().num_preemptions(), 0) << "the pool was meant to run out";
    // With a sliding window the shared prefix's blocks are released as soon as a request moves 16
    // positions past them, and under this small pool they are often reused before another request
    // with the prefix arrives: hits depend on the random schedule there, so only full attention
    // promises them.
    const auto& windows = model->config().layer_window;
    const bool full_attention = std::all_of(windows.begin(), windows.end(), [](int64_t w) { return w == 0; });
    if (full_attention) EXPECT_GT(kv.prefix_hits, 0) << "requests sharing a prefix were meant to hit the cache";
    RecordProperty("preemptions", std::to_string(core.scheduler().num_preemptions()));
    RecordProperty("prefix_hit_tokens", std::to_string(kv.prefix_hits));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EngineCoreBatching,
                         ::testing::Values("llama-gqa", "mistral-sliding-window", "qwen2-qkv-bias", "gpt2"),
                         [](const auto& info) {
                             std::string n = info.param;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

}  // namespace
}  // namespace turbolm
