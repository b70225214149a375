// Weights of the building blocks every architecture is made of, and the forward pass of each
// block written in ops only. Architecture files load these; transformer.cpp runs them.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "models/model_config.h"
#include "ops/ops.h"

namespace turbolm {

struct Linear {
    Tensor w;      // [out, in], stored dtype, or int8 when quantized
    Tensor b;      // f32 [out] or undefined
    Tensor scale;  // f32 [out] with int8 w: row r of the weight is w[r, :] * scale[r]
    int64_t out() const { return w.size(0); }
};

struct Norm {
    Tensor w;  // f32 [n]
    Tensor b;  // f32 [n], LayerNorm only (may be undefined)
};

struct AttentionWeights {
    // Either one fused projection with rows [q (n_head*hd); k (n_head_kv*hd); v (n_head_kv*hd)] or three.
    Linear qkv;
    Linear q, k, v;
    Linear o;
    Norm q_norm, k_norm;  // Qwen3: per-head RMSNorm scales [head_dim]
    bool fused() const { return qkv.w.defined(); }
};

struct GatedFfn {
    Linear gate, up, down;
    Linear gate_up;  // rows [gate; up] in one matrix when fused at load (GPU), else undefined
};

struct PlainFfn {
    Linear up, down;
};

struct MoeFfn {
    Linear router;  // [n_expert, n_embd]
    std::vector<GatedFfn> experts;
    // On devices that route without the host: every expert's [gate; up] and down stacked
    // ([E, 2 n_ff, n_embd], [E, n_embd, n_ff]); the experts' own matrices are views into these.
    Tensor gate_up_stacked, down_stacked;
};

struct LayerWeights {
    Norm attn_norm;
    Norm mlp_norm;  // sequential blocks and two-norm parallel blocks
    AttentionWeights attn;
    GatedFfn gated;
    PlainFfn plain;
    MoeFfn moe;
};

// Everything a forward pass needs besides the layers.
struct ModelWeights {
    Tensor tok_embd;  // [n_vocab, n_embd], stored dtype
    Tensor pos_embd;  // [n_ctx_train, n_embd] for learned positions, else undefined
    std::vector<LayerWeights> layers;
    Norm final_norm;
    Linear lm_head;  // w aliases tok_embd when embeddings are tied
};

// Block forwards. x: [T, n_embd] in the activation dtype; the residual is f32 [T, n_embd] and the
// FFN's output is added into it.
void norm_forward(const ModelConfig& cfg, const Norm& n, const Tensor& x, Tensor& y);
// y (+)= x @ l^T + b, whatever form l's weight has (16/32-bit or int8 with scales).
void linear_forward(const Tensor& x, const Linear& l, Tensor& y, ops::MatmulPrecision p, bool accumulate = false);
void ffn_forward(const ModelConfig& cfg, const LayerWeights& lw, const Tensor& x, Tensor& residual,
                 ops::MatmulPrecision precision);
// Whether a step of n_tokens runs its expert layers without the host (so it can be graph-recorded).
bool moe_routes_without_host(const ModelConfig& cfg, const MoeFfn& f, const Tensor& x, int64_t n_tokens);
constexpr int64_t kMaxDeviceRoutedPairs = 64;  // tokens * experts per token

}  // namespace turbolm
