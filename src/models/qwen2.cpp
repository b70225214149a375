// Qwen2 / Qwen2.5 (Qwen2ForCausalLM): the Llama decoder with biases on q, k and v (not o), and a
// sliding window only on layers from max_window_layers on when use_sliding_window is set.
#include "models/llama_family.h"
#include "models/registry.h"

namespace turbolm {

ModelConfig parse_qwen2_config(const HfConfig& hf) {
    ModelConfig c = parse_llama_family_config(hf, /*tie_default=*/false);
    if (!hf.json().contains("layer_types")) {
        const bool sliding = hf.get_bool_or("use_sliding_window", false);
        const int64_t window = hf.get_int_or("sliding_window", 0);
        const int64_t first = hf.get_int_or("max_window_layers", c.n_layer);
        set_layer_windows(hf, 0, &c);
        for (int64_t i = 0; i < c.n_layer; ++i)
            if (sliding && i >= first) c.layer_window[size_t(i)] = window;
    }
    return c;
}

ModelWeights load_qwen2_weights(const ModelConfig& cfg, const WeightSource& src) {
    LlamaFlavor flavor;
    flavor.qkv_bias = true;
    return load_llama_family_weights(cfg, src, flavor);
}

}  // namespace turbolm
