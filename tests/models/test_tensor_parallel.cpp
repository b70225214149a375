// Tensor parallelism proven on the CPU: every golden model split over 2 and 4 ranks (threads joined
// by the in-process communicator) gives the logits of the whole model, at every prompt position and
// through the KV cache; the engine keeps a split model's ranks in step; and the collectives
// themselves match plain sums, bit-identical on every rank.
#include <algorithm>
#include <cmath>
#include <exception>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include <stdlib.h>

#include <gtest/gtest.h>

#include "core/half.h"
#include "engine/engine_core.h"
#include "models/model.h"
#include "models/split_steps.h"
#include "models/tensor_parallel.h"
#include "parallel/local_communicator.h"
#include "parallel/rendezvous.h"
#include "support/golden.h"
#include "support/rank_threads.h"
#include "support/split_models.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

using test::run_ranks;

TEST(LocalCommunicator, CollectivesMatchPlainSums) {
    std::mt19937 rng(std::random_device{}());
    std::uniform_real_distribution<float> u(-4.0f, 4.0f);
    constexpr int kWorld = 3;
    constexpr int64_t n = 1000;
    std::vector<std::vector<float>> inputs(kWorld, std::vector<float>(n));
    for (auto& v : inputs)
        for (auto& x : v) x = u(rng);
    std::vector<Tensor> reduced(kWorld), gathered(kWorld), broadcast(kWorld);
    std::vector<Tensor> reduced_bf16(kWorld);
    run_ranks(kWorld, [&](int r, std::shared_ptr<Communicator> comm) {
        ASSERT_EQ(comm->rank(), r);
        ASSERT_EQ(comm->world(), kWorld);
        Tensor x = Tensor::empty({n}, DType::kF32);
        std::copy(inputs[size_t(r)].begin(), inputs[size_t(r)].end(), x.data<float>());
        Tensor all = Tensor::empty({kWorld, n}, DType::kF32);
        all.data<float>()[0] = NAN;  // poisoned: must be overwritten
        comm->all_gather(x, all);
        gathered[size_t(r)] = all;
        Tensor b = Tensor::empty({n}, DType::kF32);
        std::copy(inputs[size_t(r)].begin(), inputs[size_t(r)].end(), b.data<float>());
        comm->broadcast(b, 1);
        broadcast[size_t(r)] = b;
        Tensor h = Tensor::empty({n}, DType::kBF16);
        for (int64_t i = 0; i < n; ++i) h.data<uint16_t>()[i] = f32_to_bf16(inputs[size_t(r)][size_t(i)]);
        comm->all_reduce_sum(h);
        reduced_bf16[size_t(r)] = h;
        comm->all_reduce_sum(x);
        reduced[size_t(r)] = x;
    });
    for (int r = 0; r < kWorld; ++r) {
        for (int64_t i = 0; i < n; ++i) {
            float sum = 0.0f, sum_bf16 = 0.0f;
            for (int s = 0; s < kWorld; ++s) {
                sum += inputs[size_t(s)][size_t(i)];
                sum_bf16 += bf16_to_f32(f32_to_bf16(inputs[size_t(s)][size_t(i)]));
            }
            ASSERT_EQ(reduced[size_t(r)].data<float>()[i], sum) << "rank " << r << " element " << i;
            ASSERT_EQ(reduced_bf16[size_t(r)].data<uint16_t>()[i], f32_to_bf16(sum_bf16)) << "rank " << r;
            ASSERT_EQ(broadcast[size_t(r)].data<float>()[i], inputs[1][size_t(i)]) << "rank " << r;
            for (int s = 0; s < kWorld; ++s)
                ASSERT_EQ(gathered[size_t(r)].data<float>()[s * n + i], inputs[size_t(s)][size_t(i)]) << "rank " << r;
        }
    }
}

// mpirun's ranks meet over TCP: rank 0 hands its id to every other rank, whichever starts first.
TEST(Rendezvous, RankZeroHandsTheIdToEveryRank) {
    const int port = 20000 + int(std::random_device{}() % 20000);
    const std::string address = "127.0.0.1:" + std::to_string(port);
    const std::string id = "id-" + std::to_string(port);
    constexpr int kWorld = 4;
    std::vector<std::string> got(kWorld);
    std::vector<std::thread> ranks;
    for (int r = kWorld - 1; r >= 0; --r)  // the others first: they retry until rank 0 listens
        ranks.emplace_back([&, r] { got[size_t(r)] = exchange_group_id(r, kWorld, address, r == 0 ? id : "", 20); });
    for (auto& t : ranks) t.join();
    for (int r = 0; r < kWorld; ++r) EXPECT_EQ(got[size_t(r)], id) << "rank " << r;
}

TEST(Rendezvous, NoRankZeroIsAClearErrorAfterTheTimeout) {
    try {
        exchange_group_id(1, 2, "127.0.0.1:9", "", 1);  // the discard port: nothing answers
        ADD_FAILURE() << "fetched an id from nowhere";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no group id from 127.0.0.1:9"), std::string::npos) << e.what();
    }
}

TEST(Rendezvous, LaunchersRankVariables) {
    EXPECT_FALSE(launched_rank_from_environment().has_value());
    ::setenv("OMPI_COMM_WORLD_RANK", "3", 1);
    ::setenv("OMPI_COMM_WORLD_SIZE", "8", 1);
    ::setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
    const auto me = launched_rank_from_environment();
    ::unsetenv("OMPI_COMM_WORLD_RANK");
    ::unsetenv("OMPI_COMM_WORLD_SIZE");
    ::unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    ASSERT_TRUE(me.has_value());
    EXPECT_EQ(me->rank, 3);
    EXPECT_EQ(me->world, 8);
    EXPECT_EQ(me->local_rank, 1);
}

// Logits of the first golden prompt at every position, then of 4 tokens decoded one at a time
// through the KV cache (HF's greedy tokens fed back), stacked.
Tensor prompt_and_decode_logits(const Model& model, const test::GoldenPrompt& g) {
    const int64_t steps = std::min<int64_t>(4, int64_t(g.greedy.size()));
    KvCache kv = model.new_kv_cache(int64_t(g.ids.size()) + steps);
    const int64_t V = model.config().n_vocab, P = int64_t(g.ids.size());
    Tensor out = Tensor::empty({P + steps, V}, DType::kF32);
    Tensor prompt = model.forward(g.ids, kv, /*all_logits=*/true);
    std::copy_n(prompt.data<float>(), P * V, out.data<float>());
    for (int64_t s = 0; s < steps; ++s) {
        const int32_t fed = g.greedy[size_t(s)];
        Tensor row = model.forward(std::span<const int32_t>(&fed, 1), kv);
        std::copy_n(row.data<float>(), V, out.row<float>(P + s));
    }
    return out;
}

class TensorParallelCpu : public ::testing::TestWithParam<test::GoldenCase> {};

TEST_P(TensorParallelCpu, SplitModelsGiveTheWholeModelsLogits) {
    TURBOLM_SKIP_IF_MISSING(GetParam().dir);
    const auto goldens = test::load_goldens(GetParam().dir);
    ASSERT_FALSE(goldens.empty());
    const auto whole_model = Model::load(GetParam().dir);
    const Tensor whole = prompt_and_decode_logits(*whole_model, goldens[0]);
    double max_ref = 0.0;
    for (int64_t i = 0; i < whole.numel(); ++i) max_ref = std::max(max_ref, double(std::fabs(whole.data<float>()[i])));

    int tried = 0;
    for (int world : {2, 4}) {
        ModelConfig probe = whole_model->config();
        probe.tp = TensorParallel{0, world};
        try {
            check_tensor_parallel(probe);
        } catch (const Error& e) {
            std::cout << GetParam().name << ": no split over " << world << ": " << e.what() << "\n";
            continue;
        }
        ++tried;
        // Rank 0 runs the forward passes; the others run what it announces (models/split_steps.h).
        Tensor logits;
        std::vector<int64_t> followed(static_cast<size_t>(world), 0);
        run_ranks(world, [&](int r, std::shared_ptr<Communicator> comm) {
            ModelOptions opts;
            opts.comm = comm;
            const auto part = Model::load(GetParam().dir, opts);
            EXPECT_EQ(part->config().n_head * world, whole_model->config().n_head);
            EXPECT_LT(part->parameter_count(), whole_model->parameter_count());
            if (r != 0) {
                followed[size_t(r)] = follow_split_steps(*part);
                return;
            }
            logits = prompt_and_decode_logits(*part, goldens[0]);
            announce_stop(*part);
        });
        for (int r = 1; r < world; ++r) EXPECT_EQ(followed[size_t(r)], 5) << "rank " << r << ": prompt and 4 steps";
        ASSERT_EQ(logits.shape(), whole.shape());
        double max_diff = 0.0;
        for (int64_t i = 0; i < whole.numel(); ++i) {
            const float got = logits.data<float>()[i];
            ASSERT_TRUE(std::isfinite(got)) << "element " << i;
            max_diff = std::max(max_diff, std::fabs(double(got) - double(whole.data<float>()[i])));
        }
        // Only the order of f32 sums differs from the whole model.
        EXPECT_LE(max_diff, 1e-5 * max_ref) << world << " ranks: max |diff| " << max_diff;
    }
    EXPECT_GT(tried, 0) << "the model splits over neither 2 nor 4 ranks";
}

INSTANTIATE_TEST_SUITE_P(Golden, TensorParallelCpu, ::testing::ValuesIn(test::golden_cases()),
                         [](const auto& info) { return test::golden_case_test_name(info.param); });

// Continuous batching over a split model: rank 0 schedules every golden prompt at once (prompts in
// chunks), rank 1 follows its steps; the greedy continuations must be HF's wherever HF's top-1
// margin is clear of numerical noise.
class TensorParallelEngine : public ::testing::TestWithParam<std::string> {};

TEST_P(TensorParallelEngine, FollowerRanksKeepTheEngineInStep) {
    const auto dir = test::fixtures_dir() / "hf-tiny" / GetParam();
    TURBOLM_SKIP_IF_MISSING(dir);
    const auto goldens = test::load_goldens(dir);
    ASSERT_FALSE(goldens.empty());
    std::map<uint64_t, std::vector<int32_t>> outputs;
    int64_t followed = 0;
    run_ranks(2, [&](int r, std::shared_ptr<Communicator> comm) {
        ModelOptions opts;
        opts.comm = comm;
        const auto model = Model::load(dir, opts);
        if (r != 0) {
            followed = follow_split_steps(*model);
            return;
        }
        EngineCoreOptions eo;
        eo.scheduler.max_batched_tokens = 8;  // prompts go in several chunks
        eo.scheduler.max_running = 4;
        eo.scheduler.max_model_len = 64;
        eo.scheduler.chunked_prefill = true;
        eo.kv.block_size = 4;
        eo.kv.n_blocks = 1 + 64;
        eo.kv.prefix_caching = true;
        {
            EngineCore core(*model, eo);
            for (size_t p = 0; p < goldens.size(); ++p) {
                CoreRequest req;
                req.id = p + 1;
                req.prompt = goldens[p].ids;
                req.max_tokens = int64_t(goldens[p].greedy.size());
                req.sampling.temperature = 0.0f;
                req.ignore_eos = true;
                core.add(req);
            }
            for (int step = 0; step < 1000 && core.has_unfinished(); ++step)
                for (const TokenEvent& e : core.step()) outputs[e.id].push_back(e.token);
        }
        announce_stop(*model);
    }, /*take_turns=*/true);  // as ranks sharing one GPU run (the GPU tests)
    EXPECT_GT(followed, 0);
    for (size_t p = 0; p < goldens.size(); ++p) {
        const auto& g = goldens[p];
        const auto& ours = outputs[p + 1];
        ASSERT_EQ(ours.size(), g.greedy.size()) << "prompt " << p;
        for (size_t i = 0; i < ours.size(); ++i) {
            if (g.greedy_margin[i] <= 1e-3f) break;  // a near tie: the rest may differ legitimately
            ASSERT_EQ(ours[i], g.greedy[i]) << "prompt " << p << " step " << i;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TensorParallelEngine,
                         ::testing::Values("llama-gqa", "mixtral-moe", "gpt2", "falcon-new-arch", "qwen2-qkv-bias"),
                         [](const auto& info) {
                             std::string n = info.param;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

// A real shape (Llama-3.2-1B's widths and vocabulary, two layers) with random weights: a rank of
// 2 or 4 draws the whole of each tensor and keeps its part, so the split model is the whole one.
TEST(TensorParallelCpu, RandomWeightsOfARealShapeSplitConsistently) {
    test::TempDir dir;
    std::ofstream(dir.path() / "config.json") << R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 2,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "hidden_act": "silu",
        "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
        "tie_word_embeddings": false, "torch_dtype": "bfloat16"})";
    ModelOptions mo;
    mo.dummy_weights = true;
    mo.seed = std::random_device{}();  // f32 products (the default): only the order of sums differs
    std::mt19937 rng(uint32_t(mo.seed));
    std::vector<int32_t> ids(6);
    for (auto& t : ids) t = int32_t(rng() % 128256);
    const Tensor whole = test::model_logits(dir.path(), mo, 1, ids);
    for (int world : {2, 4}) {
        const Tensor split = test::model_logits(dir.path(), mo, world, ids);
        double max_ref = 0.0, max_diff = 0.0;
        for (int64_t i = 0; i < whole.numel(); ++i) {
            max_ref = std::max(max_ref, double(std::fabs(whole.data<float>()[i])));
            max_diff = std::max(max_diff, std::fabs(double(whole.data<float>()[i]) - double(split.data<float>()[i])));
        }
        EXPECT_LE(max_diff, 1e-5 * max_ref) << world << " ranks, seed " << mo.seed;
    }
}

TEST(TensorParallelCpu, ModelsThatDoNotSplitAreRefusedByName) {
    const auto dir = test::fixtures_dir() / "hf-tiny" / "llama-gqa";
    TURBOLM_SKIP_IF_MISSING(dir);
    run_ranks(3, [&](int, std::shared_ptr<Communicator> comm) {
        ModelOptions opts;
        opts.comm = comm;
        try {
            Model::load(dir, opts);
            ADD_FAILURE() << "a 4-head model loaded over 3 ranks";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
            EXPECT_NE(std::string(e.what()).find("num_attention_heads (4) does not split over 3"), std::string::npos)
                << e.what();
        }
    });
}

}  // namespace
}  // namespace turbolm
