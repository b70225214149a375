// Moves loaded weights to a device in the dtype it computes in, fusing the projections that read
// the same input (q, k, v; gate, up) into one matrix each so that a layer makes fewer, larger
// products. Tied weights stay tied. Quantized projections keep their stored types (codes, scales,
// zero points, permutations); parts of one format, group, permutation and smoothing fuse by stacking
// their rows (weights, scales and zero points alike), other parts stay separate products.
#pragma once

#include <functional>

#include "models/layers.h"

namespace turbolm {

// `on_layer(done, total)` after each layer (copying a large checkpoint to a GPU takes a while).
ModelWeights place_weights(ModelWeights w, Device device, DType compute_dtype,
                           const std::function<void(int64_t, int64_t)>& on_layer = {});

}  // namespace turbolm
