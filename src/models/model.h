// A loaded language model: its configuration, its weights (mmap'd or random), and a forward pass
// that appends tokens to a sequence's KV cache and returns logits. One class serves every
// architecture; the architecture files (registry.h) only translate config.json and weight names.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "io/hf_config.h"
#include "kv/kv_cache.h"
#include "kv/kv_cache_dtype.h"
#include "models/layers.h"
#include "models/model_config.h"
#include "models/rope_table.h"
#include "models/weight_quantization.h"
#include "models/step_inputs.h"
#include "models/weights.h"
#include "parallel/communicator.h"

namespace turbolm {

struct ModelOptions {
    // Build the model from config.json alone with random weights of the config's dtype.
    bool dummy_weights = false;
    uint64_t seed = 0;
    // CPU only: kF32 keeps activations in f32 (the reference); kWeightType multiplies in the weights'
    // 16-bit type. The GPU always multiplies in the 16-bit compute dtype (ops::compute_dtype).
    ops::MatmulPrecision precision = ops::MatmulPrecision::kF32;
    Device device = Device::kCpu;
    // Evaluation only: round every weight matrix and embedding to this 16-bit type (kBF16 or kF16) on
    // load, a candidate with a known small error for `turbolm eval` (models/weight_rounding.h).
    std::optional<DType> round_weights;
    // Weight-only quantization of the layers' projections, after the weights reach the device.
    WeightQuantization quantize = WeightQuantization::kNone;
    // What the KV cache stores: the activation dtype (auto), or 8-bit codes with scales (int8, fp8).
    KvCacheDtype kv_cache_dtype = KvCacheDtype::kAuto;
    // Tensor parallelism: this process is rank comm->rank() of comm->world() and keeps only its part
    // of the weights (models/tensor_parallel.h); every rank runs every step with the same inputs and
    // gets the full logits. Null: the whole model.
    std::shared_ptr<Communicator> comm;
    // Called as the weights reach the device: layers placed so far and in all.
    std::function<void(int64_t, int64_t)> on_progress;
};

class Model {
public:
    // Throws Error naming the file and tensor at fault (missing, truncated, wrong shape or dtype,
    // unknown architecture, unreadable config).
    static std::unique_ptr<Model> load(const std::filesystem::path& dir, const ModelOptions& options = {});
    static std::unique_ptr<Model> build(const HfConfig& hf, const WeightSource& weights, const ModelOptions& options);

    const ModelConfig& config() const { return cfg_; }
    const ModelWeights& weights() const { return w_; }
    // For quantization after calibration (turbolm quantize), before the model is used for serving.
    ModelWeights& mutable_weights() { return w_; }
    const ModelOptions& options() const { return options_; }

    Device device() const { return options_.device; }
    // The dtype of matrix-product inputs: f32 on the CPU, 16-bit on the GPU.
    DType activation_dtype() const { return act_dtype_; }
    // The element type of the KV cache pools: the activation dtype, or kI8 / kF8E4M3 (with scales).
    DType kv_dtype() const { return kv_dtype_; }

    // Whether a step of n_tokens can be recorded in a device graph: no host decisions inside it
    // (mixture-of-experts routing on the host for larger steps) and no length-dependent rotary tables.
    bool graph_capturable(int64_t n_tokens) const;
    // A cache on the model's device for n_seqs sequences of up to `capacity` positions each.
    KvCache new_kv_cache(int64_t capacity, int64_t n_seqs = 1) const;

    // Runs `tokens` at the positions after those already in `kv`, appends their keys and values, and
    // returns f32 logits [1, n_vocab] for the last token, or [tokens, n_vocab] when all_logits, on the CPU.
    Tensor forward(std::span<const int32_t> tokens, KvCache& kv, bool all_logits = false) const;
    // One step over several sequences: f32 logits on the model's device, one row per chunk (its last
    // token) or one per token for chunks with all_logits, in chunk order. Commits the chunks to kv.
    Tensor forward_batch(std::span<const SequenceChunk> chunks, KvCache& kv) const;
    // One step over chunks of a paged cache (a KvCache made with capacity = block size and
    // n_seqs = number of blocks; the chunks' block tables index its blocks). Logits as forward_batch;
    // nothing is committed to kv: the block manager keeps the lengths.
    Tensor forward_paged(std::span<const PagedChunk> chunks, KvCache& kv) const;
    // The device work of a step whose inputs are already uploaded: no host synchronisation, no
    // transfers, so it can be captured in a graph. Does not commit to kv. The logits go to
    // `logits_out` when given (f32 [logit rows, n_vocab] on the device: a graph's output that
    // outlives its scratch memory), else to a new tensor.
    Tensor run(const StepInputs& in, KvCache& kv, const Tensor* logits_out = nullptr) const;

    int64_t parameter_count() const;  // tied weights counted once
    size_t weight_bytes() const;

private:
    Model(ModelConfig cfg, ModelWeights w, ModelOptions options);
    void attention_block(int64_t layer, const ProductInput& x, const StepInputs& in, KvCache& kv,
                         Tensor& residual) const;
    // What the attention's norm hands to its input products (qkv, or q, k and v) in a step of n_tokens.
    NormHandoff attention_norm_handoff(int64_t layer, int64_t n_tokens) const;
    // Under tensor parallelism: before a block, ranks other than 0 clear the residual, so that the
    // partial sums the block adds are theirs alone; after it, the all-reduce adds them all up.
    void begin_partial_sums(Tensor& residual) const;
    void end_partial_sums(Tensor& residual) const;
    void embed(const StepInputs& in, Tensor& x) const;
    void lm_head_forward(const Tensor& normed, Tensor& logits) const;
    // Token ids inside the vocabulary, positions inside learned position tables.
    void check_tokens(std::span<const int32_t> tokens, int64_t start) const;
    // The rotary inverse frequencies on the model's device for sequences of up to max_len tokens.
    const Tensor& inv_freq_for(int64_t max_len) const;

    ModelConfig cfg_;
    ModelWeights w_;
    ModelOptions options_;
    RopeTable rope_;
    DType act_dtype_ = DType::kF32;
    DType kv_dtype_ = DType::kF32;
    mutable Tensor inv_freq_;  // cached device copy
    mutable int64_t inv_freq_len_ = -1;
};

}  // namespace turbolm
