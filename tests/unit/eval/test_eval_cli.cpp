// `turbolm eval` as a user runs it: the table, and the JSON record with every result finite.
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

// One thread: ctest runs tests side by side, and oversubscribed OpenMP threads slow the forward
// passes tenfold (see test_eval_text.cpp).
int turbolm(const std::string& args, std::string* out) {
    return test::run_command(test::turbolm_binary().string() + " " + args + " --threads 1", out);
}

void expect_finite(const nlohmann::json& j, const std::string& key) {
    ASSERT_TRUE(j.contains(key)) << key << " in " << j.dump();
    ASSERT_TRUE(j[key].is_number()) << key;
    EXPECT_TRUE(std::isfinite(j[key].get<double>())) << key;
}

TEST(EvalCli, WritesTheResultsAsJson) {
    test::TempDir dir;
    const auto demo = test::source_dir() / "models" / "demo";
    const auto summaries = dir.path() / "summaries.jsonl", json = dir.path() / "eval.json";
    std::ofstream(summaries) << "{\"prompt\": \"In the beginning God\", \"reference\": \"created the heaven and the earth\"}\n"
                             << "{\"prompt\": \"The LORD is my shepherd;\", \"reference\": \"I shall not want.\"}\n";
    std::string out;
    // No candidate flags: the candidate is the baseline, loaded a second time.
    ASSERT_EQ(turbolm("eval --model " + demo.string() + " --text " + (demo / "heldout.txt").string() +
                          " --max-tokens 128 --ctx 64 --stride 32 --summaries " + summaries.string() +
                          " --max-new-tokens 8 --json " + json.string(),
                      &out),
              0)
        << out;
    EXPECT_NE(out.find("perplexity"), std::string::npos) << out;
    EXPECT_NE(out.find("top-1 agreement"), std::string::npos) << out;
    std::ifstream in(json);
    const auto j = nlohmann::json::parse(in);
    EXPECT_EQ(j["tool"], "turbolm eval");
    for (const char* key : {"date", "commit", "command", "model"}) EXPECT_TRUE(j[key].is_string()) << key;
    EXPECT_NE(j["command"].get<std::string>().find("--max-tokens 128"), std::string::npos);
    EXPECT_EQ(j["options"]["candidate"], j["options"]["baseline"]);
    EXPECT_EQ(j["options"]["ctx"], 64);

    const auto& text = j["results"]["text"];
    EXPECT_EQ(text["text_tokens"], 128);
    EXPECT_EQ(text["baseline"]["tokens_scored"], 127);
    for (const char* side : {"baseline", "candidate"})
        for (const char* key : {"perplexity", "mean_nll", "forward_seconds"}) expect_finite(text[side], key);
    expect_finite(text, "perplexity_delta");
    const auto& cmp = text["comparison"];
    for (const char* key : {"kld_mean", "kld_p99", "kld_max", "top1_agreement"}) expect_finite(cmp, key);
    for (const char* err : {"abs_error", "rel_error"})
        for (const char* key : {"max", "median", "mean"}) expect_finite(cmp[err], key);
    // The same model twice: nothing differs.
    EXPECT_EQ(cmp["kld_max"], 0.0);
    EXPECT_EQ(cmp["top1_agreement"], 1.0);
    EXPECT_EQ(text["perplexity_delta"], 0.0);

    const auto& sum = j["results"]["summaries"];
    EXPECT_EQ(sum["examples"], 2);
    EXPECT_EQ(sum["identical_outputs"], 2);
    for (const char* side : {"baseline", "candidate"})
        for (const char* key : {"rouge1_f1", "rouge2_f1", "rougeL_f1"}) expect_finite(sum[side], key);
    EXPECT_EQ(sum["per_example"].size(), 2u);
    EXPECT_LE(sum["per_example"][0]["baseline"]["tokens"].get<int>(), 8);
}

TEST(EvalCli, CandidateFlagsChangeOnlyTheCandidate) {
    const auto demo = test::source_dir() / "models" / "demo";
    test::TempDir dir;
    const auto json = dir.path() / "eval.json";
    std::string out;
    ASSERT_EQ(turbolm("eval --model " + demo.string() + " --text " + (demo / "heldout.txt").string() +
                          " --max-tokens 64 --ctx 64 --candidate-round-weights bf16 --candidate-matmul-precision weight"
                          " --json " + json.string(),
                      &out),
              0)
        << out;
    std::ifstream in(json);
    const auto j = nlohmann::json::parse(in);
    EXPECT_EQ(j["options"]["baseline"]["round_weights"], "none");
    EXPECT_EQ(j["options"]["baseline"]["matmul_precision"], "f32");
    EXPECT_EQ(j["options"]["candidate"]["round_weights"], "bf16");
    EXPECT_EQ(j["options"]["candidate"]["matmul_precision"], "weight");
    EXPECT_EQ(j["options"]["candidate"]["device"], "cpu");
    // bf16 products move the logits a little, not the predictions.
    const auto& cmp = j["results"]["text"]["comparison"];
    EXPECT_GT(cmp["kld_mean"].get<double>(), 0.0);
    EXPECT_LT(cmp["kld_mean"].get<double>(), 0.01);
    EXPECT_GT(cmp["top1_agreement"].get<double>(), 0.9);
}

// A model without its tokenizer is scored on token ids: the ids `turbolm tokenize` gives for a text
// score exactly as the text does.
TEST(EvalCli, TokenIdsScoreAsTheirText) {
    const auto demo = test::source_dir() / "models" / "demo";
    test::TempDir dir;
    const std::string text = "In the beginning God created the heaven and the earth. And the earth was without form.";
    std::ofstream(dir.path() / "text.txt") << text;
    std::string out;
    ASSERT_EQ(test::run_command(test::turbolm_binary().string() + " tokenize --json --model " + demo.string() + " \"" +
                                    text + "\"",
                                &out),
              0)
        << out;
    const auto ids = nlohmann::json::parse(out)["ids"];
    ASSERT_GT(ids.size(), 8u);
    {
        std::ofstream f(dir.path() / "ids.txt");
        for (size_t i = 0; i < ids.size(); ++i) f << ids[i].get<int>() << (i % 7 == 6 ? "\n" : "  ");
    }
    nlohmann::json results[2];
    const std::string inputs[2] = {" --text " + (dir.path() / "text.txt").string(),
                                   " --token-ids " + (dir.path() / "ids.txt").string()};
    for (int i = 0; i < 2; ++i) {
        const auto json = dir.path() / ("eval" + std::to_string(i) + ".json");
        ASSERT_EQ(turbolm("eval --model " + demo.string() + inputs[i] +
                              " --ctx 16 --stride 8 --candidate-quantize int8 --json " + json.string(),
                          &out),
                  0)
            << out;
        std::ifstream in(json);
        results[i] = nlohmann::json::parse(in)["results"]["text"];
    }
    EXPECT_EQ(results[1]["text_tokens"].get<int64_t>(), int64_t(ids.size()));
    EXPECT_EQ(results[1]["text_tokens"], results[0]["text_tokens"]);
    EXPECT_EQ(results[1]["baseline"]["perplexity"], results[0]["baseline"]["perplexity"]);
    EXPECT_EQ(results[1]["comparison"]["kld_mean"], results[0]["comparison"]["kld_mean"]);
    EXPECT_GT(results[1]["comparison"]["kld_mean"].get<double>(), 0.0);  // INT8 moves the logits

    // Bad ids name what is wrong; a text and ids together are refused.
    std::ofstream(dir.path() / "words.txt") << "12 5 x7 9";
    EXPECT_NE(turbolm("eval --model " + demo.string() + " --token-ids " + (dir.path() / "words.txt").string(), &out),
              0);
    EXPECT_NE(out.find("'x7' at position 2 is not a token id"), std::string::npos) << out;
    std::ofstream(dir.path() / "big.txt") << "1 2 3 99999999";
    EXPECT_NE(turbolm("eval --model " + demo.string() + " --token-ids " + (dir.path() / "big.txt").string(), &out), 0);
    EXPECT_NE(out.find("token id 99999999 at position 3 is outside the model's vocabulary"), std::string::npos)
        << out;
    EXPECT_NE(turbolm("eval --model " + demo.string() + " --text x --token-ids y", &out), 0);
}

TEST(EvalCli, BadInputsFailWithAMessage) {
    const auto demo = test::source_dir() / "models" / "demo";
    std::string out;
    EXPECT_EQ(turbolm("eval --model " + demo.string(), &out), 2);
    EXPECT_NE(out.find("--text"), std::string::npos) << out;
    EXPECT_NE(turbolm("eval --model " + demo.string() + " --text /nonexistent.txt", &out), 0);
    EXPECT_NE(out.find("/nonexistent.txt"), std::string::npos) << out;
    EXPECT_NE(turbolm("eval --model " + demo.string() + " --text x --candidate-round-weights f8", &out), 0);
}

}  // namespace
}  // namespace turbolm
