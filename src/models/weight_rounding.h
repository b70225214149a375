// A weight source that rounds every matrix and embedding table of another source to a 16-bit float
// type (ModelOptions::round_weights). It gives `turbolm eval` a candidate model whose only
// difference from the original is a known, small rounding error, to check the accuracy metrics
// against before quantized weights are compared the same way.
#pragma once

#include "core/dtype.h"
#include "models/weights.h"

namespace turbolm {

class RoundedWeights final : public WeightSource {
public:
    // to: kBF16 or kF16. `inner` must outlive this source.
    RoundedWeights(const WeightSource& inner, DType to);
    bool has(const std::string& name) const override { return inner_.has(name); }
    // Matrices and embeddings come back rounded; norm scales, norm biases and biases unchanged (they
    // are vectors, kept in f32 by the model anyway).
    Tensor get(const std::string& name, const Shape& shape, WeightKind kind) const override;
    std::string describe() const override;

private:
    const WeightSource& inner_;
    DType to_;
};

// The values of w rounded to nearest-even in `to` (kBF16 or kF16), on w's device. They are stored in
// w's own dtype whenever it holds every rounded value exactly (always for f32; bf16 holds any
// bf16 value rounded to f16), so that the model's matrix products run the same kernels as without
// rounding and only the values differ; otherwise in f32.
Tensor round_weight_values(const Tensor& w, DType to);

}  // namespace turbolm
