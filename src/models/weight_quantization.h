// Quantization of the layers' projections at load time, from the weights alone (no calibration):
//   int8  weight-only, one f32 scale per output row, symmetric;
//   int4  weight-only, round-to-nearest in groups of 128 input columns, asymmetric (AWQ's storage
//         without its search: `turbolm quantize --method int4-awq` adds the search);
//   fp8   W8A8 E4M3, one f32 scale per output row, activations quantized per token when multiplied;
//   fp8-block  W8A8 E4M3 with DeepSeek's scales, one per 128 x 128 block of weights and per token and
//         128 columns of activations (projections whose sides are not multiples of 128 stay 16-bit).
// Embeddings, the LM head, MoE routers and experts keep their type: they are a small share of a
// dense model's bytes and the most sensitive to rounding.
#pragma once

#include <string>
#include <string_view>

#include "core/tensor.h"

namespace turbolm {

struct Linear;
struct ModelWeights;

enum class WeightQuantization { kNone, kInt8, kInt4, kFp8, kFp8Block };

constexpr int64_t kDefaultInt4Group = 128;

// "none", "int8", "int4", "fp8" or "fp8-block"; throws Error(kInvalidArgument) naming the choices otherwise.
WeightQuantization parse_weight_quantization(std::string_view name);
const char* weight_quantization_name(WeightQuantization q);

// Replaces the layers' projection weights in place, on `device` (where the weights already are).
void quantize_weights(ModelWeights& w, WeightQuantization q, Device device);

// The projections quantize_weights changes, in a fixed order (for searches and reports too).
template <typename Fn>
void for_each_quantizable_linear(ModelWeights& w, Fn&& fn);

// The group size INT4 uses for a projection with `in` input columns: `group` when it divides `in`,
// else the largest multiple of 32 below it that does (small models); 0 when there is none, and
// quantizing at load leaves such a projection 16-bit.
int64_t int4_group_for(int64_t in, int64_t group);

// The formats of the layers' projections, "int4" or "int4, int8" (in WeightFormat order), or "" when
// none is quantized (a description for logs and the serve banner).
std::string quantized_formats(const ModelWeights& w);

// One projection from a 16/32-bit weight w (any device) into `format`; keeps l.b.
void quantize_linear_int8(Linear& l, const Tensor& w);
void quantize_linear_int4(Linear& l, const Tensor& w, int64_t group);
void quantize_linear_fp8(Linear& l, const Tensor& w);

}  // namespace turbolm

#include "models/weight_quantization_inl.h"
