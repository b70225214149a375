// Loading helpers every architecture file uses: linear layers, LayerNorms and the LM head (tied to
// the embedding or not), each checked against the shapes the config implies.
#pragma once

#include <string>

#include "models/layers.h"
#include "models/model_config.h"
#include "models/weights.h"

namespace turbolm {

// <prefix>.weight [out, in] in its stored dtype, and <prefix>.bias [out] as f32 when `bias`.
Linear load_linear(const WeightSource& src, const std::string& prefix, int64_t out, int64_t in, bool bias);
// <prefix>.weight and <prefix>.bias, both [n], as f32.
Norm load_layer_norm(const WeightSource& src, const std::string& prefix, int64_t n);
// The output projection: the embedding itself when tied, else `name` [n_vocab, n_embd].
Linear load_lm_head(const ModelConfig& cfg, const WeightSource& src, const Tensor& tok_embd,
                    const std::string& name = "lm_head.weight");

}  // namespace turbolm
