// One scheduling step: the running requests, preemption when the KV pool runs out, admission.
#include <algorithm>
#include <iterator>

#include "core/error.h"
#include "scheduler/scheduler.h"

namespace turbolm {

Schedule Scheduler::schedule() {
    TURBOLM_REQUIRE(!in_flight_, "scheduler: schedule() called again before update() of step ", step_);
    Schedule out;
    out.step = ++step_;
    int64_t budget = config_.max_batched_tokens;
    schedule_running(out, budget);
    // Blocks just taken from a preempted request would otherwise go straight to a new one, and the
    // next step would preempt again: admit only in steps that had enough memory.
    if (out.preempted.empty()) admit_waiting(out, budget);
    // An empty step leaves nothing to record, so the engine may skip its update().
    in_flight_ = !out.chunks.empty();
    return out;
}

int64_t Scheduler::chunk_size(const Request& r, int64_t budget) const {
    const int64_t remaining = int64_t(r.tokens.size()) - r.computed;
    if (config_.chunked_prefill) return std::min(remaining, budget);
    return remaining <= budget ? remaining : 0;
}

ScheduledChunk Scheduler::make_chunk(const Request& r, int64_t n) const {
    ScheduledChunk c;
    c.request_id = r.id;
    c.start = r.computed;
    c.n_tokens = n;
    c.tokens.assign(r.tokens.begin() + r.computed, r.tokens.begin() + r.computed + n);
    c.block_table = blocks_.block_table(r.seq);
    c.samples = r.computed + n == int64_t(r.tokens.size());
    return c;
}

void Scheduler::schedule_running(Schedule& out, int64_t& budget) {
    for (auto it = running_.begin(); it != running_.end() && budget > 0;) {
        Request& r = get(it->second);
        const int64_t n = chunk_size(r, budget);
        if (n == 0) {
            ++it;
            continue;
        }
        // Free memory by preempting from the back of the order until this request fits; the back
        // is never a request already scheduled in this step, since those come before `it`.
        bool fits = blocks_.reserve(r.seq, r.computed + n);
        while (!fits) {
            auto victim = std::prev(running_.end());
            const bool self = victim == it;
            preempt(victim->second, out);
            if (self) return;  // it was the last running request
            fits = blocks_.reserve(r.seq, r.computed + n);
        }
        out.chunks.push_back(make_chunk(r, n));
        budget -= n;
        ++it;
    }
}

void Scheduler::preempt(uint64_t id, Schedule& out) {
    Request& r = get(id);
    TURBOLM_CHECK(r.status == RequestStatus::kRunning, "scheduler: preempting request ", id, " that is not running");
    // Recompute rather than swap: the KV is rebuilt later from prompt + outputs, whose full blocks
    // stay in the prefix cache until something else needs the memory.
    blocks_.free_sequence(r.seq);
    running_.erase(r.key());
    r.computed = 0;
    r.status = RequestStatus::kWaiting;
    waiting_.emplace(r.key(), r.id);
    out.preempted.push_back(id);
    ++n_preemptions_;
}

void Scheduler::admit_waiting(Schedule& out, int64_t& budget) {
    while (!waiting_.empty() && budget > 0 && num_running() < config_.max_running) {
        Request& r = get(waiting_.begin()->second);
        const auto match = blocks_.match_prefix(r.tokens);
        const int64_t remaining = int64_t(r.tokens.size()) - match.n_tokens;
        int64_t n = std::min(remaining, budget);
        if (!config_.chunked_prefill && n < remaining) return;
        // Shared idle blocks leave the available count; the cached prefix needs no new blocks.
        const int64_t need = blocks_.blocks_for(match.n_tokens + n) - match.n_tokens / blocks_.block_size();
        if (need > blocks_.available_blocks() - match.n_idle_blocks) return;

        const int64_t cached = blocks_.begin_sequence(r.seq, r.tokens);
        TURBOLM_CHECK(cached == match.n_tokens, "scheduler: prefix match of ", match.n_tokens,
                      " tokens but begin_sequence shared ", cached);
        TURBOLM_CHECK(blocks_.reserve(r.seq, cached + n), "scheduler: reserve failed after the admission check");
        r.computed = cached;
        r.status = RequestStatus::kRunning;
        waiting_.erase(waiting_.begin());
        running_.emplace(r.key(), r.id);
        out.admitted.push_back(r.id);
        out.chunks.push_back(make_chunk(r, n));
        budget -= n;
    }
}

}  // namespace turbolm
