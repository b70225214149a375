// The engine's step without threads: requests come in, each step() schedules one iteration
// (continuous batching over the paged KV cache), runs one forward pass over every scheduled chunk,
// samples the requests whose chunk reached their last token, and reports the new tokens.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "kv/block_manager.h"
#include "models/model.h"
#include "ops/ops.h"
#include "sampling/sampler.h"
#include "scheduler/scheduler.h"

namespace turbolm {

struct EngineCoreOptions {
    SchedulerConfig scheduler;
    BlockManagerConfig kv;  // blocks of the cache (block 0 is reserved), positions per block, prefix caching
};

struct CoreRequest {
    uint64_t id = 0;
    std::vector<int32_t> prompt;
    SamplingParams sampling;
    int64_t max_tokens = 16;
    std::vector<int32_t> stop_token_ids;  // generation ends after one of these (kept in the output)
    bool ignore_eos = false;
    int priority = 0;  // lower runs first
    int logprobs = -1; // -1: none; k >= 0: the chosen token's log-probability and the k most likely
};

// A token generated for a request in a step; `finished` with the reason on its last one.
struct TokenEvent {
    uint64_t id = 0;
    int32_t token = 0;
    bool finished = false;
    FinishReason reason = FinishReason::kNone;
    float logprob = 0.0f;                                  // when the request asked
    std::vector<std::pair<int32_t, float>> top_logprobs;   // most likely first
};

class EngineCore {
public:
    EngineCore(const Model& model, const EngineCoreOptions& options);

    // Throws Error(kInvalidArgument / kOutOfRange) for an empty prompt, ids outside the vocabulary,
    // bad sampling parameters, or a prompt that leaves no room in max_model_len.
    void add(CoreRequest request);
    bool abort(uint64_t id);
    bool has_unfinished() const { return scheduler_.has_unfinished(); }
    // One iteration; empty when nothing is left to run.
    std::vector<TokenEvent> step();

    const Scheduler& scheduler() const { return scheduler_; }

private:
    // Chooses the tokens of the chunks that sample: on the host with each request's Sampler, or on
    // the device (only the ids come back) when no request of the step uses penalties.
    std::vector<SampledToken> sample(const Schedule& schedule, Tensor& logits);
    std::vector<SampledToken> sample_on_device(const Schedule& schedule, Tensor& logits);

    struct RequestState {
        Sampler sampler;
        int64_t n_prompt = 0;
        std::vector<int32_t> stop_token_ids;
        bool ignore_eos = false;
        SamplingParams params;
        uint64_t seed = 0;
        int logprobs = -1;
    };
    struct Logprobs {
        float chosen = 0.0f;
        std::vector<std::pair<int32_t, float>> top;
    };
    // log-softmax of a row at `token`, and its k largest entries.
    static Logprobs logprobs_of(std::span<const float> row, int32_t token, int k);

    static bool is_stop(const RequestState& st, int32_t token);

    const Model& model_;
    Scheduler scheduler_;
    KvCache kv_;
    std::unordered_map<uint64_t, RequestState> states_;
    std::unordered_map<uint64_t, Logprobs> step_logprobs_;  // of this step's tokens, by request
};

}  // namespace turbolm
