// Llama 2 / 3 / 3.x (LlamaForCausalLM): GQA, RoPE with any HF scaling type, optional attention
// and MLP biases, explicit head_dim, tied or untied embeddings.
#include "models/llama_family.h"
#include "models/registry.h"

namespace turbolm {

ModelConfig parse_llama_config(const HfConfig& hf) { return parse_llama_family_config(hf, /*tie_default=*/false); }

ModelWeights load_llama_weights(const ModelConfig& cfg, const WeightSource& src) {
    LlamaFlavor flavor;
    // Llama's attention_bias covers q, k, v and o; mlp_bias the three MLP projections.
    flavor.qkv_bias = flavor.o_bias = cfg.attention_bias;
    flavor.mlp_bias = cfg.mlp_bias;
    return load_llama_family_weights(cfg, src, flavor);
}

}  // namespace turbolm
