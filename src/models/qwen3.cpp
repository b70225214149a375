// Qwen3 (Qwen3ForCausalLM): the Llama decoder with an RMSNorm on every query and key head before
// the rotation, and head_dim independent of hidden_size / heads.
#include "models/llama_family.h"
#include "models/registry.h"

namespace turbolm {

ModelConfig parse_qwen3_config(const HfConfig& hf) {
    ModelConfig c = parse_llama_family_config(hf, /*tie_default=*/false);
    c.qk_norm = true;
    return c;
}

ModelWeights load_qwen3_weights(const ModelConfig& cfg, const WeightSource& src) {
    LlamaFlavor flavor;
    flavor.qkv_bias = flavor.o_bias = cfg.attention_bias;
    return load_llama_family_weights(cfg, src, flavor);
}

}  // namespace turbolm
