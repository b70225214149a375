// Falcon (FalconForCausalLM): LayerNorm blocks with attention and MLP in parallel off one input
// (7B: shared norm, multi-query) or off two norms (40B/180B "new decoder architecture": grouped
// key/value heads), rotary positions, GELU MLP. The fused query_key_value rows are reordered once
// at load into the [q; k; v] layout the shared attention block reads.
#include <cmath>

#include "models/loading.h"
#include "models/registry.h"

namespace turbolm {
namespace {

struct FalconLayout {
    bool new_arch = false;
    bool multi_query = false;
};

FalconLayout layout_of(const HfConfig& hf) {
    return {hf.get_bool_or("new_decoder_architecture", false), hf.get_bool_or("multi_query", true)};
}

}  // namespace

ModelConfig parse_falcon_config(const HfConfig& hf) {
    if (hf.get_bool_or("alibi", false))
        fail(StatusCode::kUnimplemented, hf.source(), ": Falcon with ALiBi positions is not supported");
    const FalconLayout layout = layout_of(hf);
    ModelConfig c;
    c.architecture = hf.architecture();
    c.model_type = hf.model_type();
    c.n_vocab = hf.get_int("vocab_size");
    c.n_embd = hf.get_int("hidden_size");
    c.n_layer = hf.get_int_any({"num_hidden_layers", "n_layer"});
    c.n_head = hf.get_int_any({"num_attention_heads", "n_head"});
    c.head_dim = c.n_head > 0 ? c.n_embd / c.n_head : 0;
    if (layout.new_arch) {
        c.n_head_kv = hf.has("num_kv_heads") || hf.has("n_head_kv") ? hf.get_int_any({"num_kv_heads", "n_head_kv"})
                                                                     : c.n_head;
    } else {
        c.n_head_kv = layout.multi_query ? 1 : c.n_head;
    }
    c.n_ff = hf.get_int_or("ffn_hidden_size", 4 * c.n_embd);
    c.n_ctx_train = hf.get_int_or("max_position_embeddings", 2048);
    c.norm = NormKind::kLayer;
    c.norm_eps = float(hf.get_double_or("layer_norm_epsilon", 1e-5));
    c.act = parse_activation(hf, "activation", "gelu");
    c.ffn = FfnKind::kPlain;
    const bool parallel = hf.get_bool_or("parallel_attn", true);
    c.parallel_residual = parallel || layout.new_arch;
    c.parallel_two_norms = layout.new_arch && hf.get_int_or("num_ln_in_parallel_attn", 2) == 2;
    c.rope = hf.rope();
    c.rot_dim = c.head_dim;
    c.attn_scale = c.head_dim > 0 ? float(1.0 / std::sqrt(double(c.head_dim))) : 1.0f;
    c.attention_bias = c.mlp_bias = hf.get_bool_or("bias", false);
    c.layer_window.assign(size_t(std::max<int64_t>(c.n_layer, 0)), 0);
    c.tie_embeddings = hf.get_bool_or("tie_word_embeddings", true);
    c.dtype = hf.dtype();
    read_special_ids(hf, &c);
    // Which fused layout the weights use is needed at load; it is implied by these two flags.
    c.falcon_new_arch = layout.new_arch;
    c.falcon_multi_query = layout.multi_query;
    return c;
}

namespace {

// Source row of each [q; k; v] row in Falcon's fused query_key_value weight.
std::vector<int64_t> qkv_row_order(const ModelConfig& c) {
    const int64_t H = c.n_head, Hkv = c.n_head_kv, hd = c.head_dim;
    std::vector<int64_t> order;
    auto push_head = [&](int64_t src_head) {
        for (int64_t d = 0; d < hd; ++d) order.push_back(src_head * hd + d);
    };
    if (c.falcon_new_arch) {
        // On disk: for each kv group g, its q heads, then its k head, then its v head.
        const int64_t per_group = H / Hkv + 2;
        for (int64_t h = 0; h < H; ++h) push_head((h / (H / Hkv)) * per_group + h % (H / Hkv));
        for (int64_t g = 0; g < Hkv; ++g) push_head(g * per_group + per_group - 2);
        for (int64_t g = 0; g < Hkv; ++g) push_head(g * per_group + per_group - 1);
    } else if (c.falcon_multi_query) {
        for (int64_t h = 0; h < H + 2; ++h) push_head(h);  // already q heads, k, v
    } else {
        // On disk: for each head, its q, k and v.
        for (int part = 0; part < 3; ++part)
            for (int64_t h = 0; h < H; ++h) push_head(h * 3 + part);
    }
    return order;
}


}  // namespace

ModelWeights load_falcon_weights(const ModelConfig& cfg, const WeightSource& src) {
    const int64_t D = cfg.n_embd, hd = cfg.head_dim;
    const int64_t qkv_rows = (cfg.n_head + 2 * cfg.n_head_kv) * hd;
    const bool bias = cfg.attention_bias;
    const std::vector<int64_t> order = qkv_row_order(cfg);
    const bool reorder = !(cfg.falcon_multi_query && !cfg.falcon_new_arch);
    ModelWeights w;
    w.tok_embd = load_matrix(src, "transformer.word_embeddings.weight", {cfg.n_vocab, D}, WeightKind::kEmbedding);
    if (cfg.tp.split()) w.tok_embd = take_rows(w.tok_embd, vocab_rows(cfg));
    for (int64_t i = 0; i < cfg.n_layer; ++i) {
        const std::string h = "transformer.h." + std::to_string(i);
        LayerWeights lw;
        if (cfg.parallel_two_norms) {
            lw.attn_norm = load_layer_norm(src, h + ".ln_attn", D);
            lw.mlp_norm = load_layer_norm(src, h + ".ln_mlp", D);
        } else {
            lw.attn_norm = load_layer_norm(src, h + ".input_layernorm", D);
            if (!cfg.parallel_residual) lw.mlp_norm = load_layer_norm(src, h + ".post_attention_layernorm", D);
        }
        Linear qkv = load_linear(src, h + ".self_attention.query_key_value", qkv_rows, D, bias);
        if (reorder) {
            qkv.w = gather_weight_rows(qkv.w, order);
            if (qkv.b.defined()) qkv.b = gather_weight_rows(qkv.b, order);
        }
        lw.attn.qkv = take_qkv_part(qkv, cfg);
        lw.attn.o = load_linear(src, h + ".self_attention.dense", D, D, bias, nullptr, o_part(cfg));
        lw.plain.up = load_linear(src, h + ".mlp.dense_h_to_4h", cfg.n_ff, D, bias, nullptr, ffn_up_part(cfg));
        lw.plain.down = load_linear(src, h + ".mlp.dense_4h_to_h", D, cfg.n_ff, bias, nullptr, ffn_down_part(cfg));
        w.layers.push_back(std::move(lw));
    }
    w.final_norm = load_layer_norm(src, "transformer.ln_f", D);
    w.lm_head = load_lm_head(cfg, src, w.tok_embd);
    return w;
}

}  // namespace turbolm
