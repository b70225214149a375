// Weight-only quantization at load time (`--quantize int8`): every projection inside the layers
// (attention q/k/v/o and the MLP) becomes int8 with one f32 scale per output row, symmetric, from
// the weights alone (no calibration). Embeddings, the LM head, MoE routers and experts keep their
// type: they are a small share of a dense model's bytes and the most sensitive to rounding.
#pragma once

#include <string>
#include <string_view>

#include "core/tensor.h"

namespace turbolm {

struct ModelWeights;

enum class WeightQuantization { kNone, kInt8 };

// "none" or "int8"; throws Error(kInvalidArgument) naming the choices otherwise.
WeightQuantization parse_weight_quantization(std::string_view name);
const char* weight_quantization_name(WeightQuantization q);

// Replaces the layers' projection weights in place, on `device` (where the weights already are).
void quantize_weights(ModelWeights& w, WeightQuantization q, Device device);

}  // namespace turbolm
