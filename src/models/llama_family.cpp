#include "models/llama_family.h"

#include <cmath>

#include "core/error.h"
#include "models/loading.h"

namespace turbolm {

ModelConfig parse_llama_family_config(const HfConfig& hf, bool tie_default) {
    ModelConfig c;
    c.architecture = hf.architecture();
    c.model_type = hf.model_type();
    c.n_vocab = hf.get_int("vocab_size");
    c.n_embd = hf.get_int("hidden_size");
    c.n_layer = hf.get_int("num_hidden_layers");
    c.n_head = hf.get_int("num_attention_heads");
    c.n_head_kv = hf.get_int_or("num_key_value_heads", c.n_head);
    c.head_dim = hf.get_int_or("head_dim", c.n_head > 0 ? c.n_embd / c.n_head : 0);
    c.n_ff = hf.get_int("intermediate_size");
    c.n_ctx_train = hf.get_int_or("max_position_embeddings", 2048);
    c.norm = NormKind::kRms;
    c.norm_eps = float(hf.get_double_or("rms_norm_eps", 1e-6));
    c.act = parse_activation(hf, "hidden_act", "silu");
    c.ffn = FfnKind::kGated;
    c.rope = hf.rope();
    c.rot_dim = int64_t(double(c.head_dim) * c.rope.partial_rotary_factor);
    c.attn_scale = c.head_dim > 0 ? float(1.0 / std::sqrt(double(c.head_dim))) : 1.0f;
    c.tie_embeddings = hf.get_bool_or("tie_word_embeddings", tie_default);
    c.dtype = hf.dtype();
    c.attention_bias = hf.get_bool_or("attention_bias", false);
    c.mlp_bias = hf.get_bool_or("mlp_bias", false);
    set_layer_windows(hf, 0, &c);
    read_special_ids(hf, &c);
    return c;
}

void set_layer_windows(const HfConfig& hf, int64_t window, ModelConfig* cfg) {
    cfg->layer_window.assign(size_t(std::max<int64_t>(cfg->n_layer, 0)), window);
    const auto& j = hf.json();
    if (!j.contains("layer_types") || !j["layer_types"].is_array()) return;
    const auto& types = j["layer_types"];
    if (int64_t(types.size()) != cfg->n_layer)
        fail(StatusCode::kInvalidArgument, hf.source(), ": layer_types has ", types.size(), " entries for ",
             cfg->n_layer, " layers");
    const int64_t sliding = hf.get_int_or("sliding_window", 0);
    for (size_t i = 0; i < types.size(); ++i)
        cfg->layer_window[i] = types[i] == "sliding_attention" ? sliding : 0;
}

namespace {

// Mixtral's experts: per-expert w1 (gate), w3 (up), w2 (down) in 4.x checkpoints; fused
// mlp.experts.gate_up_proj [E, 2*ff, D] and down_proj [E, D, ff] in 5.x ones.
MoeFfn load_moe(const ModelConfig& cfg, const WeightSource& src, const std::string& layer) {
    MoeFfn moe;
    const int64_t E = cfg.n_expert, D = cfg.n_embd, F = cfg.n_ff;
    const std::string fused = layer + ".mlp.experts.gate_up_proj";
    if (src.has(fused) && !src.has(layer + ".block_sparse_moe.gate.weight")) {
        moe.router = load_linear(src, layer + ".mlp.gate", E, D, false);
        Tensor gate_up = load_matrix(src, fused, {E, 2 * F, D});
        Tensor down = load_matrix(src, layer + ".mlp.experts.down_proj", {E, D, F});
        for (int64_t e = 0; e < E; ++e) {
            GatedFfn g;
            Tensor gu = gate_up.select(0, e);
            g.gate.w = gu.slice(0, 0, F);
            g.up.w = gu.slice(0, F, 2 * F);
            g.down.w = down.select(0, e);
            moe.experts.push_back(g);
        }
        return moe;
    }
    const std::string base = layer + ".block_sparse_moe";
    moe.router = load_linear(src, base + ".gate", E, D, false);
    for (int64_t e = 0; e < E; ++e) {
        const std::string ex = base + ".experts." + std::to_string(e);
        GatedFfn g;
        g.gate = load_linear(src, ex + ".w1", F, D, false);
        g.up = load_linear(src, ex + ".w3", F, D, false);
        g.down = load_linear(src, ex + ".w2", D, F, false);
        moe.experts.push_back(g);
    }
    return moe;
}

}  // namespace

ModelWeights load_llama_family_weights(const ModelConfig& cfg, const WeightSource& src, const LlamaFlavor& flavor) {
    ModelWeights w;
    const int64_t D = cfg.n_embd, hd = cfg.head_dim;
    w.tok_embd = load_matrix(src, "model.embed_tokens.weight", {cfg.n_vocab, D}, WeightKind::kEmbedding);
    for (int64_t i = 0; i < cfg.n_layer; ++i) {
        const std::string layer = "model.layers." + std::to_string(i);
        const std::string attn = layer + ".self_attn";
        LayerWeights lw;
        lw.attn_norm.w = load_vector(src, layer + ".input_layernorm.weight", D, WeightKind::kNormScale);
        lw.mlp_norm.w = load_vector(src, layer + ".post_attention_layernorm.weight", D, WeightKind::kNormScale);
        lw.attn.q = load_linear(src, attn + ".q_proj", cfg.n_head * hd, D, flavor.qkv_bias);
        lw.attn.k = load_linear(src, attn + ".k_proj", cfg.n_head_kv * hd, D, flavor.qkv_bias);
        lw.attn.v = load_linear(src, attn + ".v_proj", cfg.n_head_kv * hd, D, flavor.qkv_bias);
        lw.attn.o = load_linear(src, attn + ".o_proj", D, cfg.n_head * hd, flavor.o_bias);
        if (cfg.qk_norm) {
            lw.attn.q_norm.w = load_vector(src, attn + ".q_norm.weight", hd, WeightKind::kNormScale);
            lw.attn.k_norm.w = load_vector(src, attn + ".k_norm.weight", hd, WeightKind::kNormScale);
        }
        if (cfg.ffn == FfnKind::kMoe) {
            lw.moe = load_moe(cfg, src, layer);
        } else {
            lw.gated.gate = load_linear(src, layer + ".mlp.gate_proj", cfg.n_ff, D, flavor.mlp_bias);
            lw.gated.up = load_linear(src, layer + ".mlp.up_proj", cfg.n_ff, D, flavor.mlp_bias);
            lw.gated.down = load_linear(src, layer + ".mlp.down_proj", D, cfg.n_ff, flavor.mlp_bias);
        }
        w.layers.push_back(std::move(lw));
    }
    w.final_norm.w = load_vector(src, "model.norm.weight", D, WeightKind::kNormScale);
    w.lm_head = load_lm_head(cfg, src, w.tok_embd);
    return w;
}

}  // namespace turbolm
