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
    c.quant = quant::parse_quantization_config(hf);
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
void walk_moe(const ModelConfig& cfg, bool fused, const std::string& layer, MoeFfn& moe, WeightVisitor& v) {
    const int64_t E = cfg.n_expert, D = cfg.n_embd, F = cfg.n_ff;
    if (moe.experts.empty()) moe.experts.resize(size_t(E));
    if (fused) {
        v.linear(layer + ".mlp.gate", moe.router, E, D, false, /*quantizable=*/false, {});
        Tensor gate_up, down;
        v.matrix(layer + ".mlp.experts.gate_up_proj", gate_up, {E, 2 * F, D}, WeightKind::kMatrix, {});
        v.matrix(layer + ".mlp.experts.down_proj", down, {E, D, F}, WeightKind::kMatrix, {});
        // Each expert's FFN units split over tensor-parallel ranks like a dense FFN's.
        const AxisRange units = cfg.tp.split() ? ffn_rows(cfg) : AxisRange{0, F};
        for (int64_t e = 0; e < E; ++e) {
            GatedFfn& g = moe.experts[size_t(e)];
            Tensor gu = gate_up.select(0, e);
            g.gate.w = take_rows(gu, units);
            g.up.w = take_rows(gu, {F + units.begin, F + units.end});
            g.down.w = take_cols(down.select(0, e), units);
        }
        return;
    }
    const std::string base = layer + ".block_sparse_moe";
    v.linear(base + ".gate", moe.router, E, D, false, /*quantizable=*/false, {});
    for (int64_t e = 0; e < E; ++e) {
        const std::string ex = base + ".experts." + std::to_string(e);
        GatedFfn& g = moe.experts[size_t(e)];
        // AWQ, GPTQ and FP8 Mixtral checkpoints quantize the experts (never the router).
        v.linear(ex + ".w1", g.gate, F, D, false, /*quantizable=*/true, ffn_up_part(cfg));
        v.linear(ex + ".w3", g.up, F, D, false, /*quantizable=*/true, ffn_up_part(cfg));
        v.linear(ex + ".w2", g.down, D, F, false, /*quantizable=*/true, ffn_down_part(cfg));
    }
}

std::string layer_prefix(int64_t i) { return "model.layers." + std::to_string(i); }

}  // namespace

void walk_llama_family(const ModelConfig& cfg, const LlamaFlavor& flavor, bool moe_fused, ModelWeights& w,
                       WeightVisitor& v) {
    const int64_t D = cfg.n_embd, hd = cfg.head_dim;
    v.matrix("model.embed_tokens.weight", w.tok_embd, {cfg.n_vocab, D}, WeightKind::kEmbedding, vocab_part(cfg));
    if (w.layers.empty()) w.layers.resize(size_t(cfg.n_layer));
    for (int64_t i = 0; i < cfg.n_layer; ++i) {
        const std::string layer = layer_prefix(i);
        const std::string attn = layer + ".self_attn";
        LayerWeights& lw = w.layers[size_t(i)];
        v.vector(layer + ".input_layernorm.weight", lw.attn_norm.w, D, WeightKind::kNormScale);
        v.vector(layer + ".post_attention_layernorm.weight", lw.mlp_norm.w, D, WeightKind::kNormScale);
        v.linear(attn + ".q_proj", lw.attn.q, cfg.n_head * hd, D, flavor.qkv_bias, true, q_part(cfg));
        v.linear(attn + ".k_proj", lw.attn.k, cfg.n_head_kv * hd, D, flavor.qkv_bias, true, kv_part(cfg));
        v.linear(attn + ".v_proj", lw.attn.v, cfg.n_head_kv * hd, D, flavor.qkv_bias, true, kv_part(cfg));
        v.linear(attn + ".o_proj", lw.attn.o, D, cfg.n_head * hd, flavor.o_bias, true, o_part(cfg));
        if (cfg.qk_norm) {
            v.vector(attn + ".q_norm.weight", lw.attn.q_norm.w, hd, WeightKind::kNormScale);
            v.vector(attn + ".k_norm.weight", lw.attn.k_norm.w, hd, WeightKind::kNormScale);
        }
        if (cfg.ffn == FfnKind::kMoe) {
            walk_moe(cfg, moe_fused, layer, lw.moe, v);
        } else {
            v.linear(layer + ".mlp.gate_proj", lw.gated.gate, cfg.n_ff, D, flavor.mlp_bias, true, ffn_up_part(cfg));
            v.linear(layer + ".mlp.up_proj", lw.gated.up, cfg.n_ff, D, flavor.mlp_bias, true, ffn_up_part(cfg));
            v.linear(layer + ".mlp.down_proj", lw.gated.down, D, cfg.n_ff, flavor.mlp_bias, true, ffn_down_part(cfg));
        }
    }
    v.vector("model.norm.weight", w.final_norm.w, D, WeightKind::kNormScale);
    if (cfg.tie_embeddings) {
        w.lm_head = Linear{};
        w.lm_head.w = w.tok_embd;
    } else {
        v.linear("lm_head", w.lm_head, cfg.n_vocab, D, false, /*quantizable=*/false, vocab_part(cfg));
    }
}

bool llama_moe_fused(const ModelConfig& cfg, const WeightSource& src) {
    if (cfg.ffn != FfnKind::kMoe || cfg.n_layer == 0) return false;
    const std::string layer = layer_prefix(0);
    return src.has(layer + ".mlp.experts.gate_up_proj") && !src.has(layer + ".block_sparse_moe.gate.weight");
}

bool is_llama_family(const ModelConfig& cfg) {
    for (const char* a : {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
                          "MixtralForCausalLM"})
        if (cfg.architecture == a) return true;
    return false;
}

LlamaFlavor llama_flavor_of(const ModelWeights& w) {
    LlamaFlavor f;
    if (w.layers.empty()) return f;
    const LayerWeights& l = w.layers[0];
    f.qkv_bias = l.attn.q.b.defined() || l.attn.qkv.b.defined();
    f.o_bias = l.attn.o.b.defined();
    f.mlp_bias = l.gated.down.b.defined();
    return f;
}

ModelWeights load_llama_family_weights(const ModelConfig& cfg, const WeightSource& src, const LlamaFlavor& flavor) {
    ModelWeights w;
    LoadingVisitor loader(cfg, src);
    walk_llama_family(cfg, flavor, llama_moe_fused(cfg, src), w, loader);
    return w;
}

}  // namespace turbolm
