// The decoder shared by Llama, Mistral, Qwen2, Qwen3 and Mixtral: pre-norm RMSNorm blocks, rotary
// attention with grouped key/value heads, SwiGLU or mixture-of-experts MLP, and the HF weight names
// model.layers.{i}.self_attn.*, .mlp.*, .input_layernorm, .post_attention_layernorm.
#pragma once

#include <string>

#include "models/layers.h"
#include "models/model_config.h"
#include "models/weight_walk.h"
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

// The one place the family's tensor names live: every weight in load order (model.embed_tokens;
// per layer the two norms, self_attn.{q,k,v,o}_proj, q_norm/k_norm, mlp.{gate,up,down}_proj or the
// experts; model.norm; lm_head unless tied). Sizes w.layers (and the experts) when they are empty.
// moe_fused: Mixtral's experts as transformers 5 stores them (mlp.experts.gate_up_proj [E, 2 ff, D]
// and down_proj [E, D, ff]) instead of 4.x's block_sparse_moe.experts.{e}.w1/w3/w2; loading only.
void walk_llama_family(const ModelConfig& cfg, const LlamaFlavor& flavor, bool moe_fused, ModelWeights& w,
                       WeightVisitor& v);
// Whether a checkpoint stores Mixtral's experts in transformers 5's fused layout.
bool llama_moe_fused(const ModelConfig& cfg, const WeightSource& src);
// Llama, Mistral, Qwen2, Qwen3 and Mixtral: the architectures walk_llama_family covers.
bool is_llama_family(const ModelConfig& cfg);
// The biases loaded weights carry (a model's own flavor, whichever architecture file loaded it).
LlamaFlavor llama_flavor_of(const ModelWeights& w);

}  // namespace turbolm
