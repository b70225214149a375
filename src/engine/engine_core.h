// The engine's step without threads: requests come in, each step() schedules one iteration
// (continuous batching over the paged KV cache), runs one forward pass over every scheduled chunk,
// samples the requests whose chunk reached their last token, and reports the new tokens.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
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
    // On a GPU, steps of only decodes (up to kMaxGraphBatch sequences) replay a CUDA graph captured
    // for the batch size rounded up to a bucket; the padding rows compute into the null block.
    bool decode_graphs = true;
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
    // One iteration; empty when nothing is left to run. Same as launch() then complete().
    std::vector<TokenEvent> step();
    // The two halves of a step, so that a caller can do host work (streaming the previous step's
    // tokens) while the device computes: launch() schedules and queues the forward pass and, where
    // it can, the sampling, without waiting; complete() waits, samples on the host if needed,
    // updates the scheduler and reports the tokens. Requests aborted in between are left out.
    bool launch();  // false when nothing was scheduled
    bool in_flight() const { return in_flight_.has_value(); }
    std::vector<TokenEvent> complete();

    const Scheduler& scheduler() const { return scheduler_; }

    // Decode steps of up to this many sequences replay graphs: even at 1024 a step's hundreds of
    // launches leave the GPU idle between kernels when issued one by one.
    static constexpr int64_t kMaxGraphBatch = 1024;
    // The graph batch size for n decodes: n rounded up to a bucket (1, 2, 4, 8, then multiples of
    // 8, 16 past 64, 32 past 128 and 64 past 512); 0 past kMaxGraphBatch.
    static int64_t graph_batch(int64_t n);
    int64_t decode_graphs_captured() const { return int64_t(decode_graphs_.size()); }

private:
    // The forward pass of a step: a decode graph's replay where one applies, else eager.
    Tensor forward(const Schedule& schedule, std::span<const PagedChunk> chunks);
    Tensor replay_decode_graph(std::span<const PagedChunk> chunks, int64_t batch);

    // Chooses the tokens of the chunks that sample: on the host with each request's Sampler, or on
    // the device (only the ids come back) when no request of the step uses penalties.
    bool samples_on_device(const Schedule& schedule, const Tensor& logits) const;
    std::vector<SampledToken> sample_on_host(const Schedule& schedule, const Tensor& logits);
    Tensor launch_device_sampling(const Schedule& schedule, const Tensor& logits);  // ids [rows] on the device
    std::vector<SampledToken> collect_device_samples(const Schedule& schedule, const Tensor& ids);

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
    bool decode_graphs_enabled_ = false;
    Scheduler scheduler_;
    KvCache kv_;
    struct DecodeGraph {
        StepInputs inputs;  // same shapes and device addresses at every replay
        std::unique_ptr<ops::DeviceGraph> graph;
    };
    std::map<int64_t, DecodeGraph> decode_graphs_;  // by batch size; all share one graph memory pool
    Tensor graph_logits_;                            // [largest graph batch, vocab]: every graph's output rows
    int64_t graph_kv_bound_ = 0;                     // attention bound of graphs: max_model_len in whole blocks
    const int32_t pad_token_ = 0;
    const std::vector<int32_t> pad_blocks_{0};       // padding rows write into the null block
    std::unordered_map<uint64_t, RequestState> states_;
    std::unordered_map<uint64_t, Logprobs> step_logprobs_;  // of this step's tokens, by request
    struct InFlight {
        Schedule schedule;
        Tensor logits;      // one row per chunk
        Tensor device_ids;  // set when the device samples
    };
    std::optional<InFlight> in_flight_;
};

}  // namespace turbolm
