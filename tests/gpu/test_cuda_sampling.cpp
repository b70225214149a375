// The GPU sampler against the CPU sampler and exact references, on fresh random input: penalties match
// Sampler::apply_penalties' formula, greedy rows match argmax, draws follow the exact truncated distribution
// (computed in double) and never leave the kept set, draws depend only on (seed, step, logits), and
// log-probabilities match a double log-softmax. Outputs are poisoned with 0xff bytes (NaN, id -1) before each
// launch. The seed is printed on any failure.
#include "gpu/sampling_test_util.h"

namespace turbolm {
namespace {

using namespace sampling_test;

// ---- (1) penalties -------------------------------------------------------------------------------

TEST_F(CudaSampling, PenaltiesMatchCpuFormula) {
    SCOPED_TRACE(seed_text());
    const int64_t rows = 24, vocab = 5003, ld = vocab + 5;
    std::vector<SamplingRow> params(static_cast<size_t>(rows));
    std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(rows)), outputs(static_cast<size_t>(rows));
    std::vector<float> logits(static_cast<size_t>(rows * ld));
    for (int64_t r = 0; r < rows; ++r) {
        SamplingRow& p = params[size_t(r)];
        p.temperature = 0.0f;
        // Every combination of neutral and active penalties appears.
        if (r % 2) p.repetition_penalty = uniform(0.5f, 2.0f);
        if (r % 4 >= 2) p.presence_penalty = uniform(-2.0f, 2.0f);
        if (r % 8 >= 4) p.frequency_penalty = uniform(-2.0f, 2.0f);
        // Tokens from a small pool so that they repeat; a few ids outside the vocabulary, which are ignored.
        const int64_t pool = uniform_int(5, 400);
        auto token = [&]() -> int32_t {
            if (uniform_int(0, 40) == 0) return uniform_int(0, 1) ? -1 : int32_t(vocab + uniform_int(0, 3));
            return int32_t(uniform_int(0, pool - 1) * (vocab / pool));
        };
        for (int64_t j = uniform_int(0, 300); j > 0; --j) prompts[size_t(r)].push_back(token());
        for (int64_t j = uniform_int(0, 120); j > 0; --j) outputs[size_t(r)].push_back(token());
        for (int64_t i = 0; i < ld; ++i) logits[size_t(r * ld + i)] = i < vocab ? normal(0.0f, 4.0f) : 12345.0f;
    }

    // The history as the engine keeps it: prompts at the start, then one recorded id per row per step.
    std::vector<int32_t> prompt_ids, offsets{0};
    for (const auto& pr : prompts) {
        prompt_ids.insert(prompt_ids.end(), pr.begin(), pr.end());
        offsets.push_back(int32_t(prompt_ids.size()));
    }
    DeviceArray<int32_t> counts(static_cast<size_t>(rows * vocab)), d_prompt_ids(prompt_ids), d_offsets(offsets);
    DeviceArray<uint8_t> seen(static_cast<size_t>(rows * vocab));
    counts.fill_bytes(0), seen.fill_bytes(0);
    cuda::launch_penalty_state_init(counts.get(), seen.get(), rows, vocab, d_prompt_ids.get(), d_offsets.get(), stream_);
    size_t steps = 0;
    for (const auto& out : outputs) steps = std::max(steps, out.size());
    DeviceArray<int32_t> step_ids(static_cast<size_t>(rows));
    for (size_t t = 0; t < steps; ++t) {
        std::vector<int32_t> ids(static_cast<size_t>(rows), -1);  // rows whose output is shorter record nothing
        for (int64_t r = 0; r < rows; ++r)
            if (t < outputs[size_t(r)].size()) ids[size_t(r)] = outputs[size_t(r)][t];
        step_ids.upload(ids);
        cuda::launch_penalty_state_record(counts.get(), seen.get(), rows, vocab, step_ids.get(), stream_);
        sync();  // step_ids is reused
    }

    // The history itself.
    const std::vector<int32_t> got_counts = counts.download();
    const std::vector<uint8_t> got_seen = seen.download();
    int64_t bad_history = 0;
    for (int64_t r = 0; r < rows; ++r) {
        std::vector<int32_t> want_counts(static_cast<size_t>(vocab), 0);
        std::vector<uint8_t> want_seen(static_cast<size_t>(vocab), 0);
        for (int32_t t : prompts[size_t(r)])
            if (t >= 0 && t < vocab) want_seen[size_t(t)] = 1;
        for (int32_t t : outputs[size_t(r)])
            if (t >= 0 && t < vocab) ++want_counts[size_t(t)], want_seen[size_t(t)] = 1;
        for (int64_t i = 0; i < vocab; ++i)
            bad_history += got_counts[size_t(r * vocab + i)] != want_counts[size_t(i)] ||
                           got_seen[size_t(r * vocab + i)] != want_seen[size_t(i)];
    }
    EXPECT_EQ(bad_history, 0) << "counts/seen entries differ from the recorded history";

    DeviceArray<float> d_logits(logits);
    DeviceArray<SamplingRow> d_params(params);
    cuda::launch_apply_penalties(d_logits.get(), ld, rows, vocab, d_params.get(), counts.get(), seen.get(), stream_);
    sync();
    const std::vector<float> got = d_logits.download();
    int64_t bad = 0;
    std::string first;
    for (int64_t r = 0; r < rows; ++r) {
        std::vector<float> want(logits.begin() + r * ld, logits.begin() + r * ld + vocab);
        cpu_penalize(want, params[size_t(r)], prompts[size_t(r)], outputs[size_t(r)]);
        for (int64_t i = 0; i < ld; ++i) {
            const float g = got[size_t(r * ld + i)];
            const float w = i < vocab ? want[size_t(i)] : 12345.0f;  // the row padding stays untouched
            if (!(std::fabs(g - w) <= 1e-6f * std::fabs(w))) {
                if (bad++ < 5) first += "row " + std::to_string(r) + " token " + std::to_string(i) + ": got " +
                                        std::to_string(g) + ", want " + std::to_string(w) + "\n";
            }
        }
    }
    EXPECT_EQ(bad, 0) << first;

    // Greedy after the penalties equals the CPU sampler at temperature 0, on rows with a clear margin.
    const SampleOut out = sample_on_device(d_logits.get(), ld, rows, vocab, params, false, 0);
    int checked = 0;
    for (int64_t r = 0; r < rows; ++r) {
        SamplingParams sp;
        sp.temperature = 0.0f;
        sp.repetition_penalty = params[size_t(r)].repetition_penalty;
        sp.presence_penalty = params[size_t(r)].presence_penalty;
        sp.frequency_penalty = params[size_t(r)].frequency_penalty;
        sp.seed = 1;
        std::vector<float> row(logits.begin() + r * ld, logits.begin() + r * ld + vocab);
        Sampler sampler(sp);
        const int32_t want = sampler.sample(row, prompts[size_t(r)], outputs[size_t(r)]);  // row is penalized in place
        std::vector<float> sorted = row;
        std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
        if (sorted[0] - sorted[1] < 1e-3f) continue;
        ++checked;
        EXPECT_EQ(out.ids[size_t(r)], want) << "row " << r;
    }
    EXPECT_GT(checked, int(rows) / 2);
}

// ---- (2) greedy ----------------------------------------------------------------------------------

TEST_F(CudaSampling, GreedyMatchesArgmax) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t vocab, rows, pad;
    };
    const Case cases[] = {{1, 3, 0}, {7, 5, 1}, {40, 9, 0}, {1000, 9, 3}, {16385, 9, 0}, {151936, 12, 0},
                          {151936, 6, 1}, {128256, 256, 0}};
    for (const Case& c : cases) {
        SCOPED_TRACE("vocab " + std::to_string(c.vocab) + " rows " + std::to_string(c.rows) + " ld " +
                     std::to_string(c.vocab + c.pad));
        const int64_t ld = c.vocab + c.pad;
        std::vector<float> logits(static_cast<size_t>(c.rows * ld), 0.0f);
        std::vector<SamplingRow> params(static_cast<size_t>(c.rows), make_row(0.0f));
        for (int64_t r = 0; r < c.rows; ++r) {
            float* row = logits.data() + r * ld;
            params[size_t(r)].temperature = r % 3 == 0 ? -1.0f : 0.0f;  // any T <= 0 is greedy
            for (int64_t i = 0; i < c.vocab; ++i) row[i] = normal(0.0f, 3.0f);
            switch (r % 5) {
                case 1: {  // the max repeated at random places (across tiles for large rows): the lowest wins
                    const float m = *std::max_element(row, row + c.vocab) + 1.0f;
                    for (int j = 0; j < 4; ++j) row[uniform_int(0, c.vocab - 1)] = m;
                    break;
                }
                case 2:  // all equal: index 0
                    std::fill(row, row + c.vocab, 0.25f);
                    break;
                case 3:  // -inf around a finite max
                    for (int64_t i = 0; i < c.vocab; ++i)
                        if (uniform_int(0, 1)) row[i] = -kInf;
                    break;
                case 4:
                    if (r % 10 == 4) std::fill(row, row + c.vocab, -kInf);  // all -inf: index 0
                    break;
            }
        }
        const SampleOut out = sample(logits, ld, c.rows, c.vocab, params);
        for (int64_t r = 0; r < c.rows; ++r) {
            const int32_t want = argmax(std::span<const float>(logits.data() + r * ld, size_t(c.vocab)));
            EXPECT_EQ(out.ids[size_t(r)], want) << "row " << r;
        }
    }
}

// ---- (3) the distribution of draws ---------------------------------------------------------------

struct DistCase {
    const char* name;
    SamplingRow p;
    bool ties;  // logits on a coarse grid, so that top-k and top-p cut through ties
};

TEST_F(CudaSampling, DrawsFollowTheTruncatedDistribution) {
    SCOPED_TRACE(seed_text());
    const int64_t vocab = 40, rows = 4000, launches = 16;  // 64000 draws per case
    const DistCase cases[] = {
        {"temperature", make_row(0.7f), false},
        {"top_k", make_row(1.0f, 5), false},
        {"top_p", make_row(1.3f, 0, 0.8f), false},
        {"min_p", make_row(1.0f, 0, 1.0f, 0.1f), false},
        {"combined", make_row(0.9f, 12, 0.9f, 0.05f), false},
        {"top_k ties", make_row(1.0f, 6), true},
        {"top_p ties", make_row(1.0f, 0, 0.7f), true},
    };
    for (const DistCase& c : cases) {
        SCOPED_TRACE(c.name);
        const std::vector<float> row = clear_row(vocab, c.p, 2.0f, c.ties ? 0.5f : 0.0f);
        const std::vector<double> probs = kept_probs(row, c.p);
        // Rows not 16-byte aligned for half the cases (the scalar load path).
        const int64_t ld = c.ties ? vocab + 3 : vocab;
        std::vector<float> logits(static_cast<size_t>(rows * ld), 0.0f);
        for (int64_t r = 0; r < rows; ++r) std::copy(row.begin(), row.end(), logits.begin() + r * ld);
        DeviceArray<float> d_logits(logits);
        std::vector<int64_t> counts(static_cast<size_t>(vocab), 0);
        int64_t outside = 0;
        const uint64_t seed = rng_();
        for (int64_t l = 0; l < launches; ++l) {
            std::vector<SamplingRow> params(static_cast<size_t>(rows), c.p);
            for (int64_t r = 0; r < rows; ++r) params[size_t(r)].seed = seed, params[size_t(r)].step = uint64_t(l * rows + r);
            const SampleOut out = sample_on_device(d_logits.get(), ld, rows, vocab, params, false, 0);
            for (int32_t id : out.ids) {
                ASSERT_TRUE(id >= 0 && id < vocab) << "id " << id;
                ++counts[size_t(id)];
                outside += probs[size_t(id)] == 0.0;
            }
        }
        EXPECT_EQ(outside, 0) << "draws outside the kept set";
        EXPECT_LT(total_variation(probs, counts, rows * launches), 0.02);
    }
}

// Kept sets larger than the shared-memory candidates (the search over the whole row), and large vocabularies.
TEST_F(CudaSampling, LargeKeptSetsFollowTheDistribution) {
    SCOPED_TRACE(seed_text());
    struct Case {
        const char* name;
        int64_t vocab;
        float stddev;
        SamplingRow p;
    };
    const Case cases[] = {
        {"top_p over most of a flat row", 50000, 0.5f, make_row(1.0f, 0, 0.9f)},
        {"top_k 10000", 50000, 1.0f, make_row(1.0f, 10000)},
        {"top_k 3000 + top_p", 50000, 1.0f, make_row(1.2f, 3000, 0.95f)},
        {"top_p peaked, vocab 151936", 151936, 3.0f, make_row(0.8f, 0, 0.9f)},
        {"temperature and min_p, vocab 151936", 151936, 2.0f, make_row(1.0f, 0, 1.0f, 0.01f)},
    };
    const int64_t rows = 512, launches = 64;  // 32768 draws per case
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const std::vector<float> row = clear_row(c.vocab, c.p, c.stddev);
        const std::vector<double> probs = kept_probs(row, c.p);
        std::vector<float> logits(static_cast<size_t>(rows * c.vocab));
        for (int64_t r = 0; r < rows; ++r) std::copy(row.begin(), row.end(), logits.begin() + r * c.vocab);
        DeviceArray<float> d_logits(logits);
        std::vector<int64_t> counts(static_cast<size_t>(c.vocab), 0);
        int64_t outside = 0;
        const uint64_t seed = rng_();
        for (int64_t l = 0; l < launches; ++l) {
            std::vector<SamplingRow> params(static_cast<size_t>(rows), c.p);
            for (int64_t r = 0; r < rows; ++r) params[size_t(r)].seed = seed, params[size_t(r)].step = uint64_t(l * rows + r);
            const SampleOut out = sample_on_device(d_logits.get(), c.vocab, rows, c.vocab, params, false, 0);
            for (int32_t id : out.ids) {
                ASSERT_TRUE(id >= 0 && id < c.vocab) << "id " << id;
                ++counts[size_t(id)];
                outside += probs[size_t(id)] == 0.0;
            }
        }
        EXPECT_EQ(outside, 0) << "draws outside the kept set";
        EXPECT_LT(grouped_total_variation(probs, counts, rows * launches, 20), 0.02);
    }
}

// top-k through a tie too large for the candidates: exactly the k lowest indices of the tie, as the CPU keeps.
TEST_F(CudaSampling, TopKCutsLargeTiesByIndex) {
    SCOPED_TRACE(seed_text());
    const int64_t vocab = 30000, rows = 1000, launches = 20, k = 5, tied = 12000;
    std::vector<float> row(static_cast<size_t>(vocab));
    for (float& x : row) x = std::min(normal(-3.0f, 1.0f), 0.5f);
    std::vector<int32_t> positions(static_cast<size_t>(vocab));
    std::iota(positions.begin(), positions.end(), 0);
    std::shuffle(positions.begin(), positions.end(), rng_);
    for (int64_t j = 0; j < tied; ++j) row[size_t(positions[size_t(j)])] = 1.0f;
    const SamplingRow p = make_row(1.0f, int32_t(k));
    const std::vector<double> probs = kept_probs(row, p);  // the k lowest tied indices, 1/k each
    std::vector<float> logits(static_cast<size_t>(rows * vocab));
    for (int64_t r = 0; r < rows; ++r) std::copy(row.begin(), row.end(), logits.begin() + r * vocab);
    DeviceArray<float> d_logits(logits);
    std::vector<int64_t> counts(static_cast<size_t>(vocab), 0);
    int64_t outside = 0;
    for (int64_t l = 0; l < launches; ++l) {
        std::vector<SamplingRow> params(static_cast<size_t>(rows), p);
        for (int64_t r = 0; r < rows; ++r) params[size_t(r)].seed = seed_, params[size_t(r)].step = uint64_t(l * rows + r);
        const SampleOut out = sample_on_device(d_logits.get(), vocab, rows, vocab, params, false, 0);
        for (int32_t id : out.ids) {
            ASSERT_TRUE(id >= 0 && id < vocab) << "id " << id;
            ++counts[size_t(id)];
            outside += probs[size_t(id)] == 0.0;
        }
    }
    EXPECT_EQ(outside, 0) << "draws outside the k lowest tied indices";
    EXPECT_LT(total_variation(probs, counts, rows * launches), 0.02);
}

// ---- (4) determinism -----------------------------------------------------------------------------

TEST_F(CudaSampling, DrawsDependOnlyOnSeedStepAndLogits) {
    SCOPED_TRACE(seed_text());
    const int64_t vocab = 151936, rows = 32;
    const SamplingRow kinds[] = {make_row(1.0f), make_row(1.0f, 50), make_row(1.0f, 0, 0.95f),
                                 make_row(0.8f, 0, 1.0f, 0.02f), make_row(1.1f, 40, 0.9f, 0.01f)};
    std::vector<float> logits(static_cast<size_t>(rows * vocab));
    std::vector<SamplingRow> params(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < vocab; ++i) logits[size_t(r * vocab + i)] = normal(0.0f, 1.5f);
        params[size_t(r)] = kinds[r % 5];
        params[size_t(r)].seed = rng_();
        params[size_t(r)].step = uint64_t(uniform_int(0, 1 << 20));
    }
    const SampleOut a = sample(logits, vocab, rows, vocab, params);
    const SampleOut b = sample(logits, vocab, rows, vocab, params);
    EXPECT_EQ(a.ids, b.ids) << "same seed, step and logits, different tokens";

    // The same rows in reverse order: each row's token does not depend on its place in the batch.
    std::vector<float> reversed_logits(logits.size());
    std::vector<SamplingRow> reversed_params(params.rbegin(), params.rend());
    for (int64_t r = 0; r < rows; ++r)
        std::copy(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab,
                  reversed_logits.begin() + (rows - 1 - r) * vocab);
    const SampleOut c = sample(reversed_logits, vocab, rows, vocab, reversed_params);
    for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(c.ids[size_t(rows - 1 - r)], a.ids[size_t(r)]) << "row " << r;

    // Nor on the batch size, which changes how many CTAs share each row.
    std::vector<float> tripled(logits);
    tripled.insert(tripled.end(), logits.begin(), logits.end());
    tripled.insert(tripled.end(), logits.begin(), logits.end());
    std::vector<SamplingRow> tripled_params(params);
    tripled_params.insert(tripled_params.end(), params.begin(), params.end());
    tripled_params.insert(tripled_params.end(), params.begin(), params.end());
    const SampleOut t = sample(tripled, vocab, 3 * rows, vocab, tripled_params);
    for (int64_t r = 0; r < 3 * rows; ++r) EXPECT_EQ(t.ids[static_cast<size_t>(r)], a.ids[static_cast<size_t>(r % rows)]) << "row " << r;
    for (int64_t r : {int64_t(0), rows - 1}) {
        const std::vector<float> one(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab);
        EXPECT_EQ(sample(one, vocab, 1, vocab, {params[static_cast<size_t>(r)]}).ids[0], a.ids[static_cast<size_t>(r)]) << "row " << r;
    }

    // Other steps (and other seeds) give other tokens on most rows.
    std::vector<SamplingRow> next_step = params, other_seed = params;
    for (auto& p : next_step) ++p.step;
    for (auto& p : other_seed) p.seed ^= 0x5555;
    const SampleOut d = sample(logits, vocab, rows, vocab, next_step);
    const SampleOut e = sample(logits, vocab, rows, vocab, other_seed);
    int changed_step = 0, changed_seed = 0;
    for (int64_t r = 0; r < rows; ++r) {
        changed_step += d.ids[size_t(r)] != a.ids[size_t(r)];
        changed_seed += e.ids[size_t(r)] != a.ids[size_t(r)];
    }
    EXPECT_GT(changed_step, rows / 2);
    EXPECT_GT(changed_seed, rows / 2);
}

// ---- (5) log-probabilities -----------------------------------------------------------------------

TEST_F(CudaSampling, LogprobsMatchDoubleLogSoftmax) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t vocab, rows, pad;
        int32_t n_top;
        bool ties;       // logits on a grid of 0.25: ties across the n_top boundary
        bool all_equal;  // one tie over the whole row: many candidates, or more than fit for big rows
    };
    const Case cases[] = {{40, 6, 0, 64, false, false},       {1000, 6, 1, 5, true, false},
                          {151936, 6, 0, 64, false, false},   {151936, 4, 0, 20, true, false},
                          {20000, 3, 0, 16, false, true},     {5000, 2, 0, 16, false, true},
                          {32000, 5, 3, 0, false, false}};
    for (const Case& c : cases) {
        SCOPED_TRACE("vocab " + std::to_string(c.vocab) + " n_top " + std::to_string(c.n_top));
        const int64_t ld = c.vocab + c.pad;
        std::vector<float> logits(static_cast<size_t>(c.rows * ld), 0.0f);
        std::vector<SamplingRow> params(static_cast<size_t>(c.rows));
        for (int64_t r = 0; r < c.rows; ++r) {
            for (int64_t i = 0; i < c.vocab; ++i) {
                float x = normal(0.0f, 3.0f);
                if (c.ties) x = std::round(x * 4.0f) / 4.0f;
                if (c.all_equal) x = 1.5f;
                logits[size_t(r * ld + i)] = x;
            }
            // Greedy and drawn rows both report log-probabilities of the logits before temperature.
            params[size_t(r)] = r % 2 ? make_row(0.0f) : make_row(0.8f, 50, 0.9f);
            params[size_t(r)].seed = rng_();
        }
        const SampleOut out = sample(logits, ld, c.rows, c.vocab, params, true, c.n_top);
        for (int64_t r = 0; r < c.rows; ++r) {
            const std::span<const float> row(logits.data() + r * ld, size_t(c.vocab));
            const std::vector<double> lp = log_softmax(row);
            const int32_t id = out.ids[size_t(r)];
            ASSERT_TRUE(id >= 0 && id < c.vocab) << "row " << r << " id " << id;
            EXPECT_NEAR(out.logprob[size_t(r)], lp[size_t(id)], 1e-4) << "row " << r;
            if (c.n_top == 0) continue;
            const std::vector<int32_t> order = rank_order(row);
            for (int32_t j = 0; j < c.n_top; ++j) {
                const size_t at = size_t(r * c.n_top + j);
                if (j >= c.vocab) {  // slots past the vocabulary
                    EXPECT_EQ(out.top_ids[at], -1);
                    EXPECT_EQ(out.top_logprobs[at], -kInf);
                    continue;
                }
                EXPECT_EQ(out.top_ids[at], order[size_t(j)]) << "row " << r << " place " << j;
                EXPECT_NEAR(out.top_logprobs[at], lp[size_t(order[size_t(j)])], 1e-4) << "row " << r << " place " << j;
            }
        }
    }
}

// ---- (6) mixed rows ------------------------------------------------------------------------------

TEST_F(CudaSampling, MixedRowsInOneLaunch) {
    SCOPED_TRACE(seed_text());
    const int64_t vocab = 32000, ld = vocab + 1;
    const SamplingRow kinds[] = {
        make_row(0.0f),                   // greedy
        make_row(-0.5f),                  // greedy
        make_row(0.7f),                   // temperature only
        make_row(1.0f, 1),                // top-k 1: the argmax
        make_row(1.0f, 20),               // top-k
        make_row(1.0f, 0, 0.9f),          // top-p
        make_row(1.0f, 0, 1e-6f),         // top-p so small that only the argmax stays
        make_row(1.5f, 0, 1.0f, 0.2f),    // min-p
        make_row(0.9f, 30, 0.8f, 0.05f),  // all three
        make_row(1.0f, int32_t(vocab)),   // top-k = vocab: off
    };
    const int64_t n_kinds = int64_t(std::size(kinds)), rows = 4 * n_kinds;
    std::vector<float> logits(static_cast<size_t>(rows * ld), 0.0f);
    std::vector<SamplingRow> params(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        params[size_t(r)] = kinds[r % n_kinds];
        params[size_t(r)].seed = rng_();
        params[size_t(r)].step = uint64_t(r);
        const std::vector<float> row = params[size_t(r)].temperature > 0.0f
                                           ? clear_row(vocab, params[size_t(r)], 3.0f)
                                           : clear_row(vocab, make_row(1.0f), 3.0f);
        std::copy(row.begin(), row.end(), logits.begin() + r * ld);
    }
    const SampleOut out = sample(logits, ld, rows, vocab, params);
    for (int64_t r = 0; r < rows; ++r) {
        const SamplingRow& p = params[size_t(r)];
        const std::span<const float> row(logits.data() + r * ld, size_t(vocab));
        const int32_t id = out.ids[size_t(r)];
        ASSERT_TRUE(id >= 0 && id < vocab) << "row " << r << " id " << id;
        const bool argmax_only = p.temperature <= 0.0f || p.top_k == 1 || p.top_p < 1e-3f;
        if (argmax_only) {
            EXPECT_EQ(id, argmax(row)) << "row " << r;
        } else {
            EXPECT_GT(kept_probs(row, p)[size_t(id)], 0.0) << "row " << r << " drew " << id << " outside its kept set";
        }
        // Alone in its launch, the row draws the same token.
        const SampleOut alone = sample(std::vector<float>(row.begin(), row.end()), vocab, 1, vocab, {p});
        EXPECT_EQ(alone.ids[0], id) << "row " << r;
    }
}

}  // namespace
}  // namespace turbolm
