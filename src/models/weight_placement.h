// Moves loaded weights to a device in the dtype it computes in, fusing the projections that read
// the same input (q, k, v; gate, up) into one matrix each so that a layer makes fewer, larger
// products. Tied weights stay tied.
#pragma once

#include "models/layers.h"

namespace turbolm {

ModelWeights place_weights(ModelWeights w, Device device, DType compute_dtype);

}  // namespace turbolm
