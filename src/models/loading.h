// Loading helpers every architecture file uses: linear layers, LayerNorms and the LM head (tied to
// the embedding or not), each checked against the shapes the config implies; and the visitor that
// fills an architecture's weight walk (weight_walk.h) from a checkpoint.
#pragma once

#include <string>

#include "models/layers.h"
#include "models/model_config.h"
#include "models/tensor_parallel.h"
#include "models/weight_walk.h"
#include "models/weights.h"

namespace turbolm {

// <prefix>.weight [out, in] in its stored dtype, and <prefix>.bias [out] as f32 when `bias`. With a
// quantization config, a projection it converts is read from the checkpoint's packed layout into
// the in-memory one instead (quantized_linear_io.h).
// `part`: what a tensor-parallel rank keeps (tensor_parallel.h).
Linear load_linear(const WeightSource& src, const std::string& prefix, int64_t out, int64_t in, bool bias,
                   const quant::QuantizationConfig* quant = nullptr, const LinearPart& part = {});
// <prefix>.weight and <prefix>.bias, both [n], as f32.
Norm load_layer_norm(const WeightSource& src, const std::string& prefix, int64_t n);
// The output projection: the embedding itself when tied, else `name` [n_vocab, n_embd] (the rank's
// vocabulary rows of it under tensor parallelism).
Linear load_lm_head(const ModelConfig& cfg, const WeightSource& src, const Tensor& tok_embd,
                    const std::string& name = "lm_head.weight");

// Reads every weight a walk visits from `src`. Quantizable projections of a quantized checkpoint
// (cfg.quant) come from its packed layout; made-up weights (src.synthetic()) are always dense.
class LoadingVisitor final : public WeightVisitor {
  public:
    // Throws kUnimplemented when cfg.quant names a method or value this build cannot read.
    LoadingVisitor(const ModelConfig& cfg, const WeightSource& src);
    void linear(const std::string& prefix, Linear& l, int64_t out, int64_t in, bool bias, bool quantizable,
                const LinearPart& part) override;
    void matrix(const std::string& name, Tensor& t, const Shape& shape, WeightKind kind,
                const LinearPart& part) override;
    void vector(const std::string& name, Tensor& t, int64_t n, WeightKind kind) override;

  private:
    const WeightSource& src_;
    const quant::QuantizationConfig* quant_;  // null: a dense checkpoint (or made-up weights)
};

}  // namespace turbolm
