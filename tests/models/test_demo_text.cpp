// The demo model end to end in text: our tokenizer gives HF's prompt ids, and greedy generation
// through the KV cache, detokenized as it streams, gives exactly the continuation HF transformers wrote.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/generate.h"
#include "support/golden.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

namespace turbolm {
namespace {

TEST(DemoModel, GreedyTextMatchesHf) {
    const auto dir = test::source_dir() / "models" / "demo";
    auto model = Model::load(dir);
    auto tok = Tokenizer::load(dir);
    const auto goldens = test::load_goldens(dir);
    nlohmann::json meta = nlohmann::json::parse(std::ifstream(dir / "golden.json"));
    ASSERT_EQ(meta["prompts"].size(), goldens.size());
    for (size_t i = 0; i < goldens.size(); ++i) {
        const auto& p = meta["prompts"][i];
        const std::string text = p["text"];
        EXPECT_EQ(tok->encode(text), goldens[i].ids) << "prompt " << i << ": " << text;
        GenerateOptions opts;
        opts.max_new_tokens = int(goldens[i].greedy.size());
        opts.sampling.temperature = 0.0f;
        IncrementalDetokenizer detok(*tok, /*skip_special_tokens=*/true);
        std::string streamed;
        GenerateResult r = generate(*model, goldens[i].ids, opts, [&](int32_t id) {
            streamed += detok.push(id);
            return true;
        });
        streamed += detok.flush();
        EXPECT_EQ(r.tokens, goldens[i].greedy) << "prompt " << i;
        EXPECT_EQ(streamed, p["greedy_text"].get<std::string>()) << "prompt " << i;
    }
}

}  // namespace
}  // namespace turbolm
