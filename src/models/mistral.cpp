// Mistral (MistralForCausalLM): the Llama decoder with sliding-window attention on every layer.
#include "models/llama_family.h"
#include "models/registry.h"

namespace turbolm {

ModelConfig parse_mistral_config(const HfConfig& hf) {
    ModelConfig c = parse_llama_family_config(hf, /*tie_default=*/false);
    if (!hf.json().contains("layer_types")) set_layer_windows(hf, hf.get_int_or("sliding_window", 0), &c);
    return c;
}

}  // namespace turbolm
