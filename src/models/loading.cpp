#include "models/loading.h"

#include "core/error.h"
#include "core/logging.h"
#include "models/quantized_linear_io.h"

namespace turbolm {

Linear load_linear(const WeightSource& src, const std::string& prefix, int64_t out, int64_t in, bool bias,
                   const quant::QuantizationConfig* quant, const LinearPart& part) {
    // The whole projection first (a view of a mapped file, or one transient tensor of random weights),
    // then the part, so that only the part stays.
    if (quant && quant->quantized() && quant->converts(prefix))
        return take_part(load_quantized_linear(src, *quant, prefix, out, in, bias), part);
    Linear l;
    l.w = load_matrix(src, prefix + ".weight", {out, in});
    if (bias) l.b = load_vector(src, prefix + ".bias", out, WeightKind::kBias);
    return take_part(std::move(l), part);
}

Norm load_layer_norm(const WeightSource& src, const std::string& prefix, int64_t n) {
    return {load_vector(src, prefix + ".weight", n, WeightKind::kNormScale),
            load_vector(src, prefix + ".bias", n, WeightKind::kNormBias)};
}

Linear load_lm_head(const ModelConfig& cfg, const WeightSource& src, const Tensor& tok_embd, const std::string& name) {
    Linear head;
    if (cfg.tie_embeddings) {
        head.w = tok_embd;  // already the rank's rows
        return head;
    }
    head.w = load_matrix(src, name, {cfg.n_vocab, cfg.n_embd});
    return take_part(std::move(head), vocab_part(cfg));
}

LoadingVisitor::LoadingVisitor(const ModelConfig& cfg, const WeightSource& src) : src_(src), quant_(nullptr) {
    if (src.synthetic()) return;
    cfg.quant.require_supported();
    if (cfg.quant.quantized()) quant_ = &cfg.quant;
    const int64_t br = cfg.quant.fp8_block_rows, bc = cfg.quant.fp8_block_cols;
    if (br > 0 && (br != ops::kFp8Block || bc != ops::kFp8Block))
        log::warn("FP8 weights with ", br, "x", bc, " block scales load dequantized to bf16 (the block-scaled ",
                  "product takes ", ops::kFp8Block, "x", ops::kFp8Block, " blocks); --quantize fp8 re-quantizes them ",
                  "per channel");
}

void LoadingVisitor::linear(const std::string& prefix, Linear& l, int64_t out, int64_t in, bool bias,
                            bool quantizable, const LinearPart& part) {
    if (!quantizable && quant_ && stored_packed(src_, prefix)) {
        const std::string stored = src_.has(prefix + ".qweight")         ? prefix + ".qweight"
                                   : src_.has(prefix + ".weight_packed") ? prefix + ".weight_packed"
                                                                         : prefix + ".weight";
        fail(StatusCode::kUnimplemented, src_.file_of(stored), ": ", prefix, " is stored quantized (quant_method ",
             quant::quant_method_name(quant_->method), "); only the layers' attention, MLP and expert projections ",
             "may be (the LM head and MoE routers load in 16 bits)");
    }
    l = load_linear(src_, prefix, out, in, bias, quantizable ? quant_ : nullptr, part);
}

void LoadingVisitor::matrix(const std::string& name, Tensor& t, const Shape& shape, WeightKind kind,
                            const LinearPart& part) {
    TURBOLM_CHECK(!part.cols, "column parts of plain matrices");
    t = load_matrix(src_, name, shape, kind);
    if (part.rows) t = take_rows(t, *part.rows);
}

void LoadingVisitor::vector(const std::string& name, Tensor& t, int64_t n, WeightKind kind) {
    t = load_vector(src_, name, n, kind);
}

}  // namespace turbolm
