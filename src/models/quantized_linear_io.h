// A quantized projection in a checkpoint: reading one from its packed layout into the in-memory
// layout of its WeightFormat (layers.h), and the tensors that store one. The tensor names of every
// layout live here (docs/quantization.md describes them):
//   awq      <p>.qweight i32 [in, out/8], <p>.qzeros i32 [in/g, out/8], <p>.scales f16 [in/g, out]
//   gptq     <p>.qweight i32 [in/8, out], <p>.qzeros i32 [in/g, out/8], <p>.scales f16 [in/g, out],
//            <p>.g_idx i32 [in]
//   fp8      <p>.weight f8e4m3 [out, in], <p>.weight_scale f32 [] / [1] / [out] / [out, 1]
//   turbolm  <p>.weight i8 [out, in], <p>.weight_scale f32 [out], <p>.smooth_inv f32 [in] (w8a8-int8, optional)
//   compressed-tensors  fp8 as above; int8 <p>.weight i8 [out, in] with weight_scale per tensor or
//            channel; pack-quantized <p>.weight_packed i32, <p>.weight_scale, <p>.weight_zero_point,
//            <p>.weight_g_idx, <p>.weight_shape (quant/compressed_tensors_layout.h)
// and <p>.bias [out] beside any of them.
#pragma once

#include <map>
#include <string>

#include "models/layers.h"
#include "models/weights.h"
#include "quant/quantization_config.h"

namespace turbolm {

// The projection <prefix> of a checkpoint quantized with q. A projection the checkpoint stores as a
// plain float <prefix>.weight (a module the quantizer skipped) loads dense. Wrong dtypes or shapes,
// and missing tensors, fail naming the file, the tensor and what the layout expects.
Linear load_quantized_linear(const WeightSource& src, const quant::QuantizationConfig& q, const std::string& prefix,
                             int64_t out, int64_t in, bool bias);

// Whether a checkpoint stores <prefix> in a packed layout (a qweight, or a weight that is not
// f32/bf16/f16), for the projections that must be dense.
bool stored_packed(const WeightSource& src, const std::string& prefix);

// Adds the tensors that store l under `prefix` to `out`: in q's packed layout when l is quantized,
// else <prefix>.weight as it is; <prefix>.bias (f32) when l has one. Every tensor is on the CPU.
// Throws kUnimplemented when l's format has no place in q's method.
void add_linear_tensors(const Linear& l, const std::string& prefix, const quant::QuantizationConfig& q,
                        std::map<std::string, Tensor>& out);

}  // namespace turbolm
