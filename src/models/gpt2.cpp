// GPT-2 (GPT2LMHeadModel): learned absolute positions, LayerNorm with bias, fused q/k/v, a plain
// GELU MLP, and tied embeddings. Its Conv1D layers store weights [in, out]; they are transposed
// once at load into the [out, in] layout every other linear layer uses.
#include <cmath>

#include "models/loading.h"
#include "models/registry.h"

namespace turbolm {

ModelConfig parse_gpt2_config(const HfConfig& hf) {
    ModelConfig c;
    c.architecture = hf.architecture();
    c.model_type = hf.model_type();
    c.n_vocab = hf.get_int("vocab_size");
    c.n_embd = hf.get_int("n_embd");
    c.n_layer = hf.get_int("n_layer");
    c.n_head = hf.get_int("n_head");
    c.n_head_kv = c.n_head;
    c.head_dim = c.n_head > 0 ? c.n_embd / c.n_head : 0;
    c.n_ff = hf.get_int_or("n_inner", 4 * c.n_embd);
    c.n_ctx_train = hf.get_int_or("n_positions", 1024);
    c.norm = NormKind::kLayer;
    c.norm_eps = float(hf.get_double_or("layer_norm_epsilon", 1e-5));
    c.act = parse_activation(hf, "activation_function", "gelu_new");
    c.ffn = FfnKind::kPlain;
    c.use_rope = false;
    c.learned_positions = true;
    c.layer_window.assign(size_t(std::max<int64_t>(c.n_layer, 0)), 0);
    c.attn_scale = hf.get_bool_or("scale_attn_weights", true) ? float(1.0 / std::sqrt(double(c.head_dim))) : 1.0f;
    c.attn_scale_inverse_layer = hf.get_bool_or("scale_attn_by_inverse_layer_idx", false);
    c.tie_embeddings = hf.get_bool_or("tie_word_embeddings", true);
    c.dtype = hf.dtype();
    read_special_ids(hf, &c);
    return c;
}

namespace {

// Conv1D: weight [in, out] on disk -> Linear with w [out, in].
Linear load_conv1d(const WeightSource& src, const std::string& prefix, int64_t in, int64_t out) {
    Linear l;
    l.w = load_matrix(src, prefix + ".weight", {in, out}).transpose(0, 1).contiguous();
    l.b = load_vector(src, prefix + ".bias", out, WeightKind::kBias);
    return l;
}


}  // namespace

ModelWeights load_gpt2_weights(const ModelConfig& cfg, const WeightSource& src) {
    // The original OpenAI conversion stores names without the "transformer." prefix.
    const std::string root = src.has("transformer.wte.weight") || !src.has("wte.weight") ? "transformer." : "";
    const int64_t D = cfg.n_embd;
    ModelWeights w;
    w.tok_embd = load_matrix(src, root + "wte.weight", {cfg.n_vocab, D}, WeightKind::kEmbedding);
    if (cfg.tp.split()) w.tok_embd = take_rows(w.tok_embd, vocab_rows(cfg));
    w.pos_embd = load_matrix(src, root + "wpe.weight", {cfg.n_ctx_train, D}, WeightKind::kEmbedding);
    for (int64_t i = 0; i < cfg.n_layer; ++i) {
        const std::string h = root + "h." + std::to_string(i);
        LayerWeights lw;
        lw.attn_norm = load_layer_norm(src, h + ".ln_1", D);
        lw.mlp_norm = load_layer_norm(src, h + ".ln_2", D);
        lw.attn.qkv = take_qkv_part(load_conv1d(src, h + ".attn.c_attn", D, 3 * D), cfg);
        lw.attn.o = take_part(load_conv1d(src, h + ".attn.c_proj", D, D), o_part(cfg));
        lw.plain.up = take_part(load_conv1d(src, h + ".mlp.c_fc", D, cfg.n_ff), ffn_up_part(cfg));
        lw.plain.down = take_part(load_conv1d(src, h + ".mlp.c_proj", cfg.n_ff, D), ffn_down_part(cfg));
        w.layers.push_back(std::move(lw));
    }
    w.final_norm = load_layer_norm(src, root + "ln_f", D);
    w.lm_head = load_lm_head(cfg, src, w.tok_embd);
    return w;
}

}  // namespace turbolm
