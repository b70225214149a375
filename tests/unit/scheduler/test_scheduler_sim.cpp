// The scheduler driven for thousands of steps by a fake model. The model keeps a paged KV pool of
// token ids: each chunk writes its ids through its block table, and the next token is a hash of the
// whole history read back through that table. So a request's outputs are right only if every block
// it was given (fresh, shared from the prefix cache, or rebuilt after preemption) holds its tokens;
// they are compared with outputs computed directly from the prompts, across pool sizes, with and
// without prefix caching and chunked prefill.
#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "scheduler/scheduler.h"
#include "unit/kv/test_seed.h"

namespace turbolm {
namespace {

constexpr int32_t kVocab = 1000;

int32_t next_token(std::span<const int32_t> history) {
    uint64_t h = 0x6c62272e07bb0142ull;
    for (int32_t t : history) {
        h ^= uint64_t(uint32_t(t)) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
        h *= 0xff51afd7ed558ccdull;
    }
    return int32_t((h ^ (h >> 33)) % kVocab);
}

struct SimRequest {
    SchedulerRequest request;
    int64_t arrival_step = 0;
    std::vector<int32_t> expected;  // the outputs computed directly from the prompt
};

struct Workload {
    std::vector<SimRequest> requests;  // in arrival order
    int64_t max_model_len = 96;
};

Workload make_workload(uint64_t seed, int n_requests) {
    std::mt19937_64 rng(seed);
    auto uniform = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    Workload w;
    // A few long shared prefixes (system prompts, few-shot examples) that many prompts start with.
    std::vector<std::vector<int32_t>> prefixes(6);
    for (auto& p : prefixes) {
        p.resize(size_t(uniform(8, 48)));
        for (auto& t : p) t = int32_t(uniform(0, kVocab - 1));
    }
    int64_t step = 0;
    for (int i = 0; i < n_requests; ++i) {
        step += uniform(0, 2);  // bursts and gaps: about one request per step
        SimRequest r;
        r.arrival_step = step;
        r.request.id = uint64_t(i) * 7919 + 13;
        r.request.priority = int(uniform(0, 2));
        r.request.max_tokens = uniform(1, 24);
        const int64_t max_prompt = w.max_model_len - r.request.max_tokens;
        std::vector<int32_t>& prompt = r.request.prompt;
        if (uniform(0, 3) > 0) {
            const auto& p = prefixes[size_t(uniform(0, int64_t(prefixes.size()) - 1))];
            prompt.assign(p.begin(), p.begin() + uniform(1, int64_t(p.size())));
        }
        const int64_t extra = uniform(prompt.empty() ? 1 : 0, 40);
        for (int64_t k = 0; k < extra; ++k) prompt.push_back(int32_t(uniform(0, kVocab - 1)));
        if (int64_t(prompt.size()) > max_prompt) prompt.resize(size_t(max_prompt));
        std::vector<int32_t> history = prompt;
        for (int64_t k = 0; k < r.request.max_tokens; ++k) {
            r.expected.push_back(next_token(history));
            history.push_back(r.expected.back());
        }
        w.requests.push_back(std::move(r));
    }
    return w;
}

struct SimOptions {
    SchedulerConfig sched;
    BlockManagerConfig kv;
    double abort_rate = 0.0;  // chance per step that one random unfinished request is aborted
};

struct SimResult {
    std::map<uint64_t, std::vector<int32_t>> outputs;
    std::set<uint64_t> aborted;
    int64_t steps = 0;
    int64_t preemptions = 0;
    int64_t computed_tokens = 0;
    BlockManagerStats kv;
};

class Simulation {
public:
    Simulation(const Workload& w, const SimOptions& opt, uint64_t seed)
        : w_(w), opt_(opt), sched_(opt.sched, opt.kv), rng_(seed),
          pool_(size_t(opt.kv.n_blocks), std::vector<int32_t>(size_t(opt.kv.block_size), -1)) {
        for (size_t i = 0; i < w.requests.size(); ++i) index_[w.requests[i].request.id] = i;
    }

    SimResult run() {
        size_t next = 0;
        std::vector<int> finished_count(w_.requests.size(), 0);
        std::vector<uint64_t> first_admission;  // request indices, in the order first admitted
        std::vector<bool> admitted_once(w_.requests.size(), false);
        for (int64_t step = 0;; ++step) {
            while (next < w_.requests.size() && w_.requests[next].arrival_step <= step)
                sched_.add_request(w_.requests[next++].request);
            if (next == w_.requests.size() && !sched_.has_unfinished()) break;
            if (step > 200000) {
                ADD_FAILURE() << "no progress after " << step << " steps";
                break;
            }
            maybe_abort();

            Schedule s = sched_.schedule();
            check_schedule(s);
            if (::testing::Test::HasFailure()) break;
            for (uint64_t id : s.admitted) {
                const size_t i = index_.at(id);
                if (!admitted_once[i]) {
                    admitted_once[i] = true;
                    first_admission.push_back(i);
                }
            }
            const auto sampled = model_step(s);
            sched_.update(s, sampled);
            sched_.block_manager().check_invariants();
            for (uint64_t id : sched_.take_finished()) {
                const size_t i = index_.at(id);
                ++finished_count[i];
                result_.outputs[id].assign(sched_.outputs(id).begin(), sched_.outputs(id).end());
                if (sched_.finish_reason(id) == FinishReason::kAborted) result_.aborted.insert(id);
            }
            result_.steps = step + 1;
        }
        if (::testing::Test::HasFailure()) return result_;

        for (size_t i = 0; i < w_.requests.size(); ++i)
            EXPECT_EQ(finished_count[i], 1) << "request " << w_.requests[i].request.id << " finished "
                                            << finished_count[i] << " times";
        check_first_come_first_served(first_admission);
        EXPECT_EQ(sched_.block_manager().available_blocks(), opt_.kv.n_blocks - 1);
        result_.preemptions = sched_.num_preemptions();
        result_.kv = sched_.block_manager().stats();
        return result_;
    }

private:
    const SimRequest& req(uint64_t id) const { return w_.requests[index_.at(id)]; }

    void maybe_abort() {
        if (opt_.abort_rate <= 0 || std::uniform_real_distribution<double>(0, 1)(rng_) >= opt_.abort_rate) return;
        std::vector<uint64_t> live;
        for (const auto& r : w_.requests)
            if (sched_.contains(r.request.id) && sched_.status(r.request.id) != RequestStatus::kFinished)
                live.push_back(r.request.id);
        if (live.empty()) return;
        const uint64_t id = live[std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng_)];
        EXPECT_TRUE(sched_.abort(id));
        sched_.block_manager().check_invariants();
    }

    void check_schedule(const Schedule& s) {
        const auto& cfg = opt_.sched;
        const BlockManager& bm = sched_.block_manager();
        bm.check_invariants();
        EXPECT_LE(s.n_tokens(), cfg.max_batched_tokens);
        EXPECT_LE(sched_.num_running(), cfg.max_running);
        EXPECT_LE(int64_t(s.chunks.size()), cfg.max_running);
        EXPECT_TRUE(s.preempted.empty() || s.admitted.empty()) << "admission in a step that preempted";

        // Blocks written in this step belong to exactly one chunk, and all fit in the pool.
        std::set<uint64_t> ids;
        std::set<BlockId> written;
        for (const auto& c : s.chunks) {
            EXPECT_TRUE(ids.insert(c.request_id).second) << "request " << c.request_id << " scheduled twice";
            EXPECT_GE(c.n_tokens, 1);
            EXPECT_EQ(sched_.status(c.request_id), RequestStatus::kRunning);
            EXPECT_EQ(c.start, sched_.computed_tokens(c.request_id));
            EXPECT_EQ(c.samples, c.start + c.n_tokens == int64_t(sched_.tokens(c.request_id).size()));
            if (!cfg.chunked_prefill) {
                EXPECT_TRUE(c.samples) << "a prompt split without chunked prefill";
            }
            ASSERT_GE(int64_t(c.block_table.size()), bm.blocks_for(c.start + c.n_tokens));
            for (int64_t b = c.start / bm.block_size(); b < bm.blocks_for(c.start + c.n_tokens); ++b) {
                const BlockId id = c.block_table[size_t(b)];
                EXPECT_GT(id, 0);
                EXPECT_LT(id, bm.n_blocks());
                EXPECT_TRUE(written.insert(id).second) << "block " << id << " written by two chunks";
            }
        }
        for (uint64_t id : s.preempted) {
            EXPECT_EQ(sched_.status(id), RequestStatus::kWaiting);
            EXPECT_EQ(ids.count(id), 0u) << "preempted request " << id << " was also scheduled";
        }
        // Strict order: nothing left waiting may rank before a request admitted in this step.
        for (uint64_t id : s.admitted) {
            const auto& a = req(id).request;
            for (const auto& r : w_.requests) {
                if (!sched_.contains(r.request.id) || sched_.status(r.request.id) != RequestStatus::kWaiting) continue;
                const bool before = r.request.priority < a.priority ||
                                    (r.request.priority == a.priority && index_.at(r.request.id) < index_.at(id));
                EXPECT_FALSE(before) << "request " << r.request.id << " overtaken by " << id;
            }
        }
    }

    // The fake forward pass: writes each chunk's ids into the pool and samples from what the pool
    // holds for the request's positions.
    std::vector<SampledToken> model_step(const Schedule& s) {
        const int64_t bs = opt_.kv.block_size;
        std::vector<SampledToken> sampled;
        for (const auto& c : s.chunks) {
            const auto tokens = sched_.tokens(c.request_id);
            EXPECT_TRUE(std::equal(c.tokens.begin(), c.tokens.end(), tokens.begin() + c.start));
            std::vector<int32_t> history;
            for (int64_t pos = 0; pos < c.start + c.n_tokens; ++pos) {
                int32_t& slot = pool_[size_t(c.block_table[size_t(pos / bs)])][size_t(pos % bs)];
                if (pos >= c.start) slot = c.tokens[size_t(pos - c.start)];
                history.push_back(slot);
            }
            result_.computed_tokens += c.n_tokens;
            if (c.samples) sampled.push_back({c.request_id, next_token(history), false});
        }
        return sampled;
    }

    // Within a priority, requests are first admitted in arrival order.
    void check_first_come_first_served(const std::vector<uint64_t>& first_admission) {
        std::map<int, size_t> last;
        for (size_t i : first_admission) {
            const int p = w_.requests[i].request.priority;
            auto it = last.find(p);
            if (it != last.end()) {
                EXPECT_LT(it->second, i) << "priority " << p << ": request " << i << " after " << it->second;
            }
            last[p] = i;
        }
    }

    const Workload& w_;
    SimOptions opt_;
    Scheduler sched_;
    std::mt19937_64 rng_;
    std::vector<std::vector<int32_t>> pool_;  // [block][slot] -> token id
    std::map<uint64_t, size_t> index_;
    SimResult result_;
};

// A pool of 40 blocks of 4 positions under up to 12 running requests of up to 96 tokens.
SimOptions pressured() {
    SimOptions o;
    o.sched = SchedulerConfig{48, 12, 96, true};
    o.kv = BlockManagerConfig{41, 4, true};
    return o;
}

void expect_expected_outputs(const Workload& w, const SimResult& r, const char* what) {
    for (const auto& sr : w.requests) {
        const auto it = r.outputs.find(sr.request.id);
        ASSERT_NE(it, r.outputs.end()) << what << ": request " << sr.request.id << " has no outputs";
        if (r.aborted.contains(sr.request.id)) {
            ASSERT_LE(it->second.size(), sr.expected.size());
            EXPECT_TRUE(std::equal(it->second.begin(), it->second.end(), sr.expected.begin()))
                << what << ": aborted request " << sr.request.id << " has wrong outputs";
        } else {
            EXPECT_EQ(it->second, sr.expected) << what << ": request " << sr.request.id;
        }
    }
}

void report(const char* what, const SimResult& r) {
    std::cout << what << ": " << r.steps << " steps, " << r.preemptions << " preemptions, prefix hits "
              << r.kv.prefix_hits << "/" << r.kv.prefix_queries << " prompt tokens ("
              << (r.kv.prefix_queries ? 100.0 * double(r.kv.prefix_hits) / double(r.kv.prefix_queries) : 0.0)
              << "%), " << r.kv.evictions << " evictions, " << r.computed_tokens << " tokens computed\n";
}

TEST(SchedulerSimulation, OutputsDoNotDependOnMemoryPrefixCacheOrChunking) {
    const uint64_t seed = test::fresh_seed();
    SCOPED_TRACE(test::seed_note(seed));
    const Workload w = make_workload(seed, 2000);

    const SimResult small = Simulation(w, pressured(), seed).run();
    report("small pool", small);
    ASSERT_FALSE(HasFailure());
    expect_expected_outputs(w, small, "small pool");
    EXPECT_GT(small.preemptions, 0);
    EXPECT_GT(small.kv.prefix_hits, 0);
    EXPECT_GT(small.kv.evictions, 0);

    SimOptions huge = pressured();
    huge.kv.n_blocks = 1 + huge.sched.max_running * 24 + 64;  // every running request at full length
    const SimResult large = Simulation(w, huge, seed).run();
    report("huge pool", large);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(large.preemptions, 0);
    EXPECT_EQ(large.outputs, small.outputs);

    SimOptions uncached = pressured();
    uncached.kv.prefix_caching = false;
    const SimResult nocache = Simulation(w, uncached, seed).run();
    report("no prefix cache", nocache);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(nocache.kv.prefix_hits, 0);
    EXPECT_GT(nocache.computed_tokens, small.computed_tokens);
    EXPECT_EQ(nocache.outputs, small.outputs);

    SimOptions whole = pressured();
    whole.sched.chunked_prefill = false;
    whole.sched.max_batched_tokens = whole.sched.max_model_len;
    const SimResult unchunked = Simulation(w, whole, seed).run();
    report("no chunked prefill", unchunked);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(unchunked.outputs, small.outputs);

    SimOptions chunked_same_budget = pressured();
    chunked_same_budget.sched.max_batched_tokens = whole.sched.max_batched_tokens;
    const SimResult chunked = Simulation(w, chunked_same_budget, seed).run();
    report("chunked prefill, same budget", chunked);
    EXPECT_EQ(chunked.outputs, unchunked.outputs);
}

TEST(SchedulerSimulation, RandomAbortsLeaveEverythingConsistent) {
    const uint64_t seed = test::fresh_seed();
    SCOPED_TRACE(test::seed_note(seed));
    const Workload w = make_workload(seed, 800);
    SimOptions opt = pressured();
    opt.abort_rate = 0.05;
    const SimResult r = Simulation(w, opt, seed).run();
    report("with aborts", r);
    ASSERT_FALSE(HasFailure());
    expect_expected_outputs(w, r, "with aborts");
    EXPECT_GT(r.aborted.size(), 0u);
}

TEST(SchedulerSimulation, TinyBudgetAndBlockSizeOne) {
    // Extreme settings: three tokens per step shared by everyone, and single-position blocks.
    const uint64_t seed = test::fresh_seed();
    SCOPED_TRACE(test::seed_note(seed));
    const Workload w = make_workload(seed, 150);
    SimOptions opt;
    opt.sched = SchedulerConfig{3, 4, 96, true};
    opt.kv = BlockManagerConfig{1 + 120, 1, true};
    const SimResult r = Simulation(w, opt, seed).run();
    report("budget 3, block size 1", r);
    ASSERT_FALSE(HasFailure());
    expect_expected_outputs(w, r, "budget 3, block size 1");
}

}  // namespace
}  // namespace turbolm
