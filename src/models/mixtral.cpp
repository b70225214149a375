// Mixtral (MixtralForCausalLM): the Mistral decoder whose MLP is a mixture of SwiGLU experts with
// top-k routing (softmax, keep k, renormalize).
#include "models/llama_family.h"
#include "models/registry.h"

namespace turbolm {

ModelConfig parse_mixtral_config(const HfConfig& hf) {
    ModelConfig c = parse_llama_family_config(hf, /*tie_default=*/false);
    if (!hf.json().contains("layer_types")) set_layer_windows(hf, hf.get_int_or("sliding_window", 0), &c);
    c.ffn = FfnKind::kMoe;
    c.n_expert = hf.get_int("num_local_experts");
    c.n_expert_used = hf.get_int("num_experts_per_tok");
    c.moe_renormalize = true;
    return c;
}

ModelWeights load_mixtral_weights(const ModelConfig& cfg, const WeightSource& src) {
    return load_llama_family_weights(cfg, src, LlamaFlavor{});
}

}  // namespace turbolm
