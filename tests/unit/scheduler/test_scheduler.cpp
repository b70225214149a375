// Scheduler scenarios small enough to follow step by step: chunked and whole prefills, the token
// budget, max_running, priorities, preemption, prefix hits, stops, aborts, and misuse.
#include <algorithm>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "scheduler/scheduler.h"

namespace turbolm {
namespace {

std::vector<int32_t> iota_tokens(int n, int32_t first = 100) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    std::iota(t.begin(), t.end(), first);
    return t;
}

SchedulerRequest request(uint64_t id, std::vector<int32_t> prompt, int64_t max_tokens, int priority = 0) {
    return SchedulerRequest{id, priority, std::move(prompt), max_tokens};
}

// A model whose next token is its position plus 1000: easy to read in failures.
std::vector<SampledToken> fake_step(const Schedule& s) {
    std::vector<SampledToken> out;
    for (const auto& c : s.chunks)
        if (c.samples) out.push_back({c.request_id, int32_t(1000 + c.start + c.n_tokens), false});
    return out;
}

Schedule step(Scheduler& sched) {
    Schedule s = sched.schedule();
    sched.update(s, fake_step(s));
    sched.block_manager().check_invariants();
    return s;
}

SchedulerConfig config(int64_t budget, int64_t max_running = 8, int64_t max_model_len = 64, bool chunked = true) {
    return SchedulerConfig{budget, max_running, max_model_len, chunked};
}

BlockManagerConfig pool(int64_t n_blocks, int64_t block_size = 4, bool prefix_caching = true) {
    return BlockManagerConfig{n_blocks, block_size, prefix_caching};
}

// With a sliding window of 8 the blocks wholly behind a request's window go back to the pool as it
// advances, while the blocks its next tokens can see stay in its table.
TEST(Scheduler, SlidingWindowHandsBackBlocksBehindTheWindow) {
    SchedulerConfig c = config(8, 8, 80);
    c.sliding_window = 8;
    Scheduler sched(c, pool(32));
    const int64_t all_free = sched.block_manager().available_blocks();
    sched.add_request(request(1, iota_tokens(30), 40));
    int64_t most_used = 0;
    while (sched.has_unfinished()) {
        Schedule s = step(sched);
        most_used = std::max(most_used, all_free - sched.block_manager().available_blocks());
        for (const auto& chunk : s.chunks) {
            // Every position from the chunk's window start on is still mapped.
            const int64_t first_needed = std::max<int64_t>(0, chunk.start - 8 + 1);
            for (int64_t p = first_needed; p < chunk.start + chunk.n_tokens; ++p)
                EXPECT_NE(chunk.block_table[size_t(p / 4)], 0) << "position " << p;
        }
    }
    EXPECT_EQ(sched.outputs(1).size(), 40u);
    // 70 positions would need 18 blocks; a window of 8 plus a chunk of 8 never needs more than 6.
    EXPECT_LE(most_used, 6);
}

TEST(Scheduler, ChunkedPrefillThenDecodes) {
    Scheduler sched(config(8), pool(64));
    sched.add_request(request(7, iota_tokens(20), 3));
    EXPECT_EQ(sched.num_waiting(), 1);

    Schedule s = step(sched);
    ASSERT_EQ(s.chunks.size(), 1u);
    EXPECT_EQ(s.admitted, std::vector<uint64_t>{7});
    EXPECT_EQ(s.chunks[0].request_id, 7u);
    EXPECT_EQ(s.chunks[0].start, 0);
    EXPECT_EQ(s.chunks[0].n_tokens, 8);
    EXPECT_EQ(s.chunks[0].tokens, iota_tokens(8));
    EXPECT_EQ(s.chunks[0].block_table.size(), 2u);
    EXPECT_FALSE(s.chunks[0].samples);
    EXPECT_EQ(sched.num_running(), 1);
    EXPECT_EQ(sched.computed_tokens(7), 8);

    s = step(sched);
    EXPECT_EQ(s.chunks[0].start, 8);
    EXPECT_EQ(s.chunks[0].n_tokens, 8);
    EXPECT_FALSE(s.chunks[0].samples);
    s = step(sched);
    EXPECT_EQ(s.chunks[0].start, 16);
    EXPECT_EQ(s.chunks[0].n_tokens, 4);
    EXPECT_TRUE(s.chunks[0].samples);
    EXPECT_EQ(sched.outputs(7).size(), 1u);

    s = step(sched);  // decode of the sampled token at position 20
    EXPECT_EQ(s.chunks[0].start, 20);
    EXPECT_EQ(s.chunks[0].n_tokens, 1);
    EXPECT_EQ(s.chunks[0].tokens, std::vector<int32_t>{1020});
    EXPECT_TRUE(s.chunks[0].samples);
    EXPECT_TRUE(sched.take_finished().empty());
    step(sched);

    EXPECT_EQ(sched.status(7), RequestStatus::kFinished);
    EXPECT_EQ(sched.finish_reason(7), FinishReason::kLength);
    const std::vector<int32_t> expected = {1020, 1021, 1022};
    EXPECT_TRUE(std::ranges::equal(sched.outputs(7), expected));
    EXPECT_EQ(sched.take_finished(), std::vector<uint64_t>{7});
    EXPECT_TRUE(sched.take_finished().empty());
    EXPECT_FALSE(sched.has_unfinished());
    EXPECT_EQ(sched.block_manager().available_blocks(), 63);

    // An empty step needs no update(), though one is accepted.
    Schedule empty = sched.schedule();
    EXPECT_TRUE(empty.empty());
    EXPECT_TRUE(sched.schedule().empty());
    sched.update(sched.schedule(), {});
    sched.add_request(request(8, iota_tokens(3), 1));
    EXPECT_EQ(step(sched).admitted, std::vector<uint64_t>{8});
}

TEST(Scheduler, WithoutChunkingAPromptWaitsForABudgetItFitsWhole) {
    Scheduler sched(config(32, 8, 32, false), pool(64));
    sched.add_request(request(1, iota_tokens(20), 4));
    sched.add_request(request(2, iota_tokens(20, 500), 4));
    Schedule s = step(sched);
    ASSERT_EQ(s.chunks.size(), 1u);
    EXPECT_EQ(s.chunks[0].n_tokens, 20);
    EXPECT_TRUE(s.chunks[0].samples);
    EXPECT_EQ(sched.num_waiting(), 1);  // 12 tokens of budget left: request 2 does not fit whole
    s = step(sched);
    ASSERT_EQ(s.chunks.size(), 2u);
    EXPECT_EQ(s.chunks[0].request_id, 1u);
    EXPECT_EQ(s.chunks[0].n_tokens, 1);
    EXPECT_EQ(s.chunks[1].request_id, 2u);
    EXPECT_EQ(s.chunks[1].n_tokens, 20);
    EXPECT_EQ(s.n_tokens(), 21);
}

TEST(Scheduler, MaxRunningAndBudgetBoundAStep) {
    Scheduler sched(config(16, 2), pool(64));
    for (uint64_t id = 1; id <= 4; ++id) sched.add_request(request(id, iota_tokens(3, int32_t(id * 100)), 2));
    Schedule s = step(sched);
    EXPECT_EQ(s.admitted, (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(sched.num_running(), 2);
    EXPECT_EQ(sched.num_waiting(), 2);
    step(sched);  // both finish
    s = step(sched);
    EXPECT_EQ(s.admitted, (std::vector<uint64_t>{3, 4}));

    // A budget smaller than the prompts: the second request gets what is left.
    Scheduler tight(config(5), pool(64));
    tight.add_request(request(1, iota_tokens(3), 2));
    tight.add_request(request(2, iota_tokens(6, 50), 2));
    s = step(tight);
    ASSERT_EQ(s.chunks.size(), 2u);
    EXPECT_EQ(s.chunks[1].n_tokens, 2);
    EXPECT_FALSE(s.chunks[1].samples);
    EXPECT_EQ(s.n_tokens(), 5);
}

TEST(Scheduler, PriorityBeforeArrival) {
    Scheduler sched(config(64), pool(64));
    sched.add_request(request(1, iota_tokens(4), 2, /*priority=*/2));
    sched.add_request(request(2, iota_tokens(4, 10), 2, 0));
    sched.add_request(request(3, iota_tokens(4, 20), 2, 1));
    sched.add_request(request(4, iota_tokens(4, 30), 2, 0));
    Schedule s = step(sched);
    EXPECT_EQ(s.admitted, (std::vector<uint64_t>{2, 4, 3, 1}));
    s = step(sched);
    ASSERT_EQ(s.chunks.size(), 4u);
    EXPECT_EQ(s.chunks[0].request_id, 2u);  // running requests go in the same order
    EXPECT_EQ(s.chunks[3].request_id, 1u);
}

TEST(Scheduler, HeadOfLineIsNotOvertaken) {
    // The head needs more blocks than are free; a smaller later request must not jump ahead of it.
    Scheduler sched(config(64, 8, 32), pool(9));  // 8 blocks of 4
    sched.add_request(request(1, iota_tokens(20), 8));  // 5 blocks
    step(sched);
    sched.add_request(request(2, iota_tokens(16, 300), 4));  // needs 4 blocks, 2 are free
    sched.add_request(request(3, iota_tokens(2, 600), 4));   // would fit
    Schedule s = step(sched);
    EXPECT_TRUE(s.admitted.empty());
    EXPECT_EQ(sched.num_waiting(), 2);
}

TEST(Scheduler, PreemptionByRecomputeKeepsOutputs) {
    // 8 blocks of 4 positions; two requests of 12 prompt tokens that grow to 28 tokens each.
    auto run = [](int64_t n_blocks, std::vector<uint64_t>* preempted) {
        Scheduler sched(config(64, 8, 32), pool(n_blocks));
        sched.add_request(request(1, iota_tokens(12), 16));
        sched.add_request(request(2, iota_tokens(12, 200), 16));
        std::vector<std::vector<int32_t>> outputs(3);
        for (int i = 0; i < 200 && sched.has_unfinished(); ++i) {
            Schedule s = sched.schedule();
            for (uint64_t id : s.preempted) {
                preempted->push_back(id);
                EXPECT_EQ(sched.status(id), RequestStatus::kWaiting);
                EXPECT_EQ(sched.computed_tokens(id), 0);
                EXPECT_GT(sched.outputs(id).size(), 0u);  // generated tokens are kept
                EXPECT_TRUE(s.admitted.empty());
            }
            sched.update(s, fake_step(s));
            sched.block_manager().check_invariants();
        }
        EXPECT_FALSE(sched.has_unfinished());
        for (uint64_t id : {1, 2}) outputs[id].assign(sched.outputs(id).begin(), sched.outputs(id).end());
        return std::pair(outputs, sched.num_preemptions());
    };
    std::vector<uint64_t> preempted, none;
    auto [small, n_small] = run(9, &preempted);
    auto [large, n_large] = run(64, &none);
    EXPECT_GT(n_small, 0);
    EXPECT_EQ(n_large, 0);
    ASSERT_FALSE(preempted.empty());
    EXPECT_EQ(preempted[0], 2u);  // the later arrival goes
    EXPECT_EQ(small, large);
    EXPECT_EQ(small[1].size(), 16u);
    EXPECT_EQ(small[2].size(), 16u);
}

TEST(Scheduler, RequestThatCannotGrowPreemptsItselfWhenLowest) {
    // Request 1 (priority 1) arrives first; request 2 (priority 0) runs ahead of it. Their block
    // boundaries differ, so memory runs out on request 1's own decode: it is the lowest and is
    // preempted itself, while request 2 continues.
    Scheduler sched(config(64, 8, 32), pool(9));
    sched.add_request(request(1, iota_tokens(12), 16, 1));
    sched.add_request(request(2, iota_tokens(10, 200), 16, 0));
    bool self_preempted = false;
    for (int i = 0; i < 200 && sched.has_unfinished(); ++i) {
        Schedule s = sched.schedule();
        for (uint64_t id : s.preempted) {
            EXPECT_EQ(id, 1u);
            bool scheduled = false;
            for (const auto& c : s.chunks) scheduled |= c.request_id == id;
            EXPECT_FALSE(scheduled);
            self_preempted = true;
        }
        sched.update(s, fake_step(s));
        sched.block_manager().check_invariants();
    }
    EXPECT_TRUE(self_preempted);
    EXPECT_EQ(sched.outputs(1).size(), 16u);
    EXPECT_EQ(sched.outputs(2).size(), 16u);
}

TEST(Scheduler, CachedPrefixIsNotComputedAgain) {
    Scheduler sched(config(64), pool(64));
    sched.add_request(request(1, iota_tokens(16), 1));
    step(sched);
    EXPECT_EQ(sched.status(1), RequestStatus::kFinished);
    auto prompt = iota_tokens(16);
    prompt.insert(prompt.end(), {1, 2, 3, 4});
    sched.add_request(request(2, prompt, 1));
    Schedule s = step(sched);
    ASSERT_EQ(s.chunks.size(), 1u);
    EXPECT_EQ(s.chunks[0].start, 16);
    EXPECT_EQ(s.chunks[0].n_tokens, 4);
    EXPECT_EQ(sched.block_manager().stats().prefix_hits, 16);
}

TEST(Scheduler, StopFromTheEngineFinishesTheRequest) {
    Scheduler sched(config(64), pool(64));
    sched.add_request(request(1, iota_tokens(5), 10));
    sched.add_request(request(2, iota_tokens(5, 50), 10));
    Schedule s = sched.schedule();
    std::vector<SampledToken> sampled = {{1, 42, true}, {2, 43, false}};
    sched.update(s, sampled);
    EXPECT_EQ(sched.status(1), RequestStatus::kFinished);
    EXPECT_EQ(sched.finish_reason(1), FinishReason::kStop);
    EXPECT_EQ(sched.outputs(1).size(), 1u);
    EXPECT_EQ(sched.outputs(1)[0], 42);
    EXPECT_EQ(sched.status(2), RequestStatus::kRunning);
    EXPECT_EQ(sched.take_finished(), std::vector<uint64_t>{1});
    sched.block_manager().check_invariants();
}

TEST(Scheduler, ContextLengthEndsGeneration) {
    Scheduler sched(config(64, 8, 16), pool(64));
    sched.add_request(request(1, iota_tokens(10), 100));
    for (int i = 0; i < 20 && sched.has_unfinished(); ++i) step(sched);
    EXPECT_EQ(sched.finish_reason(1), FinishReason::kLength);
    EXPECT_EQ(sched.tokens(1).size(), 16u);
    EXPECT_EQ(sched.outputs(1).size(), 6u);
}

TEST(Scheduler, AbortWaitingRunningAndInFlight) {
    Scheduler sched(config(64, 1), pool(64));
    sched.add_request(request(1, iota_tokens(5), 10));
    sched.add_request(request(2, iota_tokens(5, 50), 10));
    sched.add_request(request(3, iota_tokens(5, 90), 10));
    step(sched);
    EXPECT_TRUE(sched.abort(2));  // waiting
    EXPECT_EQ(sched.num_waiting(), 1);
    EXPECT_TRUE(sched.abort(1));  // running
    EXPECT_EQ(sched.num_running(), 0);
    EXPECT_EQ(sched.block_manager().available_blocks(), 63);
    EXPECT_FALSE(sched.abort(1));
    EXPECT_EQ(sched.take_finished(), (std::vector<uint64_t>{2, 1}));
    EXPECT_EQ(sched.finish_reason(1), FinishReason::kAborted);
    EXPECT_EQ(sched.outputs(1).size(), 1u);

    // Aborted while its step is in flight: update skips its chunk and sampled token.
    Schedule s = sched.schedule();
    ASSERT_EQ(s.chunks.size(), 1u);
    EXPECT_EQ(s.chunks[0].request_id, 3u);
    EXPECT_TRUE(sched.abort(3));
    sched.update(s, fake_step(s));
    EXPECT_TRUE(sched.outputs(3).empty());
    EXPECT_FALSE(sched.has_unfinished());
    sched.block_manager().check_invariants();
    EXPECT_EQ(sched.block_manager().available_blocks(), 63);

    sched.forget(3);
    EXPECT_FALSE(sched.contains(3));
    sched.add_request(request(3, iota_tokens(5), 1));  // the id is free again
    EXPECT_THROW(sched.forget(3), Error);
}

TEST(Scheduler, MisuseFailsWithClearErrors) {
    EXPECT_THROW(Scheduler(config(16, 8, 64, false), pool(64)), Error);  // budget below max_model_len
    EXPECT_THROW(Scheduler(config(64, 8, 64), pool(16)), Error);         // 15 blocks < 16 for one request
    EXPECT_THROW(Scheduler(config(0), pool(64)), Error);

    Scheduler sched(config(64, 8, 32), pool(64));
    sched.add_request(request(1, iota_tokens(5), 4));
    EXPECT_THROW(sched.add_request(request(1, iota_tokens(5), 4)), Error);
    EXPECT_THROW(sched.add_request(request(2, {}, 4)), Error);
    EXPECT_THROW(sched.add_request(request(3, iota_tokens(5), 0)), Error);
    try {
        sched.add_request(request(4, iota_tokens(32), 4));
        FAIL() << "expected kOutOfRange";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), StatusCode::kOutOfRange);
    }
    EXPECT_THROW(sched.status(99), Error);

    Schedule bogus;
    bogus.chunks.push_back(ScheduledChunk{});
    EXPECT_THROW(sched.update(bogus, {}), Error);  // nothing in flight
    Schedule s = sched.schedule();
    EXPECT_THROW(sched.schedule(), Error);  // update first
    Schedule other = s;
    other.step += 1;
    EXPECT_THROW(sched.update(other, fake_step(s)), Error);
    EXPECT_THROW(sched.update(s, {}), Error);  // request 1 needs its sampled token
    std::vector<SampledToken> extra = fake_step(s);
    extra.push_back({77, 1, false});
    EXPECT_THROW(sched.update(s, extra), Error);
    EXPECT_EQ(sched.computed_tokens(1), 0);  // the failed updates changed nothing
    sched.update(s, fake_step(s));
    EXPECT_EQ(sched.computed_tokens(1), 5);
    EXPECT_THROW(sched.forget(1), Error);  // still running
}

}  // namespace
}  // namespace turbolm
