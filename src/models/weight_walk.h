// One pass over every weight an architecture stores, each with its checkpoint name and the shape
// the config implies. Loading walks it to fill ModelWeights from a checkpoint and writing walks it
// to store ModelWeights in one, so the names the two use cannot drift apart: an architecture names
// its tensors in exactly one place, its walk.
#pragma once

#include <string>

#include "core/tensor.h"
#include "models/layers.h"
#include "models/tensor_parallel.h"
#include "models/weights.h"

namespace turbolm {

class WeightVisitor {
  public:
    virtual ~WeightVisitor() = default;
    // A projection stored as <prefix>.weight [out, in] (and <prefix>.bias [out] when `bias`), or in a
    // quantized checkpoint's packed layout when `quantizable` (the layers' attention and MLP
    // projections, MoE experts included; never the LM head or MoE routers). `part`: what a
    // tensor-parallel rank keeps of it (tensor_parallel.h); loading keeps only that, writing (which
    // runs on whole models) sees whole parts.
    virtual void linear(const std::string& prefix, Linear& l, int64_t out, int64_t in, bool bias, bool quantizable,
                        const LinearPart& part) = 0;
    // A matrix or embedding table kept in its stored dtype; part.rows: the rows a rank keeps.
    virtual void matrix(const std::string& name, Tensor& t, const Shape& shape, WeightKind kind,
                        const LinearPart& part) = 0;
    // A norm scale or bias, f32 in memory.
    virtual void vector(const std::string& name, Tensor& t, int64_t n, WeightKind kind) = 0;
};

}  // namespace turbolm
