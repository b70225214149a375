// Weights of the building blocks every architecture is made of, and the forward pass of each
// block written in ops only. Architecture files load these; transformer.cpp runs them.
#pragma once

#include <initializer_list>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "models/model_config.h"
#include "ops/ops.h"

namespace turbolm {

// How a projection's weight is stored; linear_forward picks the product from it.
enum class WeightFormat : uint8_t {
    kDense,     // w [out, in] f32/bf16/f16
    kInt8,      // weight-only: w i8 [out, in], scale f32 [out]
    kInt4,      // weight-only, groups along the input: w u8 [out, in/2] (two codes per byte), scale f16
                //   [out, in/group], zero u8 [out, in/group]; optional in_perm (GPTQ act-order)
    kFp8,       // W8A8: w f8e4m3 [out, in], scale f32 [out]; activations quantized per token
    kW8A8Int8,  // SmoothQuant W8A8: w i8 [out, in], scale f32 [out], optional inv_smooth f32 [in]
    kFp8Block,  // W8A8 with block scales (DeepSeek's recipe): w f8e4m3 [out, in], scale f32 [out/128, in/128]
                //   (out and in multiples of 128); activations quantized per token and 128 columns
};
const char* weight_format_name(WeightFormat f);

struct Linear {
    Tensor w;           // see WeightFormat
    Tensor b;           // f32 [out] or undefined
    Tensor scale;       // quantized formats: see WeightFormat
    Tensor zero;        // kInt4: u8 [out, in/group], codes 0..15
    Tensor inv_smooth;  // kW8A8Int8: f32 [in], activations are multiplied by it before quantizing
    Tensor in_perm;     // kInt4: i32 [in] or undefined; the product sees x[:, in_perm[c]] as column c
    int64_t group = 0;  // kInt4: input columns per scale
    WeightFormat format = WeightFormat::kDense;
    int64_t out() const { return w.size(0); }
    // The input width, whatever the storage (int4 packs two columns per byte).
    int64_t in() const { return format == WeightFormat::kInt4 ? w.size(1) * 2 : w.size(1); }
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

// What the products that read one activation get: its rows x; or, where every one of them is FP8
// W8A8, only the per-token FP8 codes and scales they would have made of x, computed by the kernel
// that produces the activation (the rows are then never written or read back); or, for one INT4
// product of a decode step, the residual and the RMSNorm that make the rows, which the product
// makes itself (ops::linear_int4_rms_normed).
struct ProductInput {
    Tensor x;                 // [T, in] in the activation dtype, or undefined
    Tensor codes, scales;     // f8e4m3 [T, in] and f32 [T], or undefined
    Tensor residual, norm_w;  // f32 [T, in] and [in], or undefined
    float eps = 0.0f;
    DType dtype;  // the activation dtype (of x, or of the rows the others stand for)
    ProductInput(Tensor rows) : x(std::move(rows)), dtype(x.dtype()) {}
    ProductInput(Tensor c, Tensor s, DType rows_dtype) : codes(std::move(c)), scales(std::move(s)), dtype(rows_dtype) {}
    static ProductInput rms_normed(Tensor residual, Tensor norm_w, float eps, DType rows_dtype) {
        ProductInput in(Tensor(), Tensor(), rows_dtype);
        in.residual = std::move(residual);
        in.norm_w = std::move(norm_w);
        in.eps = eps;
        return in;
    }
    const Tensor& some() const { return x.defined() ? x : codes.defined() ? codes : residual; }
    int64_t rows() const { return some().size(0); }
    Device device() const { return some().device(); }
};

// Whether the given products (null entries skipped, at least one given) can all take FP8 codes:
// all FP8 W8A8 and none observed (calibration sees the rows themselves).
bool take_fp8_codes(std::initializer_list<const Linear*> products);
// Whether the one product given (null entries skipped) makes its input rows itself from what a
// kernel before it would have turned into them (a norm or a gated activation): INT4 without a
// column permutation, not observed, for a decode step of at most ops::kInt4RowsMadeMax tokens.
bool make_rows_in_product(std::initializer_list<const Linear*> products, int64_t n_tokens);

// What a norm hands to the products that read it. Not the residual itself where tensor parallelism
// splits the layers: ranks other than 0 zero their residual between the norm and the products.
enum class NormHandoff { kRows, kFp8Codes, kNormedRows };
NormHandoff norm_handoff(const ModelConfig& cfg, std::initializer_list<const Linear*> products, int64_t n_tokens);

// Block forwards. x: [T, n_embd] in the activation dtype; the residual is f32 [T, n_embd] and the
// FFN's output is added into it.
void norm_forward(const ModelConfig& cfg, const Norm& n, const Tensor& x, Tensor& y);
// The norm of x for products that read nothing else, as `how` says (RMSNorm only; LayerNorm always
// hands rows): the rows written to y (the activation dtype, [T, n_embd]), their FP8 codes, or x and
// the norm for the product to make the rows.
ProductInput norm_for_products(const ModelConfig& cfg, const Norm& n, const Tensor& x, NormHandoff how, Tensor& y);
// y (+)= x @ l^T + b, whatever form l's weight has (see WeightFormat).
void linear_forward(const Tensor& x, const Linear& l, Tensor& y, ops::MatmulPrecision p, bool accumulate = false);
void linear_forward(const ProductInput& in, const Linear& l, Tensor& y, ops::MatmulPrecision p,
                    bool accumulate = false);
// The FFN products that read the block's input: the fused [gate; up] or gate and up (gated FFNs), or
// none (the other kinds, whose input is always rows).
NormHandoff ffn_norm_handoff(const ModelConfig& cfg, const LayerWeights& lw, int64_t n_tokens);
void ffn_forward(const ModelConfig& cfg, const LayerWeights& lw, const ProductInput& x, Tensor& residual,
                 ops::MatmulPrecision precision);
// Whether a step of n_tokens runs its expert layers without the host (so it can be graph-recorded).
bool moe_routes_without_host(const ModelConfig& cfg, const MoeFfn& f, const Tensor& x, int64_t n_tokens);
constexpr int64_t kMaxDeviceRoutedPairs = 64;  // tokens * experts per token

}  // namespace turbolm
