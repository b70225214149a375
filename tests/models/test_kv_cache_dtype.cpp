// The demo model with an 8-bit KV cache on the CPU against the f32 cache: the next-token
// distributions over its held-out text stay close (mean KL divergence, reported), and requests
// through the engine with kv_cache_dtype "int8" / "fp8" complete with the greedy tokens of the f32
// cache wherever those are not near-ties. The same memory budget holds about four times the
// blocks of an f32 cache (twice those of a 16-bit one).
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>

#include <gtest/gtest.h>

#include "engine/kv_sizing.h"
#include "models/demo_divergence.h"
#include "models/model.h"
#include "support/test_paths.h"
#include "turbolm/engine.h"

namespace turbolm {
namespace {

std::filesystem::path demo_dir() { return test::demo_model_dir(); }

struct Closeness {
    double mean_kl = 0.0;
    double same_top = 0.0;  // share of positions with the same most likely token
};

// The model's distributions at every position of the held-out text with an f32 cache and with `kv`.
Closeness compare_caches(KvCacheDtype kv) {
    const std::vector<int32_t> ids = test::demo_heldout_ids(384);
    ModelOptions mo;
    auto base = Model::load(demo_dir(), mo);
    mo.kv_cache_dtype = kv;
    auto quant = Model::load(demo_dir(), mo);
    EXPECT_EQ(base->new_kv_cache(1).dtype(), DType::kF32);
    EXPECT_EQ(quant->new_kv_cache(1).dtype(), kv == KvCacheDtype::kInt8 ? DType::kI8 : DType::kF8E4M3);
    // The prompt in two chunks, so that the second reads codes written by the first.
    const test::Divergence d = test::divergence(*base, *quant, ids, int64_t(ids.size()), 2);
    return {d.kl_mean, d.top1_agreement};
}

TEST(KvCacheDtype, Int8CacheStaysCloseToTheF32Cache) {
    const Closeness c = compare_caches(KvCacheDtype::kInt8);
    std::printf("demo model, int8 KV cache vs f32 over 384 held-out tokens: mean KL %.6f, same top token %.1f%%\n",
                c.mean_kl, 100.0 * c.same_top);
    EXPECT_GT(c.mean_kl, 0.0);  // the cache did change
    EXPECT_LE(c.mean_kl, 0.01);
    EXPECT_GE(c.same_top, 0.9);
}

TEST(KvCacheDtype, Fp8CacheStaysCloseToTheF32Cache) {
    const Closeness c = compare_caches(KvCacheDtype::kFp8);
    std::printf("demo model, fp8 (e4m3) KV cache vs f32 over 384 held-out tokens: mean KL %.6f, "
                "same top token %.1f%%\n",
                c.mean_kl, 100.0 * c.same_top);
    EXPECT_GT(c.mean_kl, 0.0);
    EXPECT_LE(c.mean_kl, 0.02);
    EXPECT_GE(c.same_top, 0.9);
}

TEST(KvCacheDtype, NamesParseAndUnknownOnesAreRejected) {
    EXPECT_EQ(parse_kv_cache_dtype("auto"), KvCacheDtype::kAuto);
    EXPECT_EQ(parse_kv_cache_dtype("int8"), KvCacheDtype::kInt8);
    EXPECT_EQ(parse_kv_cache_dtype("fp8"), KvCacheDtype::kFp8);
    const Status st = catch_status([] { parse_kv_cache_dtype("int4"); });
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("int4"), std::string::npos) << st.message();
    EXPECT_EQ(kv_storage_dtype(KvCacheDtype::kAuto, DType::kBF16), DType::kBF16);
    EXPECT_EQ(kv_storage_dtype(KvCacheDtype::kInt8, DType::kBF16), DType::kI8);
    EXPECT_EQ(kv_storage_dtype(KvCacheDtype::kFp8, DType::kF32), DType::kF8E4M3);
}

TEST(KvCacheDtype, TheSameBudgetHoldsMoreBlocks) {
    ModelOptions mo;
    auto f32 = Model::load(demo_dir(), mo);
    mo.kv_cache_dtype = KvCacheDtype::kInt8;
    auto int8 = Model::load(demo_dir(), mo);
    const KvSizing a = size_kv_cache(*f32, 16, 0.05, 256, 0), b = size_kv_cache(*int8, 16, 0.05, 256, 0);
    // f32: 4 bytes per element; int8: 1 byte plus a 4-byte scale per head of 64 elements.
    const double ratio = double(b.n_blocks) / double(a.n_blocks);
    EXPECT_NEAR(ratio, 4.0 * 64.0 / 68.0, 0.01);
    EXPECT_NE(b.summary.find("i8"), std::string::npos) << b.summary;
    // The cache the model makes has the bytes the sizing counted.
    const KvCache kv = int8->new_kv_cache(16, 8);
    EXPECT_EQ(kv.bytes(), b.bytes / size_t(b.n_blocks) * 8);
}

// Collects each request's pieces and lets the test wait for them to finish.
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
    std::vector<GenerationOutput> wait(uint64_t id) {
        std::unique_lock<std::mutex> lock(mu);
        EXPECT_TRUE(done.wait_for(lock, std::chrono::seconds(120), [&] {
            return !pieces[id].empty() && pieces[id].back().finished;
        })) << "request " << id << " did not finish";
        return pieces[id];
    }
};

struct Greedy {
    std::vector<int32_t> tokens;
    std::vector<float> margins;  // top-1 minus top-2 log-probability at each step
    std::string finish_reason;
};

// Greedy completions of prompts cut from the held-out text, through the public engine.
std::vector<Greedy> run_engine(const std::string& kv_cache_dtype, std::string* summary) {
    EngineConfig c;
    c.model_dir = demo_dir().string();
    c.device = "cpu";
    c.max_model_len = 256;
    c.kv_fraction = 0.05;
    c.max_batched_tokens = 48;  // prompts go in chunks
    c.kv_cache_dtype = kv_cache_dtype;
    auto e = Engine::create(c);
    EXPECT_TRUE(e.has_value()) << e.status().message();
    if (!e.has_value()) return {};
    *summary = e.value()->kv_summary();
    const std::vector<int32_t> text = test::demo_heldout_ids(400);
    Collector col;
    std::vector<uint64_t> ids;
    for (size_t start : {0, 37, 150, 230}) {
        const size_t len = 20 + start / 2;
        GenerationRequest r;
        r.prompt_ids.assign(text.begin() + long(start), text.begin() + long(start + len));
        r.params.max_tokens = 16;
        r.params.temperature = 0.0f;
        r.params.ignore_eos = true;
        r.params.logprobs = 2;
        auto id = e.value()->submit(r, col.callback());
        EXPECT_TRUE(id.has_value());
        ids.push_back(id.value());
    }
    std::vector<Greedy> out;
    for (uint64_t id : ids) {
        Greedy g;
        for (const GenerationOutput& o : col.wait(id)) {
            g.tokens.insert(g.tokens.end(), o.token_ids.begin(), o.token_ids.end());
            for (const TokenLogprobs& lp : o.logprobs)
                g.margins.push_back(lp.top.size() >= 2 ? lp.top[0].second - lp.top[1].second : 1e9f);
            if (o.finished) g.finish_reason = o.finish_reason;
        }
        out.push_back(std::move(g));
    }
    return out;
}

TEST(KvCacheDtype, EngineRequestsWithAn8BitCacheKeepTheGreedyTokens) {
    std::string summary;
    const std::vector<Greedy> ref = run_engine("auto", &summary);
    EXPECT_NE(summary.find("f32"), std::string::npos) << summary;
    for (const char* dtype : {"int8", "fp8"}) {
        SCOPED_TRACE(dtype);
        const std::vector<Greedy> got = run_engine(dtype, &summary);
        std::printf("%s\n", summary.c_str());
        EXPECT_NE(summary.find(std::string(dtype) == "int8" ? "i8" : "f8e4m3"), std::string::npos) << summary;
        ASSERT_EQ(got.size(), ref.size());
        int64_t matched = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
            EXPECT_EQ(got[i].finish_reason, "length");
            ASSERT_EQ(got[i].tokens.size(), 16u);
            ASSERT_EQ(ref[i].margins.size(), 16u);
            // The same tokens up to the first step whose two best candidates the f32 cache separates
            // by less than 0.1 (where a small change may pick the other), and at least the first 4.
            size_t j = 0;
            while (j < 16 && got[i].tokens[j] == ref[i].tokens[j]) ++j;
            size_t near_tie = 0;
            while (near_tie < 16 && ref[i].margins[near_tie] >= 0.1f) ++near_tie;
            EXPECT_GE(j, std::min<size_t>(near_tie, 16))
                << "request " << i << ": tokens differ at " << j << " with a margin of "
                << ref[i].margins[std::min<size_t>(j, 15)];
            EXPECT_GE(j, 4u) << "request " << i;
            matched += int64_t(j);
        }
        std::printf("%s KV cache: %lld of %zu greedy tokens match the f32 cache's before the first difference\n", dtype,
                    (long long)matched, ref.size() * 16);
    }
}

TEST(KvCacheDtype, EngineRejectsAnUnknownCacheDtype) {
    EngineConfig c;
    c.model_dir = demo_dir().string();
    c.device = "cpu";
    c.kv_cache_dtype = "fp16";
    auto e = Engine::create(c);
    ASSERT_FALSE(e.has_value());
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(e.status().message().find("fp16"), std::string::npos) << e.status().message();
}

}  // namespace
}  // namespace turbolm
