#include "models/weight_quantization.h"

#include "core/error.h"
#include "models/layers.h"
#include "ops/ops.h"

namespace turbolm {
namespace {

void quantize_linear(Linear& l, Device device) {
    if (!l.w.defined() || l.format != WeightFormat::kDense) return;
    Tensor q = Tensor::empty(l.w.shape(), DType::kI8, device);
    Tensor scale = Tensor::empty({l.w.size(0)}, DType::kF32, device);
    ops::quantize_rows_int8(l.w, q, scale);
    l.w = std::move(q);  // the 16-bit matrix is freed here (or unmapped from the checkpoint's view)
    l.scale = std::move(scale);
    l.format = WeightFormat::kInt8;
}

}  // namespace

WeightQuantization parse_weight_quantization(std::string_view name) {
    if (name.empty() || name == "none") return WeightQuantization::kNone;
    if (name == "int8") return WeightQuantization::kInt8;
    fail(StatusCode::kInvalidArgument, "unknown weight quantization '", name, "' (none or int8)");
}

const char* weight_quantization_name(WeightQuantization q) { return q == WeightQuantization::kInt8 ? "int8" : "none"; }

void quantize_weights(ModelWeights& w, WeightQuantization q, Device device) {
    if (q == WeightQuantization::kNone) return;
    for (auto& lw : w.layers) {
        for (Linear* l : {&lw.attn.qkv, &lw.attn.q, &lw.attn.k, &lw.attn.v, &lw.attn.o, &lw.gated.gate, &lw.gated.up,
                          &lw.gated.gate_up, &lw.gated.down, &lw.plain.up, &lw.plain.down})
            quantize_linear(*l, device);
    }
}

}  // namespace turbolm
