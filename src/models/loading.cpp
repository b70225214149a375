#include "models/loading.h"

#include "core/error.h"
#include "models/quantized_linear_io.h"

namespace turbolm {

Linear load_linear(const WeightSource& src, const std::string& prefix, int64_t out, int64_t in, bool bias,
                   const quant::QuantizationConfig* quant) {
    if (quant && quant->quantized() && quant->converts(prefix))
        return load_quantized_linear(src, *quant, prefix, out, in, bias);
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

LoadingVisitor::LoadingVisitor(const ModelConfig& cfg, const WeightSource& src) : src_(src), quant_(nullptr) {
    if (src.synthetic()) return;
    cfg.quant.require_supported();
    if (cfg.quant.quantized()) quant_ = &cfg.quant;
}

void LoadingVisitor::linear(const std::string& prefix, Linear& l, int64_t out, int64_t in, bool bias,
                            bool quantizable) {
    if (!quantizable && quant_ && stored_packed(src_, prefix)) {
        const std::string stored = src_.has(prefix + ".qweight") ? prefix + ".qweight" : prefix + ".weight";
        fail(StatusCode::kUnimplemented, src_.file_of(stored), ": ", prefix, " is stored quantized (quant_method ",
             quant::quant_method_name(quant_->method), "); only the layers' attention, MLP and expert projections ",
             "may be (the LM head and MoE routers load in 16 bits)");
    }
    l = load_linear(src_, prefix, out, in, bias, quantizable ? quant_ : nullptr);
}

void LoadingVisitor::matrix(const std::string& name, Tensor& t, const Shape& shape, WeightKind kind) {
    t = load_matrix(src_, name, shape, kind);
}

void LoadingVisitor::vector(const std::string& name, Tensor& t, int64_t n, WeightKind kind) {
    t = load_vector(src_, name, n, kind);
}

}  // namespace turbolm
