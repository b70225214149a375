// Static-batch generation: the prompts of n sequences are prefilled in one forward step, then every
// sequence advances one token per step. On a GPU each decode step is one CUDA graph replay (captured
// on the first step), sampling happens on the device and only the chosen ids come back to the host.
// `turbolm bench` measures with this; `generate --device cuda` runs one sequence through it.
#pragma once

#include <memory>
#include <vector>

#include "models/model.h"
#include "ops/ops.h"
#include "sampling/sampler.h"
#include "sampling/sampling_params.h"

namespace turbolm {

struct BatchDecoderOptions {
    int64_t n_seqs = 1;
    int64_t capacity = 0;          // positions per sequence (prompt + generated)
    SamplingParams sampling;       // for every sequence; sequence s draws with seed + s
    bool use_graph = true;         // replay decode steps from a captured graph where the device has them
};

class BatchDecoder {
public:
    BatchDecoder(const Model& model, const BatchDecoderOptions& options);
    ~BatchDecoder();

    // Runs every prompt (one per sequence, each non-empty) and returns each sequence's first token.
    const std::vector<int32_t>& prefill(const std::vector<std::vector<int32_t>>& prompts);
    // Feeds every sequence its last token and returns the next ones. Throws once a sequence is full.
    const std::vector<int32_t>& step();
    const std::vector<int32_t>& last_tokens() const { return last_; }
    int64_t length(int64_t seq) const { return kv_.size(seq); }
    uint64_t seed() const { return seed_; }

private:
    void upload_params();
    void sample_on_device(Tensor& logits);
    void step_on_device();

    const Model& model_;
    BatchDecoderOptions options_;
    Device device_;
    KvCache kv_;
    StepInputs inputs_;
    uint64_t seed_ = 0;
    std::vector<int32_t> last_;
    std::vector<std::vector<int32_t>> prompts_, generated_;  // host histories (CPU sampling)
    std::vector<Sampler> cpu_samplers_;
    // Device sampling state.
    std::vector<ops::SamplingRowParams> params_host_;
    Tensor params_, counts_, seen_, ids_, no_logprobs_;
    bool penalties_ = false;
    std::unique_ptr<ops::DeviceGraph> graph_;
    bool warmed_up_ = false;
};

}  // namespace turbolm
