#include "models/registry.h"

#include "core/error.h"

namespace turbolm {
namespace {

const Architecture kArchitectures[] = {
    {"LlamaForCausalLM", parse_llama_config, load_llama_weights},
    {"MistralForCausalLM", parse_mistral_config, load_llama_weights},
    {"Qwen2ForCausalLM", parse_qwen2_config, load_qwen2_weights},
    {"Qwen3ForCausalLM", parse_qwen3_config, load_qwen3_weights},
    {"MixtralForCausalLM", parse_mixtral_config, load_mixtral_weights},
    {"GPT2LMHeadModel", parse_gpt2_config, load_gpt2_weights},
    {"FalconForCausalLM", parse_falcon_config, load_falcon_weights},
};

}  // namespace

const Architecture& architecture_for(const HfConfig& hf) {
    const std::string name = hf.architecture();
    for (const auto& a : kArchitectures)
        if (name == a.name) return a;
    std::string list;
    for (const auto& a : kArchitectures) list += (list.empty() ? "" : ", ") + std::string(a.name);
    fail(StatusCode::kUnimplemented, hf.source(), ": architecture '", name, "' is not supported (supported: ", list,
         ")");
}

std::vector<std::string> supported_architectures() {
    std::vector<std::string> out;
    for (const auto& a : kArchitectures) out.push_back(a.name);
    return out;
}

}  // namespace turbolm
