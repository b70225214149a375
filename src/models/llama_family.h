// The decoder shared by Llama, Mistral, Qwen2, Qwen3 and Mixtral: pre-norm RMSNorm blocks, rotary
// attention with grouped key/value heads, SwiGLU or mixture-of-experts MLP, and the HF weight names
// model.layers.{i}.self_attn.*, .mlp.*, .input_layernorm, .post_attention_layernorm.
#pragma once

#include <string>

#include "models/layers.h"
#include "models/model_config.h"
#include "models/weights.h"

namespace turbolm {

struct LlamaFlavor {
    bool qkv_bias = false;
    bool o_bias = false;
    bool mlp_bias = false;
};

// Reads the keys common to the family; each architecture adjusts the result.
ModelConfig parse_llama_family_config(const HfConfig& hf, bool tie_default);
// Attention windows from "layer_types" (5.x) when present, else `window` for every layer.
void set_layer_windows(const HfConfig& hf, int64_t window, ModelConfig* cfg);

ModelWeights load_llama_family_weights(const ModelConfig& cfg, const WeightSource& src, const LlamaFlavor& flavor);

}  // namespace turbolm
