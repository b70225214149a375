#include "models/model_config.h"

#include "core/error.h"

namespace turbolm {

void read_special_ids(const HfConfig& hf, ModelConfig* cfg) {
    const auto& j = hf.json();
    if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer())
        cfg->bos_token_id = j["bos_token_id"].get<int32_t>();
    if (j.contains("eos_token_id")) {
        const auto& e = j["eos_token_id"];
        if (e.is_number_integer()) cfg->eos_token_ids.push_back(e.get<int32_t>());
        if (e.is_array())
            for (const auto& id : e)
                if (id.is_number_integer()) cfg->eos_token_ids.push_back(id.get<int32_t>());
    }
}

ops::Activation parse_activation(const HfConfig& hf, const std::string& key, const std::string& fallback) {
    const std::string name = hf.get_string_or(key, fallback);
    if (name == "silu" || name == "swish") return ops::Activation::kSilu;
    if (name == "gelu") return ops::Activation::kGeluErf;
    if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return ops::Activation::kGeluTanh;
    if (name == "relu") return ops::Activation::kRelu;
    fail(StatusCode::kUnimplemented, hf.source(), ": activation '", name, "' is not supported");
}

void validate(const ModelConfig& c, const HfConfig& hf) {
    auto need = [&](bool ok, const char* what) {
        if (!ok) fail(StatusCode::kInvalidArgument, hf.source(), ": invalid model dimensions: ", what);
    };
    need(c.n_vocab > 0 && c.n_embd > 0 && c.n_layer > 0 && c.n_head > 0, "vocab, hidden size, layers and heads > 0");
    need(c.n_head_kv > 0 && c.n_head % c.n_head_kv == 0, "attention heads divisible by key/value heads");
    need(c.head_dim > 0 && c.head_dim % 2 == 0, "an even head_dim");
    need(c.n_ff > 0, "intermediate size > 0");
    need(!c.use_rope || (c.rot_dim > 0 && c.rot_dim <= c.head_dim && c.rot_dim % 2 == 0),
         "a rotary dimension that is even and at most head_dim");
    need(c.ffn != FfnKind::kMoe || (c.n_expert > 0 && c.n_expert_used > 0 && c.n_expert_used <= c.n_expert),
         "experts per token between 1 and the number of experts");
    need(int64_t(c.layer_window.size()) == c.n_layer, "one attention window per layer");
    // An architecture that does not read quantization_config would look for 16-bit weights that a
    // quantized checkpoint does not have; say why instead.
    if (hf.has("quantization_config") && !c.quant.quantized() && c.quant.unsupported.empty()) {
        const auto& q = hf.json()["quantization_config"];
        const std::string method = q.is_object() && q.contains("quant_method") ? q["quant_method"].dump() : "?";
        fail(StatusCode::kUnimplemented, hf.source(), ": quantized checkpoints (quant_method ", method,
             ") are not supported for ", c.architecture,
             " (only the Llama family: llama, mistral, qwen2, qwen3, mixtral)");
    }
}

}  // namespace turbolm
