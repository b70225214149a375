// The hyperparameters every architecture is reduced to. Architecture files fill this from
// config.json; the shared transformer reads only this, never the JSON.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/hf_config.h"
#include "ops/ops.h"
#include "quant/quantization_config.h"

namespace turbolm {

enum class NormKind : uint8_t { kRms, kLayer };
enum class FfnKind : uint8_t { kGated, kPlain, kMoe };  // SwiGLU-style, up/act/down, mixture of gated experts

// Which rank of a tensor-parallel group this model is (models/tensor_parallel.h splits its weights).
struct TensorParallel {
    int rank = 0;
    int world = 1;
    bool split() const { return world > 1; }
};

struct ModelConfig {
    std::string architecture;  // "LlamaForCausalLM"
    std::string model_type;    // "llama"
    int64_t n_vocab = 0;
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;
    int64_t n_ff = 0;
    int64_t n_ctx_train = 0;  // max_position_embeddings / n_positions

    NormKind norm = NormKind::kRms;
    float norm_eps = 1e-5f;
    ops::Activation act = ops::Activation::kSilu;
    FfnKind ffn = FfnKind::kGated;
    int64_t n_expert = 0;
    int64_t n_expert_used = 0;
    bool moe_renormalize = true;  // rescale the chosen experts' weights to sum to 1

    // Falcon: attention and MLP read the same input and both add into the residual.
    bool parallel_residual = false;
    // With parallel_residual, whether the MLP has its own input norm (Falcon-40B style).
    bool parallel_two_norms = false;

    bool use_rope = true;
    RopeConfig rope;
    int64_t rot_dim = 0;              // dims rotated per head (partial rotary)
    bool learned_positions = false;   // GPT-2: position embedding table added to the input
    std::vector<int64_t> layer_window;  // per layer sliding window, 0 = full attention
    float attn_scale = 1.0f;          // usually 1/sqrt(head_dim)
    bool attn_scale_inverse_layer = false;  // GPT-2 option: divide scores by layer index + 1
    bool qk_norm = false;             // Qwen3: RMSNorm on each q and k head
    bool attention_bias = false;      // config's attention_bias (Llama: q, k, v and o; Qwen3: q, k, v, o)
    bool mlp_bias = false;

    // Falcon's fused query_key_value layout (see falcon.cpp).
    bool falcon_new_arch = false;
    bool falcon_multi_query = false;

    bool tie_embeddings = false;
    DType dtype = DType::kF32;  // the checkpoint's declared dtype (and the dtype of dummy weights)
    std::optional<int32_t> bos_token_id;
    std::vector<int32_t> eos_token_ids;
    // config.json's quantization_config: the packed layout of the projections (docs/quantization.md).
    // Architectures that read quantized checkpoints set it; validate() refuses one for the others.
    quant::QuantizationConfig quant;
    // The part of the model this process runs. Loading reads the full sizes above and keeps this
    // rank's part; the loaded model's config then holds the rank's sizes (local_config).
    TensorParallel tp;

    // Bytes of KV cache per token (f32 keys and values, all layers).
    int64_t kv_bytes_per_token() const { return n_layer * 2 * n_head_kv * head_dim * 4; }
};

// Reads ids that config.json may carry (bos_token_id, eos_token_id as int or list).
void read_special_ids(const HfConfig& hf, ModelConfig* cfg);
// Maps HF activation names (silu, gelu, gelu_new, gelu_pytorch_tanh, relu, ...) to ours.
ops::Activation parse_activation(const HfConfig& hf, const std::string& key, const std::string& fallback);
// Checks the fields every architecture must set, naming config.json in the message, and that a
// quantized checkpoint's architecture reads its quantization_config.
void validate(const ModelConfig& cfg, const HfConfig& hf);

}  // namespace turbolm
