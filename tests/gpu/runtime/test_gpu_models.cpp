// Every architecture on the GPU against HF transformers' goldens. The GPU multiplies in 16 bits
// with f32 accumulation and keeps the residual stream in f32: bf16 checkpoints in bf16, f32 ones
// (the tiny fixtures) in f16. Logits are compared at that type's tolerance: max |ours - golden| at
// most 3% (bf16) or 0.5% (f16) of max |golden| over all positions. Greedy steps are compared where
// HF's top-1 margin is clear of that error.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "engine/batch_decoder.h"
#include "engine/generate.h"
#include "models/model.h"
#include "ops/ops.h"
#include "sampling/sampler.h"
#include "support/golden.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

double tolerance_for(DType compute) { return compute == DType::kBF16 ? 3e-2 : 5e-3; }

class GpuGolden : public ::testing::TestWithParam<test::GoldenCase> {
protected:
    void SetUp() override {
        if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
        TURBOLM_SKIP_IF_MISSING(GetParam().dir);
        ModelOptions mo;
        mo.device = Device::kCuda;
        model_ = Model::load(GetParam().dir, mo);
        goldens_ = test::load_goldens(GetParam().dir);
        ASSERT_FALSE(goldens_.empty());
    }
    std::unique_ptr<Model> model_;
    std::vector<test::GoldenPrompt> goldens_;
};

TEST_P(GpuGolden, LogitsAtEveryPromptPosition) {
    double worst_ratio = 0.0;
    for (size_t p = 0; p < goldens_.size(); ++p) {
        const auto& g = goldens_[p];
        KvCache kv = model_->new_kv_cache(int64_t(g.ids.size()));
        Tensor logits = model_->forward(g.ids, kv, /*all_logits=*/true);
        ASSERT_EQ(logits.shape(), g.logits.shape()) << "prompt " << p;
        const float* ours = logits.data<float>();
        const float* ref = g.logits.data<float>();
        double max_ref = 0.0, max_diff = 0.0;
        for (int64_t i = 0; i < logits.numel(); ++i) {
            ASSERT_TRUE(std::isfinite(ours[i])) << "prompt " << p << " element " << i;
            max_ref = std::max(max_ref, double(std::fabs(ref[i])));
            max_diff = std::max(max_diff, std::fabs(double(ours[i]) - double(ref[i])));
        }
        EXPECT_LE(max_diff, tolerance_for(model_->activation_dtype()) * max_ref) << "prompt " << p << ": max |diff| " << max_diff
                                                     << ", max |golden| " << max_ref;
        worst_ratio = std::max(worst_ratio, max_diff / max_ref);
    }
    std::printf("[ %s ] %s: worst max|diff| / max|golden| = %.2e\n", GetParam().name.c_str(),
                dtype_name(model_->activation_dtype()), worst_ratio);
    RecordProperty("worst_relative_logit_error", std::to_string(worst_ratio));
}

// Greedy continuation through the batch decoder (device sampling, CUDA graph replay) against HF's.
TEST_P(GpuGolden, GreedyThroughGraphs) {
    for (size_t p = 0; p < goldens_.size(); ++p) {
        const auto& g = goldens_[p];
        // The error scale of this prompt's logits bounds the margins that can be trusted.
        double max_ref = 0.0;
        for (int64_t i = 0; i < g.logits.numel(); ++i) max_ref = std::max(max_ref, double(std::fabs(g.logits.data<float>()[i])));
        const double trusted = 2.0 * tolerance_for(model_->activation_dtype()) * max_ref;
        GenerateOptions opts;
        opts.max_new_tokens = int(g.greedy.size());
        opts.sampling.temperature = 0.0f;
        opts.ignore_eos = true;
        GenerateResult r = generate(*model_, g.ids, opts);
        ASSERT_EQ(r.tokens.size(), g.greedy.size());
        for (size_t step = 0; step < g.greedy.size(); ++step) {
            if (g.greedy_margin[step] <= trusted) break;  // free-running output may part ways after a near-tie
            ASSERT_EQ(r.tokens[step], g.greedy[step]) << "prompt " << p << " step " << step << " margin "
                                                      << g.greedy_margin[step];
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GpuGolden, ::testing::ValuesIn(test::golden_cases()),
                         [](const auto& info) { return test::golden_case_test_name(info.param); });

// Graph replay must compute what eager launches compute, and a static batch what each sequence
// computes alone: the demo model's greedy text, several prompts of different lengths at once.
TEST(GpuBatchDecoder, GraphsAndBatchingKeepTheOutput) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const auto dir = test::source_dir() / "models" / "demo";
    ModelOptions mo;
    mo.device = Device::kCuda;
    auto model = Model::load(dir, mo);
    const std::vector<std::vector<int32_t>> prompts = {{1, 400, 33, 97, 1200}, {1, 50}, {1, 7, 8, 9, 10, 11, 12, 13, 14}};
    constexpr int kSteps = 24;
    auto run = [&](const std::vector<std::vector<int32_t>>& ps, bool graphs) {
        BatchDecoderOptions bo;
        bo.n_seqs = int64_t(ps.size());
        bo.capacity = 64;
        bo.sampling.temperature = 0.0f;
        bo.use_graph = graphs;
        BatchDecoder d(*model, bo);
        std::vector<std::vector<int32_t>> out(ps.size());
        auto keep = [&](const std::vector<int32_t>& ids) {
            for (size_t s = 0; s < ids.size(); ++s) out[s].push_back(ids[s]);
        };
        keep(d.prefill(ps));
        for (int i = 1; i < kSteps; ++i) keep(d.step());
        return out;
    };
    const auto batched_graphs = run(prompts, true);
    const auto batched_eager = run(prompts, false);
    EXPECT_EQ(batched_graphs, batched_eager);
    for (size_t s = 0; s < prompts.size(); ++s) {
        const auto alone = run({prompts[s]}, true);
        EXPECT_EQ(alone[0], batched_graphs[s]) << "sequence " << s;
    }
}

// Sampling on the device is reproducible for a seed and differs between seeds.
TEST(GpuBatchDecoder, SeededSamplingIsReproducible) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    ModelOptions mo;
    mo.device = Device::kCuda;
    auto model = Model::load(test::source_dir() / "models" / "demo", mo);
    auto run = [&](uint64_t seed) {
        GenerateOptions opts;
        opts.max_new_tokens = 32;
        opts.ignore_eos = true;
        opts.sampling.temperature = 1.0f;
        opts.sampling.top_p = 0.9f;
        opts.sampling.repetition_penalty = 1.1f;
        opts.sampling.seed = seed;
        return generate(*model, std::vector<int32_t>{1, 400, 33}, opts).tokens;
    };
    EXPECT_EQ(run(7), run(7));
    EXPECT_NE(run(7), run(8));
}

}  // namespace
}  // namespace turbolm
