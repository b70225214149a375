// The public engine API on the CPU with the demo model: concurrent requests stream the same tokens
// and text as each run alone, stop strings cut the text where they first complete, cancelled and
// invalid requests end alone while the others finish.
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "engine/beam_search.h"
#include "engine/generate.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"
#include "turbolm/engine.h"

namespace turbolm {
namespace {

// Collects the pieces of every request and lets the test wait for the finished ones.
struct Collector {
    std::mutex mu;
    std::condition_variable done;
    std::map<uint64_t, std::vector<GenerationOutput>> pieces;

    Engine::OutputCallback callback() {
        return [this](const GenerationOutput& o) {
            std::lock_guard<std::mutex> lock(mu);
            pieces[o.request_id].push_back(o);
            if (o.finished) done.notify_all();
        };
    }
    const GenerationOutput& wait(uint64_t id) {
        std::unique_lock<std::mutex> lock(mu);
        EXPECT_TRUE(done.wait_for(lock, std::chrono::seconds(60), [&] {
            return !pieces[id].empty() && pieces[id].back().finished;
        })) << "request " << id << " did not finish";
        return pieces[id].back();
    }
    std::string text(uint64_t id) {
        std::lock_guard<std::mutex> lock(mu);
        std::string t;
        for (const auto& p : pieces[id]) t += p.text;
        return t;
    }
    std::vector<int32_t> tokens(uint64_t id) {
        std::lock_guard<std::mutex> lock(mu);
        std::vector<int32_t> t;
        for (const auto& p : pieces[id]) t.insert(t.end(), p.token_ids.begin(), p.token_ids.end());
        return t;
    }
};

class EngineApi : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = test::source_dir() / "models" / "demo";
        EngineConfig c;
        c.model_dir = dir_.string();
        c.device = "cpu";
        c.max_model_len = 256;
        c.kv_fraction = 0.05;
        c.max_batched_tokens = 64;  // prompts go in chunks
        auto e = Engine::create(c);
        ASSERT_TRUE(e.has_value()) << e.status().message();
        engine_ = std::move(e.value());
        tokenizer_ = Tokenizer::load(dir_);
        ModelOptions mo;
        mo.precision = ops::MatmulPrecision::kWeightType;
        model_ = Model::load(dir_, mo);
    }
    GenerationRequest greedy(const std::string& prompt, int64_t max_tokens) {
        GenerationRequest r;
        r.prompt = prompt;
        r.params.max_tokens = max_tokens;
        r.params.temperature = 0.0f;
        r.params.ignore_eos = true;
        return r;
    }
    std::vector<int32_t> alone(const std::string& prompt, int64_t max_tokens) {
        GenerateOptions g;
        g.max_new_tokens = int(max_tokens);
        g.sampling.temperature = 0.0f;
        g.ignore_eos = true;
        return generate(*model_, tokenizer_->encode(prompt), g).tokens;
    }
    std::filesystem::path dir_;
    std::unique_ptr<Engine> engine_;
    std::unique_ptr<Tokenizer> tokenizer_;
    std::unique_ptr<Model> model_;
};

TEST_F(EngineApi, ConcurrentRequestsStreamWhatEachGeneratesAlone) {
    const std::vector<std::pair<std::string, int64_t>> prompts = {
        {"And God said", 40}, {"In the beginning", 25}, {"The LORD is my shepherd; I shall not want.", 33},
        {"Blessed are the meek: for they shall inherit the earth.", 12}, {"And it came to pass", 48}};
    Collector c;
    std::vector<uint64_t> ids(prompts.size());
    std::vector<std::thread> clients;
    for (size_t i = 0; i < prompts.size(); ++i)
        clients.emplace_back([&, i] { ids[i] = engine_->submit(greedy(prompts[i].first, prompts[i].second), c.callback()).value(); });
    for (auto& t : clients) t.join();
    for (size_t i = 0; i < prompts.size(); ++i) {
        const GenerationOutput& last = c.wait(ids[i]);
        EXPECT_EQ(last.finish_reason, "length");
        const std::vector<int32_t> expected = alone(prompts[i].first, prompts[i].second);
        EXPECT_EQ(c.tokens(ids[i]), expected) << prompts[i].first;
        EXPECT_EQ(c.text(ids[i]), tokenizer_->decode(expected, /*skip_special_tokens=*/true)) << prompts[i].first;
        EXPECT_EQ(last.completion_tokens, prompts[i].second);
    }
}

TEST_F(EngineApi, StopStringCutsTheTextWhereItFirstCompletes) {
    const std::string prompt = "And God said";
    const std::string full = tokenizer_->decode(alone(prompt, 40), true);
    // A stop string from the middle of the text the model will write.
    const size_t at = full.size() / 2;
    const std::string stop = full.substr(at, 4);
    const std::string expected = full.substr(0, full.find(stop));
    Collector c;
    GenerationRequest r = greedy(prompt, 40);
    r.params.stop = {stop};
    const uint64_t id = engine_->submit(r, c.callback()).value();
    const GenerationOutput& last = c.wait(id);
    EXPECT_EQ(last.finish_reason, "stop");
    EXPECT_EQ(c.text(id), expected) << "stop '" << stop << "' in '" << full << "'";
    GenerationRequest inc = r;
    inc.params.include_stop_str_in_output = true;
    const uint64_t id2 = engine_->submit(inc, c.callback()).value();
    c.wait(id2);
    EXPECT_EQ(c.text(id2), expected + stop);
}

TEST_F(EngineApi, CancelledAndInvalidRequestsEndAloneAndOthersFinish) {
    Collector c;
    const uint64_t good = engine_->submit(greedy("And God said", 30), c.callback()).value();
    const uint64_t long_one = engine_->submit(greedy("In the beginning", 200), c.callback()).value();
    GenerationRequest empty;
    const uint64_t bad_empty = engine_->submit(empty, c.callback()).value();
    GenerationRequest too_long = greedy("And God said", 300);  // past max_model_len 256
    const uint64_t bad_long = engine_->submit(too_long, c.callback()).value();
    GenerationRequest bad_ids;
    bad_ids.prompt_ids = {1, 2, 1 << 30};
    const uint64_t bad_vocab = engine_->submit(bad_ids, c.callback()).value();
    engine_->cancel(long_one);

    EXPECT_EQ(c.wait(bad_empty).finish_reason, "error");
    const GenerationOutput& l = c.wait(bad_long);
    EXPECT_EQ(l.finish_reason, "error");
    EXPECT_EQ(l.status.code(), StatusCode::kOutOfRange) << l.status.message();
    EXPECT_EQ(c.wait(bad_vocab).status.code(), StatusCode::kOutOfRange);
    EXPECT_EQ(c.wait(long_one).finish_reason, "abort");
    EXPECT_LT(c.tokens(long_one).size(), 200u);
    EXPECT_EQ(c.wait(good).finish_reason, "length");
    EXPECT_EQ(c.tokens(good), alone("And God said", 30));
}

TEST_F(EngineApi, SeveralCompletionsAndLogprobs) {
    Collector c;
    // n = 3 sampled completions: reproducible for a seed, told apart by index.
    GenerationRequest r;
    r.prompt = "And God said";
    r.params.max_tokens = 20;
    r.params.temperature = 0.9f;
    r.params.seed = 11;
    r.params.n = 3;
    r.params.ignore_eos = true;
    auto texts = [&](uint64_t id) {
        std::unique_lock<std::mutex> lock(c.mu);
        EXPECT_TRUE(c.done.wait_for(lock, std::chrono::seconds(60), [&] {
            int finished = 0;
            for (const auto& p : c.pieces[id]) finished += p.finished ? 1 : 0;
            return finished == 3;
        }));
        std::vector<std::string> t(3);
        for (const auto& p : c.pieces[id]) t[size_t(p.index)] += p.text;
        return t;
    };
    const auto first = texts(engine_->submit(r, c.callback()).value());
    const auto again = texts(engine_->submit(r, c.callback()).value());
    EXPECT_EQ(first, again);
    EXPECT_NE(first[0], first[1]);

    // Greedy with log-probabilities: each chosen token is the most likely, and the first one's
    // log-probability is the log-softmax of the prompt's last logits.
    GenerationRequest g = greedy("And God said", 8);
    g.params.logprobs = 4;
    const uint64_t id = engine_->submit(g, c.callback()).value();
    c.wait(id);
    std::vector<TokenLogprobs> lps;
    {
        std::lock_guard<std::mutex> lock(c.mu);
        for (const auto& p : c.pieces[id]) lps.insert(lps.end(), p.logprobs.begin(), p.logprobs.end());
    }
    ASSERT_EQ(lps.size(), 8u);
    for (const auto& t : lps) {
        ASSERT_EQ(t.top.size(), 4u);
        EXPECT_EQ(t.top[0].first, t.token);
        EXPECT_FLOAT_EQ(t.top[0].second, t.logprob);
        EXPECT_LE(t.logprob, 0.0f);
        for (size_t i = 1; i < t.top.size(); ++i) EXPECT_GE(t.top[i - 1].second, t.top[i].second);
    }
    const std::vector<int32_t> prompt = tokenizer_->encode("And God said");
    KvCache kv = model_->new_kv_cache(int64_t(prompt.size()));
    Tensor logits = model_->forward(prompt, kv);
    const float* row = logits.data<float>();
    double mx = -1e30, sum = 0;
    for (int64_t v = 0; v < logits.size(1); ++v) mx = std::max(mx, double(row[v]));
    for (int64_t v = 0; v < logits.size(1); ++v) sum += std::exp(double(row[v]) - mx);
    EXPECT_NEAR(lps[0].logprob, double(row[lps[0].token]) - mx - std::log(sum), 1e-4);
}

// Beam search through the engine (one-token requests per beam and round, sharing cached prefix
// blocks) against the same search driven by one full forward pass per hypothesis.
TEST_F(EngineApi, BeamSearchMatchesDirectSearch) {
    const std::string prompt = "And God said";
    constexpr int kWidth = 3;
    constexpr int64_t kMax = 10;
    Collector c;
    GenerationRequest r = greedy(prompt, kMax);
    r.params.beam_width = kWidth;
    const uint64_t id = engine_->submit(r, c.callback()).value();
    const GenerationOutput& out = c.wait(id);
    ASSERT_NE(out.finish_reason, "error") << out.status.message();

    const std::vector<int32_t> ids = tokenizer_->encode(prompt);
    BeamSearch direct(kWidth, kMax, {});
    while (!direct.done()) {
        const auto pending = direct.pending();
        for (size_t i = 0; i < pending.size(); ++i) {
            std::vector<int32_t> seq = ids;
            seq.insert(seq.end(), pending[i].begin(), pending[i].end());
            KvCache kv = model_->new_kv_cache(int64_t(seq.size()));
            Tensor logits = model_->forward(seq, kv);
            const float* row = logits.data<float>();
            const int64_t V = logits.size(1);
            double mx = -1e30, sum = 0;
            for (int64_t v = 0; v < V; ++v) mx = std::max(mx, double(row[v]));
            for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - mx);
            std::vector<std::pair<int32_t, float>> all;
            for (int64_t v = 0; v < V; ++v) all.push_back({int32_t(v), float(double(row[v]) - mx - std::log(sum))});
            std::partial_sort(all.begin(), all.begin() + 2 * kWidth, all.end(),
                              [](auto a, auto b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
            all.resize(2 * kWidth);
            direct.give(i, all);
        }
    }
    EXPECT_EQ(c.tokens(id), direct.best().tokens);
    EXPECT_EQ(c.text(id), tokenizer_->decode(direct.best().tokens, true));
    EXPECT_EQ(out.finish_reason, "length");
}

}  // namespace
}  // namespace turbolm
