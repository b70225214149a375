#include "models/model.h"

#include <set>

#include "core/logging.h"
#include "io/checkpoint.h"
#include "models/registry.h"
#include "models/split_steps.h"
#include "models/tensor_parallel.h"
#include "models/weight_placement.h"
#include "models/weight_rounding.h"

namespace turbolm {

Model::Model(ModelConfig cfg, ModelWeights w, ModelOptions options)
    : cfg_(std::move(cfg)), w_(std::move(w)), options_(options), rope_(cfg_) {
    act_dtype_ = ops::compute_dtype(options_.device, cfg_.dtype);
    kv_dtype_ = kv_storage_dtype(options_.kv_cache_dtype, act_dtype_);
}

std::unique_ptr<Model> Model::load(const std::filesystem::path& dir, const ModelOptions& options) {
    ops::init_device(options.device);
    HfConfig hf = HfConfig::load(dir);
    if (options.dummy_weights) {
        ModelConfig probe = architecture_for(hf).parse_config(hf);
        // On a GPU the random weights are drawn there, in the dtype the GPU computes in.
        const DType dt = options.device == Device::kCpu ? probe.dtype : ops::compute_dtype(options.device, probe.dtype);
        RandomWeights random(dt, options.seed, options.device);
        return build(hf, random, options);
    }
    CheckpointWeights ckpt(Checkpoint::open(dir));
    return build(hf, ckpt, options);
}

std::unique_ptr<Model> Model::build(const HfConfig& hf, const WeightSource& weights, const ModelOptions& options) {
    const Architecture& arch = architecture_for(hf);
    ModelConfig cfg = arch.parse_config(hf);
    validate(cfg, hf);
    if (options.comm) cfg.tp = TensorParallel{options.comm->rank(), options.comm->world()};
    check_tensor_parallel(cfg);
    std::optional<RoundedWeights> rounded;
    if (options.round_weights) rounded.emplace(weights, *options.round_weights);
    const WeightSource& source = rounded ? static_cast<const WeightSource&>(*rounded) : weights;
    ModelWeights w = arch.load_weights(cfg, source);  // the rank's part
    cfg = local_config(cfg);
    if (options.device != Device::kCpu)
        w = place_weights(std::move(w), options.device, ops::compute_dtype(options.device, cfg.dtype), options.on_progress);
    quantize_weights(w, options.quantize, options.device);
    log::debug("loaded ", cfg.architecture, " from ", source.describe(), " on ", device_name(options.device));
    return std::unique_ptr<Model>(new Model(std::move(cfg), std::move(w), options));
}

KvCache Model::new_kv_cache(int64_t capacity, int64_t n_seqs) const {
    return KvCache(cfg_.n_layer, capacity, cfg_.n_head_kv, cfg_.head_dim, kv_dtype_, options_.device, n_seqs);
}

bool Model::graph_capturable(int64_t n_tokens) const {
    if (cfg_.rope.type == "dynamic") return false;
    if (cfg_.ffn != FfnKind::kMoe) return true;
    Tensor probe = Tensor::wrap(nullptr, {n_tokens, cfg_.n_embd}, act_dtype_, nullptr, options_.device);
    return moe_routes_without_host(cfg_, w_.layers[0].moe, probe, n_tokens);
}

const Tensor& Model::inv_freq_for(int64_t max_len) const {
    const bool grows = cfg_.rope.type == "dynamic" && max_len > cfg_.n_ctx_train;
    const int64_t key = grows ? max_len : -1;
    if (!inv_freq_.defined() || inv_freq_len_ != key) {
        inv_freq_ = rope_.inv_freq(grows ? max_len : 0).to_device(options_.device);
        inv_freq_len_ = key;
    }
    return inv_freq_;
}

NormHandoff Model::attention_norm_handoff(int64_t layer, int64_t n_tokens) const {
    const AttentionWeights& aw = w_.layers[size_t(layer)].attn;
    return aw.fused() ? norm_handoff(cfg_, {&aw.qkv}, n_tokens) : norm_handoff(cfg_, {&aw.q, &aw.k, &aw.v}, n_tokens);
}

void Model::attention_block(int64_t layer, const ProductInput& x, const StepInputs& in, KvCache& kv,
                            Tensor& residual) const {
    const LayerWeights& lw = w_.layers[size_t(layer)];
    const AttentionWeights& aw = lw.attn;
    const Device dev = options_.device;
    const int64_t T = x.rows(), H = cfg_.n_head, Hkv = cfg_.n_head_kv, hd = cfg_.head_dim;
    const int64_t q_dim = H * hd, kv_dim = Hkv * hd;
    const auto p = options_.precision;

    // Rows [q (H*hd) | k (Hkv*hd) | v (Hkv*hd)]: one product when the weights are fused, else three
    // into column slices of the same buffer.
    Tensor qkv = Tensor::empty({T, q_dim + 2 * kv_dim}, act_dtype_, dev);
    if (aw.fused()) {
        linear_forward(x, aw.qkv, qkv, p);
    } else {
        Tensor q2 = qkv.slice(1, 0, q_dim), k2 = qkv.slice(1, q_dim, q_dim + kv_dim),
               v2 = qkv.slice(1, q_dim + kv_dim, q_dim + 2 * kv_dim);
        linear_forward(x, aw.q, q2, p);
        linear_forward(x, aw.k, k2, p);
        linear_forward(x, aw.v, v2, p);
    }
    ops::QkvToCacheArgs args;
    args.n_head = H;
    args.n_head_kv = Hkv;
    args.pos = in.pos;
    if (cfg_.use_rope) {
        args.inv_freq = inv_freq_for(in.max_kv_len());
        args.rot_dim = cfg_.rot_dim;
        args.rope_scale = rope_.attention_scale();
    }
    if (cfg_.qk_norm) {
        args.q_norm = aw.q_norm.w;
        args.k_norm = aw.k_norm.w;
        args.norm_eps = cfg_.norm_eps;
    }
    args.slots = in.slots;
    Tensor q = Tensor::empty({T, H, hd}, act_dtype_, dev);
    const ops::KvLayer cache{kv.k(layer), kv.v(layer), kv.k_scale(layer), kv.v_scale(layer)};
    ops::qkv_to_cache(qkv, args, cache, q);

    ops::AttentionParams params;
    params.scale = cfg_.attn_scale_inverse_layer ? cfg_.attn_scale / float(layer + 1) : cfg_.attn_scale;
    params.window = cfg_.layer_window[size_t(layer)];
    Tensor attn = Tensor::empty({T, H, hd}, act_dtype_, dev);
    ops::attention(q, cache, in.attention, params, attn);
    linear_forward(attn.view({T, q_dim}), aw.o, residual, p, /*accumulate=*/true);
}

void Model::begin_partial_sums(Tensor& residual) const {
    if (cfg_.tp.split() && cfg_.tp.rank != 0) ops::fill_constant(residual, 0.0f);
}

void Model::end_partial_sums(Tensor& residual) const {
    if (cfg_.tp.split()) options_.comm->all_reduce_sum(residual);
}

void Model::embed(const StepInputs& in, Tensor& x) const {
    if (cfg_.tp.split()) {
        ops::embedding_part(in.ids, w_.tok_embd, vocab_rows(cfg_).begin, x);
        options_.comm->all_reduce_sum(x);
    } else {
        ops::embedding(in.ids, w_.tok_embd, x);
    }
    if (cfg_.learned_positions) ops::embedding(in.pos, w_.pos_embd, x, /*accumulate=*/true);
}

void Model::lm_head_forward(const Tensor& normed, Tensor& logits) const {
    if (!cfg_.tp.split()) {
        linear_forward(normed, w_.lm_head, logits, options_.precision);
        return;
    }
    // Each rank computes the logits of its vocabulary rows (the last rank's part may be narrower);
    // an all-gather brings every part to every rank, and one kernel puts them in vocabulary order.
    const Device dev = options_.device;
    const int64_t rows = normed.size(0), part = vocab_part_rows(cfg_);
    Tensor mine = Tensor::empty({rows, part}, DType::kF32, dev);
    Tensor mine_rows = mine.slice(1, 0, w_.lm_head.out());
    linear_forward(normed, w_.lm_head, mine_rows, options_.precision);
    Tensor parts = Tensor::empty({int64_t(cfg_.tp.world), rows, part}, DType::kF32, dev);
    options_.comm->all_gather(mine, parts);
    ops::assemble_vocab_parts(parts, logits);
}

Tensor Model::run(const StepInputs& in, KvCache& kv, const Tensor* logits_out) const {
    const Device dev = options_.device;
    const int64_t T = in.n_tokens();
    Tensor x = Tensor::empty({T, cfg_.n_embd}, DType::kF32, dev);
    embed(in, x);
    Tensor h = Tensor::empty({T, cfg_.n_embd}, act_dtype_, dev);
    Tensor h_mlp = cfg_.parallel_two_norms ? Tensor::empty({T, cfg_.n_embd}, act_dtype_, dev) : h;
    for (int64_t l = 0; l < cfg_.n_layer; ++l) {
        const LayerWeights& lw = w_.layers[size_t(l)];
        if (cfg_.parallel_residual) {
            norm_forward(cfg_, lw.attn_norm, x, h);
            // Both branches read the layer input; compute the MLP's norm before x changes.
            if (cfg_.parallel_two_norms) norm_forward(cfg_, lw.mlp_norm, x, h_mlp);
            begin_partial_sums(x);
            attention_block(l, h, in, kv, x);
            ffn_forward(cfg_, lw, h_mlp, x, options_.precision);
            end_partial_sums(x);
        } else {
            // The norms' outputs feed only the products after them: FP8 ones get the norm's codes, an
            // INT4 decode product makes the rows itself.
            const ProductInput attn_in = norm_for_products(cfg_, lw.attn_norm, x, attention_norm_handoff(l, T), h);
            begin_partial_sums(x);
            attention_block(l, attn_in, in, kv, x);
            end_partial_sums(x);
            const ProductInput ffn_in = norm_for_products(cfg_, lw.mlp_norm, x, ffn_norm_handoff(cfg_, lw, T), h);
            begin_partial_sums(x);
            ffn_forward(cfg_, lw, ffn_in, x, options_.precision);
            end_partial_sums(x);
        }
    }
    Tensor rows = x;
    if (!in.all_rows_need_logits()) {
        rows = Tensor::empty({in.n_logit_rows(), cfg_.n_embd}, DType::kF32, dev);
        ops::gather_rows(x, in.logit_rows, rows);
    }
    Tensor normed = Tensor::empty(rows.shape(), act_dtype_, dev);
    norm_forward(cfg_, w_.final_norm, rows, normed);
    Tensor logits;
    if (logits_out) {
        TURBOLM_CHECK(logits_out->dtype() == DType::kF32 && logits_out->ndim() == 2 && logits_out->size(0) == rows.size(0) &&
                          logits_out->size(1) == cfg_.n_vocab && logits_out->device() == dev,
                      "logits buffer ", logits_out->describe(), " for ", rows.size(0), " rows");
        logits = *logits_out;
    } else {
        logits = Tensor::empty({rows.size(0), cfg_.n_vocab}, DType::kF32, dev);
    }
    lm_head_forward(normed, logits);
    return logits;
}

Tensor Model::forward_batch(std::span<const SequenceChunk> chunks, KvCache& kv) const {
    TURBOLM_CHECK(kv.device() == options_.device && kv.dtype() == kv_dtype_, "KV cache of ", dtype_name(kv.dtype()),
                  " on ", device_name(kv.device()), " for a model on ", device_name(options_.device));
    for (const auto& c : chunks) check_tokens(c.tokens, kv.size(c.seq));
    StepInputs in;
    in.build(chunks, kv, /*capacity_bounds=*/false);
    announce_step(*this, SplitStep::kRun, kv, in);
    in.upload(options_.device);
    Tensor logits = run(in, kv);
    for (const auto& c : chunks) kv.commit(int64_t(c.tokens.size()), c.seq);
    return logits;
}

Tensor Model::forward_paged(std::span<const PagedChunk> chunks, KvCache& kv) const {
    TURBOLM_CHECK(kv.device() == options_.device && kv.dtype() == kv_dtype_, "KV cache of ", dtype_name(kv.dtype()),
                  " on ", device_name(kv.device()), " for a model on ", device_name(options_.device));
    for (const auto& c : chunks) {
        check_tokens(c.tokens, c.start);
        for (int32_t b : c.blocks)
            TURBOLM_CHECK(b >= 0 && b < kv.n_seqs(), "block ", b, " outside the cache of ", kv.n_seqs(), " blocks");
    }
    StepInputs in;
    in.build_paged(chunks, kv.capacity(), 0);
    announce_step(*this, SplitStep::kRun, kv, in);
    in.upload(options_.device);
    return run(in, kv);
}

void Model::check_tokens(std::span<const int32_t> tokens, int64_t start) const {
    for (int32_t id : tokens)
        if (id < 0 || id >= cfg_.n_vocab)
            fail(StatusCode::kOutOfRange, "token id ", id, " is outside the vocabulary [0, ", cfg_.n_vocab, ")");
    if (cfg_.learned_positions && start + int64_t(tokens.size()) > cfg_.n_ctx_train)
        fail(StatusCode::kOutOfRange, "sequence of ", start + int64_t(tokens.size()), " tokens exceeds the ",
             cfg_.n_ctx_train, " positions this model has embeddings for");
}

Tensor Model::forward(std::span<const int32_t> tokens, KvCache& kv, bool all_logits) const {
    TURBOLM_REQUIRE(!tokens.empty(), "forward needs at least one token");
    const SequenceChunk chunk{tokens, 0, all_logits};
    return forward_batch(std::span<const SequenceChunk>(&chunk, 1), kv).to_device(Device::kCpu);
}

namespace {

// per_element: the model parameters one element stands for: 2 for packed INT4 codes, 0 for the
// scales and zero points that come with quantization (bytes, not parameters), else 1.
void count(const Tensor& t, int64_t per_element, std::set<const void*>& seen, int64_t& params, size_t& bytes) {
    if (!t.defined() || !seen.insert(t.raw_data()).second) return;
    params += t.numel() * per_element;
    bytes += t.nbytes();
}

template <typename Fn>
void for_each_weight(const ModelWeights& w, Fn&& fn) {
    auto linear = [&](const Linear& l) {
        fn(l.w, l.format == WeightFormat::kInt4 ? 2 : 1);
        fn(l.b, 1);
        for (const Tensor* meta : {&l.scale, &l.zero, &l.inv_smooth, &l.in_perm}) fn(*meta, 0);
    };
    auto norm = [&](const Norm& n) {
        fn(n.w, 1);
        fn(n.b, 1);
    };
    fn(w.tok_embd, 1);
    fn(w.pos_embd, 1);
    for (const auto& lw : w.layers) {
        norm(lw.attn_norm);
        norm(lw.mlp_norm);
        for (const Linear* l : {&lw.attn.qkv, &lw.attn.q, &lw.attn.k, &lw.attn.v, &lw.attn.o}) linear(*l);
        norm(lw.attn.q_norm);
        norm(lw.attn.k_norm);
        for (const GatedFfn* g : {&lw.gated}) {
            linear(g->gate);
            linear(g->up);
            linear(g->gate_up);
            linear(g->down);
        }
        linear(lw.plain.up);
        linear(lw.plain.down);
        linear(lw.moe.router);
        for (const auto& e : lw.moe.experts) {
            linear(e.gate);
            linear(e.up);
            linear(e.gate_up);
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
    for_each_weight(w_, [&](const Tensor& t, int64_t per_element) { count(t, per_element, seen, params, bytes); });
    return params;
}

size_t Model::weight_bytes() const {
    std::set<const void*> seen;
    int64_t params = 0;
    size_t bytes = 0;
    for_each_weight(w_, [&](const Tensor& t, int64_t per_element) { count(t, per_element, seen, params, bytes); });
    return bytes;
}

}  // namespace turbolm
