// The inverse frequencies of rotary embeddings for each scaling scheme HF implements
// (default, linear, dynamic NTK, llama3, yarn), computed as transformers computes them.
#pragma once

#include "core/tensor.h"
#include "models/model_config.h"

namespace turbolm {

class RopeTable {
public:
    explicit RopeTable(const ModelConfig& cfg);
    // inv_freq f32 [rot_dim / 2] for a forward pass whose longest sequence is seq_len tokens
    // (only dynamic NTK scaling depends on it).
    Tensor inv_freq(int64_t seq_len) const;
    // Factor applied to cos and sin (yarn's attention factor; 1 otherwise).
    float attention_scale() const { return attention_scale_; }

private:
    ModelConfig cfg_;
    Tensor base_inv_freq_;
    float attention_scale_ = 1.0f;
};

}  // namespace turbolm
