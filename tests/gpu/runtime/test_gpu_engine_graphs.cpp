// Engine steps of decodes only replay CUDA graphs captured for padded batch sizes. The same mixed
// workload (chunked prompts, arrivals mid-flight, sizes crossing several buckets) runs with graphs
// and eagerly; the log-probabilities of every generated token must agree within 16-bit rounding,
// and the greedy tokens must be the same wherever the top two candidates are not a near-tie.
#include <cmath>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "engine/engine_core.h"
#include "ops/ops.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

struct Generated {
    std::vector<TokenEvent> events;
};

struct EngineRun {
    std::map<uint64_t, Generated> by_request;
    int64_t graphs = 0;
};

std::vector<CoreRequest> workload(int64_t vocab, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> token(0, int32_t(vocab - 1));
    std::uniform_int_distribution<int> len(1, 40);
    std::vector<CoreRequest> out;
    for (uint64_t id = 1; id <= 12; ++id) {
        CoreRequest r;
        r.id = id;
        r.prompt.resize(size_t(len(rng)));
        for (auto& t : r.prompt) t = token(rng);
        r.max_tokens = 6 + int64_t(id % 5) * 4;
        r.sampling.temperature = 0.0f;
        r.ignore_eos = true;
        r.logprobs = 2;  // the chosen token's and the runner-up's, for the near-tie test
        out.push_back(std::move(r));
    }
    return out;
}

EngineRun run_workload(const Model& model, bool graphs, const std::vector<CoreRequest>& requests) {
    EngineCoreOptions o;
    o.scheduler.max_batched_tokens = 48;  // prompts split into chunks
    o.scheduler.max_running = 12;
    o.scheduler.max_model_len = 128;
    o.scheduler.chunked_prefill = true;
    o.kv.n_blocks = 256;
    o.kv.block_size = 4;
    o.kv.prefix_caching = true;
    o.decode_graphs = graphs;
    EngineCore core(model, o);
    EngineRun r;
    size_t next = 0;
    // Five requests at once, then one more every third step: batches of 1 to 12 decodes.
    for (; next < 5; ++next) core.add(requests[next]);
    for (int64_t step = 0; core.has_unfinished() || next < requests.size(); ++step) {
        if (step % 3 == 2 && next < requests.size()) core.add(requests[next++]);
        for (TokenEvent& e : core.step()) r.by_request[e.id].events.push_back(std::move(e));
    }
    r.graphs = core.decode_graphs_captured();
    return r;
}

TEST(GpuEngineGraphs, DecodeGraphsMatchEagerSteps) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    for (const char* name : {"llama-gqa", "mistral-sliding-window", "qwen2-qkv-bias", "gpt2", "falcon-mqa", "mixtral-moe"}) {
        SCOPED_TRACE(name);
        const auto dir = test::fixtures_dir() / "hf-tiny" / name;
        TURBOLM_SKIP_IF_MISSING(dir);
        ModelOptions mo;
        mo.device = Device::kCuda;
        auto model = Model::load(dir, mo);
        const auto requests = workload(model->config().n_vocab, seed);
        const EngineRun eager = run_workload(*model, false, requests);
        const EngineRun graphs = run_workload(*model, true, requests);
        EXPECT_EQ(eager.graphs, 0);
        EXPECT_GE(graphs.graphs, 3) << "decode batches of several bucket sizes should have been captured";
        for (const CoreRequest& req : requests) {
            const auto& a = eager.by_request.at(req.id).events;
            const auto& b = graphs.by_request.at(req.id).events;
            ASSERT_EQ(a.size(), size_t(req.max_tokens));
            ASSERT_EQ(b.size(), size_t(req.max_tokens));
            for (size_t i = 0; i < a.size(); ++i) {
                ASSERT_EQ(a[i].top_logprobs.size(), 2u);
                ASSERT_EQ(b[i].top_logprobs.size(), 2u);
                EXPECT_NEAR(a[i].logprob, b[i].logprob, 2e-2) << "request " << req.id << " token " << i;
                const float margin = a[i].top_logprobs[0].second - a[i].top_logprobs[1].second;
                if (a[i].token != b[i].token) {
                    // Only a near-tie may round the other way; after it the sequences differ.
                    EXPECT_LT(margin, 4e-2) << "request " << req.id << " token " << i;
                    break;
                }
            }
        }
    }
}

TEST(EngineCoreGraphBatch, BucketsCoverEveryBatchSize) {
    EXPECT_EQ(EngineCore::graph_batch(0), 0);
    int64_t previous = 0;
    for (int64_t n = 1; n <= EngineCore::kMaxGraphBatch; ++n) {
        const int64_t b = EngineCore::graph_batch(n);
        EXPECT_GE(b, n);
        EXPECT_GE(b, previous);
        EXPECT_LE(b - n, n <= 128 ? 15 : n <= 512 ? 31 : 63) << n;  // padding stays a small share of the batch
        previous = b;
    }
    EXPECT_EQ(EngineCore::graph_batch(EngineCore::kMaxGraphBatch + 1), 0);
}

}  // namespace
}  // namespace turbolm
