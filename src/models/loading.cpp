#include "models/loading.h"

namespace turbolm {

Linear load_linear(const WeightSource& src, const std::string& prefix, int64_t out, int64_t in, bool bias) {
    Linear l;
    l.w = load_matrix(src, prefix + ".weight", {out, in});
    if (bias) l.b = load_vector(src, prefix + ".bias", out, WeightKind::kBias);
    return l;
}

Norm load_layer_norm(const WeightSource& src, const std::string& prefix, int64_t n) {
    return {load_vector(src, prefix + ".weight", n, WeightKind::kNormScale),
            load_vector(src, prefix + ".bias", n, WeightKind::kNormBias)};
}

Linear load_lm_head(const ModelConfig& cfg, const WeightSource& src, const Tensor& tok_embd, const std::string& name) {
    Linear head;
    head.w = cfg.tie_embeddings ? tok_embd : load_matrix(src, name, {cfg.n_vocab, cfg.n_embd});
    return head;
}

}  // namespace turbolm
