// The turbolm command as a user runs it: output, exit codes and error messages.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

std::string model_dir() {
    return (test::fixtures_dir() / "hf-tiny" / "llama-gqa").string();
}

int turbolm(const std::string& args, std::string* out) {
    return test::run_command(test::turbolm_binary().string() + " " + args, out);
}

// The same, without what the command writes to stderr.
int turbolm_stdout(const std::string& args, std::string* out) {
    return test::run_command("{ " + test::turbolm_binary().string() + " " + args + " 2>/dev/null; }", out);
}

TEST(Cli, GenerateMatchesTheGoldenGreedyContinuation) {
    std::string out;
    // Prompt 1 of the llama-gqa goldens and HF's 16 greedy tokens after it.
    ASSERT_EQ(turbolm("generate --model " + model_dir() +
                          " --prompt-ids 162,289,318,293,273,314 -n 4 --temperature 0 --json 2>/dev/null",
                      &out),
              0)
        << out;
    auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["tokens"], nlohmann::json::parse("[27, 118, 438, 276]"));
    EXPECT_EQ(j["finish_reason"], "length");
    EXPECT_GT(j["prefill_tokens_per_second"].get<double>(), 0.0);
}

// --tensor-parallel on the CPU: rank 0 starts `turbolm tp-worker` processes that load their parts
// of the model and follow its steps over loopback TCP. The split model must generate what the whole
// one does, greedily and with a seeded sample, and leave no process behind.
TEST(Cli, GenerateSplitOverCpuProcessesMatchesTheWholeModel) {
    for (const std::string model : {"llama-gqa", "gpt2", "falcon-mqa"}) {
        const std::string dir = (test::fixtures_dir() / "hf-tiny" / model).string();
        for (const std::string sampling : {"--temperature 0", "--temperature 1.0 --top-p 0.9 --seed 7"}) {
            const std::string cmd = "generate --model " + dir +
                                    " --prompt-ids 162,289,318,293,273,314 -n 12 --ignore-eos --json " + sampling;
            // The log lines go to stderr; only the JSON result is parsed.
            std::string whole, split;
            ASSERT_EQ(turbolm_stdout(cmd, &whole), 0) << whole;
            ASSERT_EQ(turbolm_stdout(cmd + " --tensor-parallel 2", &split), 0) << split;
            EXPECT_EQ(nlohmann::json::parse(split)["tokens"], nlohmann::json::parse(whole)["tokens"])
                << model << " " << sampling;
        }
    }
    std::string ps;
    test::run_command("pgrep -f '[t]urbolm tp-worker' || true", &ps);  // [t]: not pgrep's own shell
    EXPECT_EQ(ps, "") << "tensor-parallel ranks left running";
}

TEST(Cli, TensorParallelNamesTheDimensionThatDoesNotSplit) {
    std::string out;
    // llama-gqa has 2 KV heads: 3 ranks cannot share them.
    EXPECT_NE(turbolm("generate --model " + model_dir() + " --prompt-ids 1,2,3 -n 2 --tensor-parallel 3 2>&1", &out),
              0);
    EXPECT_NE(out.find("does not split over 3 tensor-parallel ranks"), std::string::npos) << out;
}

TEST(Cli, SameSeedSameSample) {
    std::string a, b, c;
    const std::string cmd =
        "generate --model " + model_dir() + " --prompt-ids 5,6,7 -n 12 --temperature 1.0 --top-p 0.95 ";
    ASSERT_EQ(turbolm(cmd + "--seed 42 --json", &a), 0) << a;
    ASSERT_EQ(turbolm(cmd + "--seed 42 --json", &b), 0) << b;
    ASSERT_EQ(turbolm(cmd + "--seed 43 --json", &c), 0) << c;
    EXPECT_EQ(nlohmann::json::parse(a)["tokens"], nlohmann::json::parse(b)["tokens"]);
    EXPECT_NE(nlohmann::json::parse(a)["tokens"], nlohmann::json::parse(c)["tokens"]);
}

TEST(Cli, BadInputsFailWithAMessage) {
    std::string out;
    EXPECT_EQ(turbolm("generate --model " + model_dir() + " --prompt-ids 1,x,3", &out), 2);
    EXPECT_NE(out.find("'x' is not a token id"), std::string::npos) << out;
    EXPECT_EQ(turbolm("generate --model " + model_dir() + " --prompt-ids 1,99999", &out), 1);
    EXPECT_NE(out.find("outside the vocabulary"), std::string::npos) << out;
    EXPECT_EQ(turbolm("generate --model " + model_dir() + " --prompt-ids 1 --top-p 0", &out), 2);
    EXPECT_NE(out.find("top_p"), std::string::npos) << out;
    EXPECT_NE(turbolm("generate --model /nonexistent --prompt-ids 1", &out), 0);
    EXPECT_NE(out.find("/nonexistent"), std::string::npos) << out;
    EXPECT_NE(turbolm("generate --prompt-ids 1", &out), 0);  // --model is required
}

TEST(Cli, InspectDescribesTheModel) {
    std::string out;
    ASSERT_EQ(turbolm("inspect --json " + model_dir(), &out), 0) << out;
    auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["architecture"], "LlamaForCausalLM");
    // embed 512x64 + lm_head 512x64 + 3 layers x (attn 64*64*2 + 64*32*2 + mlp 3*64*160 + 2 norms) + norm
    const int64_t per_layer = 64 * 64 * 2 + 32 * 64 * 2 + 3 * 64 * 160 + 2 * 64;
    EXPECT_EQ(j["parameters"].get<int64_t>(), 2 * 512 * 64 + 3 * per_layer + 64);
    EXPECT_EQ(j["kv_cache_bytes_per_token_f32"].get<int64_t>(), 3 * 2 * 2 * 16 * 4);
    EXPECT_EQ(j["dtypes"]["f32"].get<int64_t>(), 3 * 9 + 3);
}

TEST(Cli, DummyWeightsNeedOnlyAConfig) {
    test::TempDir dir;
    std::filesystem::copy_file(test::fixtures_dir() / "hf-tiny" / "qwen2-qkv-bias" / "config.json",
                               dir.path() / "config.json");
    std::string out;
    ASSERT_EQ(
        turbolm("generate --dummy-weights --model " + dir.path().string() + " --prompt-ids 1,2 -n 3 --json", &out), 0)
        << out;
    EXPECT_EQ(nlohmann::json::parse(out)["tokens"].size(), 3u);
}

// Every bench mode on the CPU: each request runs to the end and the JSON says so.
TEST(Cli, BenchModesReportEveryRequest) {
    test::TempDir dir;
    const std::string common = "bench --device cpu --model " + model_dir() + " -i 12 -o 6 --json ";
    std::string out;
    const auto json_path = (dir.path() / "static.json").string();
    ASSERT_EQ(turbolm(common + json_path + " -b 1,3 --repeats 1 --warmup 0", &out), 0) << out;
    auto j = nlohmann::json::parse(std::ifstream(json_path));
    ASSERT_EQ(j["runs"].size(), 2u);
    EXPECT_GT(j["runs"][1]["decode_tokens_per_second"].get<double>(), 0.0);
    EXPECT_FALSE(j["commit"].get<std::string>().empty());

    const auto offline_path = (dir.path() / "offline.json").string();
    ASSERT_EQ(turbolm(common + offline_path +
                          " --mode offline -n 9 --kv-fraction 0.01 --max-running 4 --warmup 1 --repeats 2",
                      &out),
              0)
        << out;
    j = nlohmann::json::parse(std::ifstream(offline_path));
    const auto& off = j["runs"][0];
    EXPECT_EQ(off["num_requests"].get<int64_t>(), 9);
    EXPECT_GT(off["output_tokens_per_second"].get<double>(), 0.0);
    EXPECT_GE(off["steps"].get<int64_t>(), 6);
    // One warm-up pass, then two measured ones on the same engine; each pass draws its own prompts,
    // so nothing of the earlier passes is found in the prefix cache.
    EXPECT_EQ(off["warmup_passes"].get<int64_t>(), 1);
    ASSERT_EQ(off["passes_output_tokens_per_second"].size(), 2u);
    const double median = off["output_tokens_per_second"].get<double>();
    EXPECT_TRUE(median == off["passes_output_tokens_per_second"][0].get<double>() ||
                median == off["passes_output_tokens_per_second"][1].get<double>());
    EXPECT_EQ(off["prefix_cache"]["queried_tokens"].get<int64_t>(), 9 * 12);
    EXPECT_EQ(off["prefix_cache"]["hit_tokens"].get<int64_t>(), 0);
    EXPECT_EQ(off["decode_graphs_captured"].get<int64_t>(), 0);  // no graphs on the CPU
    EXPECT_EQ(off["decode_graphs_held"].get<int64_t>(), 0);

    const auto online_path = (dir.path() / "online.json").string();
    ASSERT_EQ(turbolm(common + online_path + " --mode online -n 8 --rate 200 --kv-fraction 0.01", &out), 0) << out;
    j = nlohmann::json::parse(std::ifstream(online_path));
    const auto& on = j["runs"][0];
    EXPECT_EQ(on["failed_requests"].get<int64_t>(), 0);
    EXPECT_NEAR(on["output_tokens_per_second"].get<double>() * on["seconds"].get<double>(), 8 * 6, 1e-6);
    EXPECT_GT(on["ttft_ms"]["p99"].get<double>(), 0.0);
}

}  // namespace
}  // namespace turbolm
