#include "models/model.h"

#include <numeric>
#include <set>

#include "core/logging.h"
#include "io/checkpoint.h"
#include "models/registry.h"

namespace turbolm {

Model::Model(ModelConfig cfg, ModelWeights w, ModelOptions options)
    : cfg_(std::move(cfg)), w_(std::move(w)), options_(options), rope_(cfg_) {}

std::unique_ptr<Model> Model::load(const std::filesystem::path& dir, const ModelOptions& options) {
    HfConfig hf = HfConfig::load(dir);
    if (options.dummy_weights) {
        ModelConfig probe = architecture_for(hf).parse_config(hf);
        RandomWeights random(probe.dtype, options.seed);
        return build(hf, random, options);
    }
    CheckpointWeights ckpt(Checkpoint::open(dir));
    return build(hf, ckpt, options);
}

std::unique_ptr<Model> Model::build(const HfConfig& hf, const WeightSource& weights, const ModelOptions& options) {
    const Architecture& arch = architecture_for(hf);
    ModelConfig cfg = arch.parse_config(hf);
    validate(cfg, hf);
    ModelWeights w = arch.load_weights(cfg, weights);
    log::debug("loaded ", cfg.architecture, " from ", weights.describe());
    return std::unique_ptr<Model>(new Model(std::move(cfg), std::move(w), options));
}

KvCache Model::new_kv_cache(int64_t capacity) const {
    return KvCache(cfg_.n_layer, capacity, cfg_.n_head_kv, cfg_.head_dim);
}

void Model::attention_block(int64_t layer, const Tensor& x, const Tensor& pos, const Tensor& inv_freq, KvCache& kv,
                            Tensor& residual) const {
    const LayerWeights& lw = w_.layers[size_t(layer)];
    const AttentionWeights& aw = lw.attn;
    const int64_t T = x.size(0), H = cfg_.n_head, Hkv = cfg_.n_head_kv, hd = cfg_.head_dim;
    const int64_t q_dim = H * hd, kv_dim = Hkv * hd;
    const auto p = options_.precision;

    Tensor q2, k2, v2;  // [T, q_dim], [T, kv_dim], [T, kv_dim]; column slices of one buffer when fused
    if (aw.fused()) {
        Tensor qkv = Tensor::empty({T, q_dim + 2 * kv_dim}, DType::kF32);
        ops::linear(x, aw.qkv.w, aw.qkv.b, qkv, p);
        q2 = qkv.slice(1, 0, q_dim);
        k2 = qkv.slice(1, q_dim, q_dim + kv_dim);
        v2 = qkv.slice(1, q_dim + kv_dim, q_dim + 2 * kv_dim);
    } else {
        q2 = Tensor::empty({T, q_dim}, DType::kF32);
        k2 = Tensor::empty({T, kv_dim}, DType::kF32);
        v2 = Tensor::empty({T, kv_dim}, DType::kF32);
        ops::linear(x, aw.q.w, aw.q.b, q2, p);
        ops::linear(x, aw.k.w, aw.k.b, k2, p);
        ops::linear(x, aw.v.w, aw.v.b, v2, p);
    }
    Tensor q = q2.unflatten(1, H, hd), k = k2.unflatten(1, Hkv, hd), v = v2.unflatten(1, Hkv, hd);
    if (cfg_.qk_norm) {
        TURBOLM_CHECK(q.is_contiguous() && k.is_contiguous(), "q/k norm needs separate projections");
        ops::rms_norm(q, aw.q_norm.w, cfg_.norm_eps, q);
        ops::rms_norm(k, aw.k_norm.w, cfg_.norm_eps, k);
    }
    if (cfg_.use_rope) {
        ops::rope(q, pos, inv_freq, cfg_.rot_dim, rope_.attention_scale());
        ops::rope(k, pos, inv_freq, cfg_.rot_dim, rope_.attention_scale());
    }
    const int64_t start = kv.size();
    Tensor k_slot = kv.k(layer).slice(0, start, start + T);
    Tensor v_slot = kv.v(layer).slice(0, start, start + T);
    k_slot.copy_from(k);
    v_slot.copy_from(v);

    ops::AttentionParams params;
    params.scale = cfg_.attn_scale_inverse_layer ? cfg_.attn_scale / float(layer + 1) : cfg_.attn_scale;
    params.window = cfg_.layer_window[size_t(layer)];
    Tensor attn = Tensor::empty({T, H, hd}, DType::kF32);
    ops::attention(q, kv.k(layer), kv.v(layer), start + T, pos, params, attn);
    ops::linear(attn.view({T, q_dim}), aw.o.w, aw.o.b, residual, p, /*accumulate=*/true);
}

Tensor Model::forward(std::span<const int32_t> tokens, KvCache& kv, bool all_logits) const {
    const int64_t T = int64_t(tokens.size()), start = kv.size();
    TURBOLM_REQUIRE(T > 0, "forward needs at least one token");
    if (start + T > kv.capacity())
        fail(StatusCode::kOutOfRange, "sequence of ", start + T, " tokens exceeds the KV cache capacity of ",
             kv.capacity());
    if (cfg_.learned_positions && start + T > cfg_.n_ctx_train)
        fail(StatusCode::kOutOfRange, "sequence of ", start + T, " tokens exceeds the ", cfg_.n_ctx_train,
             " positions this model has embeddings for");

    Tensor ids = Tensor::wrap(const_cast<int32_t*>(tokens.data()), {T}, DType::kI32, nullptr);
    Tensor pos = Tensor::empty({T}, DType::kI32);
    std::iota(pos.data<int32_t>(), pos.data<int32_t>() + T, int32_t(start));

    Tensor x = Tensor::empty({T, cfg_.n_embd}, DType::kF32);
    ops::embedding(ids, w_.tok_embd, x);
    if (cfg_.learned_positions) {
        Tensor pe = Tensor::empty({T, cfg_.n_embd}, DType::kF32);
        ops::embedding(pos, w_.pos_embd, pe);
        ops::add(x, pe, x);
    }
    const Tensor inv_freq = cfg_.use_rope ? rope_.inv_freq(start + T) : Tensor();
    Tensor h = Tensor::empty({T, cfg_.n_embd}, DType::kF32);
    Tensor h_mlp = cfg_.parallel_two_norms ? Tensor::empty({T, cfg_.n_embd}, DType::kF32) : h;
    for (int64_t l = 0; l < cfg_.n_layer; ++l) {
        const LayerWeights& lw = w_.layers[size_t(l)];
        norm_forward(cfg_, lw.attn_norm, x, h);
        if (cfg_.parallel_residual) {
            // Both branches read the layer input; compute the MLP's norm before x changes.
            if (cfg_.parallel_two_norms) norm_forward(cfg_, lw.mlp_norm, x, h_mlp);
            attention_block(l, h, pos, inv_freq, kv, x);
            ffn_forward(cfg_, lw, h_mlp, x, options_.precision);
        } else {
            attention_block(l, h, pos, inv_freq, kv, x);
            norm_forward(cfg_, lw.mlp_norm, x, h);
            ffn_forward(cfg_, lw, h, x, options_.precision);
        }
    }
    kv.commit(T);

    Tensor rows = all_logits ? x : x.slice(0, T - 1, T);
    Tensor normed = Tensor::empty(rows.shape(), DType::kF32);
    norm_forward(cfg_, w_.final_norm, rows, normed);
    Tensor logits = Tensor::empty({rows.size(0), cfg_.n_vocab}, DType::kF32);
    ops::linear(normed, w_.lm_head.w, w_.lm_head.b, logits, options_.precision);
    return logits;
}

namespace {

void count(const Tensor& t, std::set<const void*>& seen, int64_t& params, size_t& bytes) {
    if (!t.defined() || !seen.insert(t.raw_data()).second) return;
    params += t.numel();
    bytes += t.nbytes();
}

template <typename Fn>
void for_each_weight(const ModelWeights& w, Fn&& fn) {
    auto linear = [&](const Linear& l) {
        fn(l.w);
        fn(l.b);
    };
    auto norm = [&](const Norm& n) {
        fn(n.w);
        fn(n.b);
    };
    fn(w.tok_embd);
    fn(w.pos_embd);
    for (const auto& lw : w.layers) {
        norm(lw.attn_norm);
        norm(lw.mlp_norm);
        for (const Linear* l : {&lw.attn.qkv, &lw.attn.q, &lw.attn.k, &lw.attn.v, &lw.attn.o}) linear(*l);
        norm(lw.attn.q_norm);
        norm(lw.attn.k_norm);
        for (const GatedFfn* g : {&lw.gated}) {
            linear(g->gate);
            linear(g->up);
            linear(g->down);
        }
        linear(lw.plain.up);
        linear(lw.plain.down);
        linear(lw.moe.router);
        for (const auto& e : lw.moe.experts) {
            linear(e.gate);
            linear(e.up);
            linear(e.down);
        }
    }
    norm(w.final_norm);
    linear(w.lm_head);
}

}  // namespace

int64_t Model::parameter_count() const {
    std::set<const void*> seen;
    int64_t params = 0;
    size_t bytes = 0;
    for_each_weight(w_, [&](const Tensor& t) { count(t, seen, params, bytes); });
    return params;
}

size_t Model::weight_bytes() const {
    std::set<const void*> seen;
    int64_t params = 0;
    size_t bytes = 0;
    for_each_weight(w_, [&](const Tensor& t) { count(t, seen, params, bytes); });
    return bytes;
}

}  // namespace turbolm
