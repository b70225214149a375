// The scheduler's request bookkeeping: adding, updating after a step, aborting, and the accessors.
// The choice of what runs in a step is in scheduler_step.cpp.
#include "scheduler/scheduler.h"

#include <algorithm>

#include <unordered_set>

#include "core/error.h"

namespace turbolm {

Scheduler::Scheduler(const SchedulerConfig& config, const BlockManagerConfig& kv_config)
    : config_(config), blocks_(kv_config) {
    TURBOLM_REQUIRE(config.max_batched_tokens >= 1, "scheduler: max_batched_tokens must be >= 1, got ",
                    config.max_batched_tokens);
    TURBOLM_REQUIRE(config.max_running >= 1, "scheduler: max_running must be >= 1, got ", config.max_running);
    TURBOLM_REQUIRE(config.max_model_len >= 2, "scheduler: max_model_len must be >= 2, got ", config.max_model_len);
    // Without chunking a prompt (after preemption: prompt + outputs) runs in one step, and may be
    // as long as the context allows.
    TURBOLM_REQUIRE(config.chunked_prefill || config.max_batched_tokens >= config.max_model_len,
                    "scheduler: without chunked prefill max_batched_tokens (", config.max_batched_tokens,
                    ") must be >= max_model_len (", config.max_model_len, ")");
    TURBOLM_REQUIRE(blocks_.n_blocks() - 1 >= blocks_.blocks_for(config.max_model_len), "scheduler: the KV pool's ",
                    blocks_.n_blocks() - 1, " blocks cannot hold one request of max_model_len ", config.max_model_len,
                    " (", blocks_.blocks_for(config.max_model_len), " blocks)");
}

Scheduler::Request& Scheduler::get(uint64_t id) {
    auto it = requests_.find(id);
    TURBOLM_REQUIRE(it != requests_.end(), "scheduler: unknown request ", id);
    return it->second;
}

const Scheduler::Request& Scheduler::get(uint64_t id) const { return const_cast<Scheduler*>(this)->get(id); }

void Scheduler::add_request(SchedulerRequest request) {
    TURBOLM_REQUIRE(!requests_.contains(request.id), "scheduler: request id ", request.id, " is already in use");
    TURBOLM_REQUIRE(!request.prompt.empty(), "scheduler: request ", request.id, " has an empty prompt");
    if (int64_t(request.prompt.size()) >= config_.max_model_len)
        fail(StatusCode::kOutOfRange, "scheduler: request ", request.id, " prompt of ", request.prompt.size(),
             " tokens leaves no room to generate within max_model_len ", config_.max_model_len);
    TURBOLM_REQUIRE(request.max_tokens >= 1, "scheduler: request ", request.id, " max_tokens must be >= 1, got ",
                    request.max_tokens);
    Request r;
    r.id = request.id;
    r.priority = request.priority;
    r.arrival = next_arrival_++;
    r.seq = SeqId(r.arrival);
    r.n_prompt = int64_t(request.prompt.size());
    r.tokens = std::move(request.prompt);
    r.max_tokens = request.max_tokens;
    waiting_.emplace(r.key(), r.id);
    requests_.emplace(r.id, std::move(r));
}

void Scheduler::update(const Schedule& schedule, std::span<const SampledToken> sampled) {
    if (schedule.chunks.empty() && schedule.step == step_ && !in_flight_) {
        TURBOLM_REQUIRE(sampled.empty(), "scheduler: sampled tokens for the empty step ", schedule.step);
        return;
    }
    TURBOLM_REQUIRE(in_flight_ && schedule.step == step_, "scheduler: update() for step ", schedule.step,
                    in_flight_ ? str_cat(", but step ", step_, " is in flight") : std::string(", but none is in flight"));

    // Validate everything first, so that a wrong call changes nothing.
    std::unordered_map<uint64_t, const SampledToken*> by_id;
    for (const SampledToken& s : sampled)
        TURBOLM_REQUIRE(by_id.emplace(s.request_id, &s).second, "scheduler: two sampled tokens for request ",
                        s.request_id);
    std::unordered_set<uint64_t> sampling;
    for (const ScheduledChunk& c : schedule.chunks) {
        if (!c.samples) continue;
        sampling.insert(c.request_id);
        auto it = requests_.find(c.request_id);
        const bool live = it != requests_.end() && it->second.status == RequestStatus::kRunning;
        TURBOLM_REQUIRE(!live || by_id.contains(c.request_id), "scheduler: no sampled token for request ",
                        c.request_id);
    }
    for (const SampledToken& s : sampled)
        TURBOLM_REQUIRE(sampling.contains(s.request_id), "scheduler: sampled token for request ", s.request_id,
                        ", which had no sampling chunk in step ", schedule.step);

    for (const ScheduledChunk& c : schedule.chunks) {
        auto it = requests_.find(c.request_id);
        if (it == requests_.end() || it->second.status != RequestStatus::kRunning) continue;  // aborted
        Request& r = it->second;
        TURBOLM_CHECK(c.start == r.computed && c.start + c.n_tokens <= int64_t(r.tokens.size()),
                      "scheduler: chunk [", c.start, ", +", c.n_tokens, ") of request ", r.id, " does not follow its ",
                      r.computed, " computed tokens");
        blocks_.commit(r.seq, std::span<const int32_t>(r.tokens).subspan(size_t(c.start), size_t(c.n_tokens)));
        r.computed += c.n_tokens;
        // The next position, r.computed, sees keys p > r.computed - window; none before it again.
        if (config_.sliding_window > 0)
            blocks_.release_before(r.seq, std::max<int64_t>(0, r.computed - config_.sliding_window + 1));
        if (!c.samples) continue;
        const SampledToken& s = *by_id.at(r.id);
        r.tokens.push_back(s.token);
        if (s.stop)
            finish(r, FinishReason::kStop);
        else if (r.n_outputs() >= r.max_tokens || int64_t(r.tokens.size()) >= config_.max_model_len)
            finish(r, FinishReason::kLength);
    }
    in_flight_ = false;
}

void Scheduler::finish(Request& r, FinishReason reason) {
    if (r.status == RequestStatus::kRunning) {
        blocks_.free_sequence(r.seq);
        running_.erase(r.key());
    } else if (r.status == RequestStatus::kWaiting) {
        waiting_.erase(r.key());
    }
    r.status = RequestStatus::kFinished;
    r.reason = reason;
    finished_.push_back(r.id);
}

bool Scheduler::abort(uint64_t id) {
    Request& r = get(id);
    if (r.status == RequestStatus::kFinished) return false;
    finish(r, FinishReason::kAborted);
    return true;
}

std::vector<uint64_t> Scheduler::take_finished() { return std::exchange(finished_, {}); }

RequestStatus Scheduler::status(uint64_t id) const { return get(id).status; }
FinishReason Scheduler::finish_reason(uint64_t id) const { return get(id).reason; }
std::span<const int32_t> Scheduler::tokens(uint64_t id) const { return get(id).tokens; }
int64_t Scheduler::computed_tokens(uint64_t id) const { return get(id).computed; }

std::span<const int32_t> Scheduler::outputs(uint64_t id) const {
    const Request& r = get(id);
    return std::span<const int32_t>(r.tokens).subspan(size_t(r.n_prompt));
}

void Scheduler::forget(uint64_t id) {
    TURBOLM_REQUIRE(get(id).status == RequestStatus::kFinished, "scheduler: forget() of request ", id,
                    ", which has not finished");
    requests_.erase(id);
}

}  // namespace turbolm
