// evaluate_text on real models: perplexity against Hugging Face's windowed loop run here directly
// on Model::forward logits, a model against itself (exact zeros), and candidates whose weights are
// rounded to bf16 or f16 (a small error that shrinks with the format's precision).
#include <cmath>
#include <fstream>
#include <iterator>
#include <random>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/parallel.h"
#include "eval_summaries.h"
#include "eval_text.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

namespace turbolm::eval {
namespace {

std::filesystem::path demo_dir() { return test::source_dir() / "models" / "demo"; }
std::filesystem::path tiny_dir() { return test::fixtures_dir() / "hf-tiny" / "llama-gqa"; }

std::vector<int32_t> heldout_tokens(size_t n) {
    std::ifstream in(demo_dir() / "heldout.txt");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<int32_t> ids = Tokenizer::load(demo_dir())->encode(text.substr(0, 4000));
    EXPECT_GE(ids.size(), n);
    ids.resize(n);
    return ids;
}

std::vector<int32_t> random_tokens(size_t n, int32_t vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> ids(n);
    for (auto& id : ids) id = int32_t(rng() % uint32_t(vocab));
    return ids;
}

// Hugging Face's loop: windows of ctx every stride, labels -100 before the last trg_len tokens, the
// loss over labels[1:] against logits[:-1]; perplexity = exp(total NLL / tokens scored).
double reference_perplexity(const Model& model, const std::vector<int32_t>& ids, int64_t ctx, int64_t stride,
                            int64_t* scored) {
    const int64_t n = int64_t(ids.size());
    long double nll = 0;
    *scored = 0;
    int64_t prev_end = 0;
    for (int64_t begin = 0; begin < n; begin += stride) {
        const int64_t end = std::min(begin + ctx, n), len = end - begin, trg_len = end - prev_end;
        KvCache kv = model.new_kv_cache(len);
        const Tensor logits = model.forward(std::span(ids).subspan(size_t(begin), size_t(len)), kv, true);
        for (int64_t i = 1; i < len; ++i) {
            if (i < len - trg_len) continue;  // label -100
            const float* row = logits.data<float>() + (i - 1) * logits.size(1);
            long double sum = 0;
            for (int64_t v = 0; v < logits.size(1); ++v) sum += std::exp((long double)row[v]);
            nll += std::log(sum) - row[ids[size_t(begin + i)]];
            ++*scored;
        }
        prev_end = end;
        if (end == n) break;
    }
    return double(std::exp(nll / *scored));
}

// ctest runs test processes side by side on few cores, where OpenMP threads waiting for each other
// slow a forward pass tenfold; one thread avoids that. Every comparison here is between results of
// the same process, so none depends on the thread count.
class EvalText : public ::testing::Test {
protected:
    void SetUp() override { set_num_threads(1); }
};

TextEvalResult run(const Model& base, const Model& cand, const std::vector<int32_t>& ids, int64_t ctx, int64_t stride) {
    TextEvalOptions o;
    o.ctx = ctx;
    o.stride = stride;
    return evaluate_text(base, cand, ids, o);
}

TEST_F(EvalText, DemoPerplexityIsExpOfTheMeanNll) {
    const auto model = Model::load(demo_dir());
    const std::vector<int32_t> ids = heldout_tokens(160);
    for (auto [ctx, stride] : {std::pair<int64_t, int64_t>{64, 32}, {512, 512}}) {
        int64_t scored = 0;
        const double expected = reference_perplexity(*model, ids, ctx, stride, &scored);
        const TextEvalResult r = run(*model, *model, ids, ctx, stride);
        EXPECT_EQ(scored, 159);
        EXPECT_EQ(r.baseline.tokens, scored);
        EXPECT_NEAR(r.baseline.perplexity(), expected, 1e-10 * expected) << ctx << " " << stride;
        // The demo model reads its own held-out scripture far better than chance (4096 tokens).
        EXPECT_LT(expected, 100.0);
    }
}

TEST_F(EvalText, AModelAgainstItselfDiffersByNothing) {
    // Two loads of the same checkpoint: the forward passes are deterministic, so every logit agrees.
    const auto a = Model::load(tiny_dir()), b = Model::load(tiny_dir());
    const TextEvalResult r = run(*a, *b, random_tokens(150, 512, 1), 64, 48);
    EXPECT_EQ(r.comparison.rows, 149);
    EXPECT_EQ(r.comparison.kld_mean, 0.0);
    EXPECT_EQ(r.comparison.kld_max, 0.0);
    EXPECT_EQ(r.comparison.top1_agreement, 1.0);
    EXPECT_EQ(r.comparison.abs_error.max, 0.0);
    EXPECT_EQ(r.comparison.rel_error.max, 0.0);
    EXPECT_EQ(r.baseline.perplexity(), r.candidate.perplexity());
}

TEST_F(EvalText, RoundedWeightsGiveASmallErrorThatShrinksWithPrecision) {
    const auto base = Model::load(tiny_dir());  // f32 weights
    ModelOptions o;
    o.round_weights = DType::kBF16;
    const auto bf16 = Model::load(tiny_dir(), o);
    o.round_weights = DType::kF16;
    const auto f16 = Model::load(tiny_dir(), o);
    const std::vector<int32_t> ids = random_tokens(200, 512, 2);
    const TextEvalResult rb = run(*base, *bf16, ids, 64, 32), rf = run(*base, *f16, ids, 64, 32);
    const LogitComparisonResult &cb = rb.comparison, &cf = rf.comparison;
    EXPECT_GT(cb.kld_mean, 0.0);
    EXPECT_LT(cb.kld_mean, 0.01);
    EXPECT_GT(cb.top1_agreement, 0.9);
    EXPECT_GT(cf.kld_mean, 0.0);
    EXPECT_GT(cf.top1_agreement, 0.9);
    // f16 keeps 3 more mantissa bits: errors ~8x smaller, KL (quadratic in them) ~64x smaller.
    EXPECT_LT(cf.kld_mean, cb.kld_mean / 16);
    EXPECT_GT(cf.kld_mean, cb.kld_mean / 256);
    EXPECT_LT(cf.abs_error.mean, cb.abs_error.mean / 3);
    EXPECT_GT(cf.abs_error.max, 0.0);
    EXPECT_LE(cb.kld_p99, cb.kld_max);
    EXPECT_LE(cb.abs_error.median, cb.abs_error.max);
    EXPECT_NEAR(rb.candidate.perplexity(), rb.baseline.perplexity(), 0.01 * rb.baseline.perplexity());
}

TEST(EvalSummaries, ReadsJsonlAndNamesTheBadLine) {
    test::TempDir dir;
    const auto good = dir.path() / "good.jsonl", bad = dir.path() / "bad.jsonl";
    std::ofstream(good) << "{\"prompt\": \"In the beginning\", \"reference\": \"God created\"}\n\n"
                        << "{\"prompt\": \"a\", \"reference\": \"b\", \"id\": 3}\n";
    std::ofstream(bad) << "{\"prompt\": \"a\", \"reference\": \"b\"}\n{\"prompt\": \"a\"}\n";
    const auto examples = read_summary_examples(good);
    ASSERT_EQ(examples.size(), 2u);
    EXPECT_EQ(examples[0].reference, "God created");
    const Status s = catch_status([&] { read_summary_examples(bad); });
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.to_string().find("bad.jsonl:2"), std::string::npos) << s.to_string();
}

}  // namespace
}  // namespace turbolm::eval
