// A loaded language model: its configuration, its weights (mmap'd or random), and a forward pass
// that appends tokens to a sequence's KV cache and returns logits. One class serves every
// architecture; the architecture files (registry.h) only translate config.json and weight names.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "io/hf_config.h"
#include "kv/kv_cache.h"
#include "models/layers.h"
#include "models/model_config.h"
#include "models/rope_table.h"
#include "models/weights.h"

namespace turbolm {

struct ModelOptions {
    // Build the model from config.json alone with random weights of the config's dtype.
    bool dummy_weights = false;
    uint64_t seed = 0;
    // kF32 keeps activations in f32 (the reference); kWeightType multiplies in the weights' 16-bit type.
    ops::MatmulPrecision precision = ops::MatmulPrecision::kF32;
};

class Model {
public:
    // Throws Error naming the file and tensor at fault (missing, truncated, wrong shape or dtype,
    // unknown architecture, unreadable config).
    static std::unique_ptr<Model> load(const std::filesystem::path& dir, const ModelOptions& options = {});
    static std::unique_ptr<Model> build(const HfConfig& hf, const WeightSource& weights, const ModelOptions& options);

    const ModelConfig& config() const { return cfg_; }
    const ModelWeights& weights() const { return w_; }
    const ModelOptions& options() const { return options_; }

    KvCache new_kv_cache(int64_t capacity) const;

    // Runs `tokens` at the positions after those already in `kv`, appends their keys and values, and
    // returns f32 logits [1, n_vocab] for the last token, or [tokens, n_vocab] when all_logits.
    Tensor forward(std::span<const int32_t> tokens, KvCache& kv, bool all_logits = false) const;

    int64_t parameter_count() const;  // tied weights counted once
    size_t weight_bytes() const;

private:
    Model(ModelConfig cfg, ModelWeights w, ModelOptions options);
    void attention_block(int64_t layer, const Tensor& x, const Tensor& pos, const Tensor& inv_freq, KvCache& kv,
                         Tensor& residual) const;

    ModelConfig cfg_;
    ModelWeights w_;
    ModelOptions options_;
    RopeTable rope_;
};

}  // namespace turbolm
