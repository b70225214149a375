// Which architectures we run and how each reads its config and weights. Adding an architecture is
// one file that defines its two functions and one line in registry.cpp.
#pragma once

#include <string>
#include <vector>

#include "io/hf_config.h"
#include "models/layers.h"
#include "models/model_config.h"
#include "models/weights.h"

namespace turbolm {

struct Architecture {
    const char* name;  // the HF class in config.json's "architectures"
    ModelConfig (*parse_config)(const HfConfig& hf);
    ModelWeights (*load_weights)(const ModelConfig& cfg, const WeightSource& src);
};

// Throws kUnimplemented (listing what is supported) for an architecture we do not know.
const Architecture& architecture_for(const HfConfig& hf);
std::vector<std::string> supported_architectures();

// The architecture files.
ModelConfig parse_llama_config(const HfConfig& hf);
ModelWeights load_llama_weights(const ModelConfig& cfg, const WeightSource& src);
ModelConfig parse_mistral_config(const HfConfig& hf);
ModelConfig parse_qwen2_config(const HfConfig& hf);
ModelWeights load_qwen2_weights(const ModelConfig& cfg, const WeightSource& src);
ModelConfig parse_qwen3_config(const HfConfig& hf);
ModelWeights load_qwen3_weights(const ModelConfig& cfg, const WeightSource& src);
ModelConfig parse_mixtral_config(const HfConfig& hf);
ModelWeights load_mixtral_weights(const ModelConfig& cfg, const WeightSource& src);
ModelConfig parse_gpt2_config(const HfConfig& hf);
ModelWeights load_gpt2_weights(const ModelConfig& cfg, const WeightSource& src);
ModelConfig parse_falcon_config(const HfConfig& hf);
ModelWeights load_falcon_weights(const ModelConfig& cfg, const WeightSource& src);

}  // namespace turbolm
