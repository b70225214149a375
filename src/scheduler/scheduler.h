// Iteration-level (continuous) batching over a paged KV cache. Every engine step the scheduler
// decides which requests run and how many of their tokens are computed; the engine runs the
// forward pass, samples, and reports back through update(). No GPU, no model, no clocks, no I/O:
// the same calls give the same schedules, so tests drive it with a fake model step.
//
// One step: running requests first, in (priority, arrival) order (a decode is 1 token, an unfinished
// prefill its next chunk); when the KV pool is full the lowest-priority, latest-arrived running
// request is preempted: its blocks are freed and it waits again, to be recomputed from its prompt and
// the tokens it already generated (its outputs do not change). Then, if nothing was preempted, waiting
// requests are admitted in (priority, arrival) order while the token budget, max_running and the free
// blocks allow; the first that does not fit stops admission, so no request is overtaken by a later one
// of the same priority. Leading tokens found in the prefix cache are not computed again.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kv/block_manager.h"
#include "scheduler/schedule.h"

namespace turbolm {

struct SchedulerConfig {
    int64_t max_batched_tokens = 2048;  // tokens computed per step, over all requests
    int64_t max_running = 256;          // requests holding KV blocks at once
    int64_t max_model_len = 4096;       // prompt + output tokens of one request
    // Long prompts are computed over several steps, in pieces of the budget left. Without it a
    // prompt is computed in one step, so max_batched_tokens must be at least max_model_len.
    bool chunked_prefill = true;
    // When every layer attends to a sliding window of this many tokens (0: none), blocks wholly
    // before a request's window are handed back as it advances.
    int64_t sliding_window = 0;
};

struct SchedulerRequest {
    uint64_t id = 0;
    int priority = 0;  // lower is more urgent; first come, first served within a priority
    std::vector<int32_t> prompt;
    int64_t max_tokens = 16;  // tokens to generate at most
};

enum class RequestStatus { kWaiting, kRunning, kFinished };
enum class FinishReason { kNone, kLength, kStop, kAborted };

class Scheduler {
public:
    // The pool must hold one request of max_model_len tokens, so that a request alone always runs.
    Scheduler(const SchedulerConfig& config, const BlockManagerConfig& kv_config);

    // Queues a request; it arrives after every request added before it.
    void add_request(SchedulerRequest request);
    // One step. Call update() with its result before the next schedule(); an empty schedule (no
    // chunks) needs none, though update() accepts it.
    Schedule schedule();
    // After the engine's step: records the computed chunks in the KV cache, appends the sampled
    // tokens, and finishes requests at max_tokens, at max_model_len, or when a token has `stop`.
    // Chunks of requests aborted since schedule() are skipped, with their sampled tokens.
    void update(const Schedule& schedule, std::span<const SampledToken> sampled);
    // Finishes a waiting or running request (kAborted) and frees its blocks. False when it had
    // already finished.
    bool abort(uint64_t id);

    int64_t num_waiting() const { return int64_t(waiting_.size()); }
    int64_t num_running() const { return int64_t(running_.size()); }
    bool has_unfinished() const { return !waiting_.empty() || !running_.empty(); }
    // Ids of the requests finished since the last call, in the order they finished.
    std::vector<uint64_t> take_finished();

    bool contains(uint64_t id) const { return requests_.contains(id); }
    RequestStatus status(uint64_t id) const;
    FinishReason finish_reason(uint64_t id) const;
    std::span<const int32_t> outputs(uint64_t id) const;  // generated tokens
    std::span<const int32_t> tokens(uint64_t id) const;   // prompt + generated
    int64_t computed_tokens(uint64_t id) const;           // positions whose KV is in the cache
    // Drops the record of a finished request; its id may then be used again.
    void forget(uint64_t id);

    const SchedulerConfig& config() const { return config_; }
    const BlockManager& block_manager() const { return blocks_; }
    int64_t num_preemptions() const { return n_preemptions_; }

private:
    // (priority, arrival): the order of admission, and in reverse the order of preemption.
    using QueueKey = std::pair<int, uint64_t>;

    struct Request {
        uint64_t id = 0;
        int priority = 0;
        uint64_t arrival = 0;
        SeqId seq = 0;
        std::vector<int32_t> tokens;  // prompt + generated
        int64_t n_prompt = 0;
        int64_t max_tokens = 0;
        int64_t computed = 0;
        RequestStatus status = RequestStatus::kWaiting;
        FinishReason reason = FinishReason::kNone;

        QueueKey key() const { return {priority, arrival}; }
        int64_t n_outputs() const { return int64_t(tokens.size()) - n_prompt; }
    };

    Request& get(uint64_t id);
    const Request& get(uint64_t id) const;
    // The next chunk of a running request within `budget` tokens; 0 when none fits.
    int64_t chunk_size(const Request& r, int64_t budget) const;
    ScheduledChunk make_chunk(const Request& r, int64_t n) const;
    // The two halves of schedule(); each spends from `budget`.
    void schedule_running(Schedule& out, int64_t& budget);
    void admit_waiting(Schedule& out, int64_t& budget);
    void preempt(uint64_t id, Schedule& out);
    void finish(Request& r, FinishReason reason);

    SchedulerConfig config_;
    BlockManager blocks_;
    std::unordered_map<uint64_t, Request> requests_;
    std::map<QueueKey, uint64_t> waiting_;
    std::map<QueueKey, uint64_t> running_;
    std::vector<uint64_t> finished_;
    uint64_t next_arrival_ = 0;
    uint64_t step_ = 0;
    bool in_flight_ = false;  // a non-empty schedule awaits its update()
    int64_t n_preemptions_ = 0;
};

}  // namespace turbolm
