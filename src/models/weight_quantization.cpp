#include "models/weight_quantization.h"

#include <algorithm>

#include "core/error.h"
#include "core/logging.h"
#include "models/layers.h"
#include "ops/ops.h"

namespace turbolm {

WeightQuantization parse_weight_quantization(std::string_view name) {
    if (name.empty() || name == "none") return WeightQuantization::kNone;
    if (name == "int8") return WeightQuantization::kInt8;
    if (name == "int4") return WeightQuantization::kInt4;
    if (name == "fp8") return WeightQuantization::kFp8;
    if (name == "fp8-block") return WeightQuantization::kFp8Block;
    fail(StatusCode::kInvalidArgument, "unknown weight quantization '", name, "' (none, int8, int4, fp8 or fp8-block)");
}

const char* weight_quantization_name(WeightQuantization q) {
    switch (q) {
        case WeightQuantization::kNone: return "none";
        case WeightQuantization::kInt8: return "int8";
        case WeightQuantization::kInt4: return "int4";
        case WeightQuantization::kFp8: return "fp8";
        case WeightQuantization::kFp8Block: return "fp8-block";
    }
    return "?";
}

int64_t int4_group_for(int64_t in, int64_t group) {
    if (in % group == 0) return group;
    for (int64_t g = (std::min(group, in) / 32) * 32; g >= 32; g -= 32)
        if (in % g == 0) return g;
    return 0;
}

std::string quantized_formats(const ModelWeights& w) {
    constexpr int kFormats = int(WeightFormat::kFp8Block) + 1;
    bool seen[kFormats] = {};
    for_each_quantizable_linear(const_cast<ModelWeights&>(w), [&](Linear& l) { seen[int(l.format)] = true; });
    std::string out;
    for (int f = 1; f < kFormats; ++f)
        if (seen[f]) out += (out.empty() ? "" : ", ") + std::string(weight_format_name(WeightFormat(f)));
    return out;
}

void quantize_linear_int8(Linear& l, const Tensor& w) {
    Tensor q = Tensor::empty(w.shape(), DType::kI8, w.device());
    Tensor scale = Tensor::empty({w.size(0)}, DType::kF32, w.device());
    ops::quantize_rows_int8(w, q, scale);
    l.w = std::move(q);  // the 16-bit matrix is freed here (or unmapped from the checkpoint's view)
    l.scale = std::move(scale);
    l.format = WeightFormat::kInt8;
}

void quantize_linear_int4(Linear& l, const Tensor& w, int64_t group) {
    const int64_t out = w.size(0), in = w.size(1);
    group = int4_group_for(in, group);
    if (group == 0) fail(StatusCode::kUnimplemented, "INT4 needs an input width divisible by 32, not ", in);
    Tensor q = Tensor::empty({out, in / 2}, DType::kU8, w.device());
    Tensor scale = Tensor::empty({out, in / group}, DType::kF16, w.device());
    Tensor zero = Tensor::empty({out, in / group}, DType::kU8, w.device());
    ops::quantize_groups_int4(w, group, q, scale, zero);
    l.w = std::move(q);
    l.scale = std::move(scale);
    l.zero = std::move(zero);
    l.group = group;
    l.format = WeightFormat::kInt4;
}

void quantize_linear_fp8(Linear& l, const Tensor& w) {
    Tensor q = Tensor::empty(w.shape(), DType::kF8E4M3, w.device());
    Tensor scale = Tensor::empty({w.size(0)}, DType::kF32, w.device());
    ops::quantize_rows_fp8(w, q, scale);
    l.w = std::move(q);
    l.scale = std::move(scale);
    l.format = WeightFormat::kFp8;
}

// Projections that 128 x 128 blocks do not tile keep their 16-bit weights.
void quantize_linear_fp8_block(Linear& l, const Tensor& w) {
    const int64_t b = ops::kFp8Block;
    if (w.size(0) % b != 0 || w.size(1) % b != 0) return;
    Tensor q = Tensor::empty(w.shape(), DType::kF8E4M3, w.device());
    Tensor scale = Tensor::empty({w.size(0) / b, w.size(1) / b}, DType::kF32, w.device());
    ops::quantize_blocks_fp8(w, q, scale);
    l.w = std::move(q);
    l.scale = std::move(scale);
    l.format = WeightFormat::kFp8Block;
}

void quantize_weights(ModelWeights& w, WeightQuantization q, Device device) {
    (void)device;  // the ops run where the weights are
    if (q == WeightQuantization::kNone) return;
    int64_t kept = 0, kept_width = 0;
    for_each_quantizable_linear(w, [&](Linear& l) {
        if (l.format != WeightFormat::kDense) return;
        const Tensor dense = l.w;
        switch (q) {
            case WeightQuantization::kInt8: quantize_linear_int8(l, dense); break;
            case WeightQuantization::kInt4:
                // As llama.cpp does for rows its blocks do not divide: such a projection keeps its
                // 16-bit weights rather than refusing the whole model.
                if (int4_group_for(dense.size(1), kDefaultInt4Group) > 0) {
                    quantize_linear_int4(l, dense, kDefaultInt4Group);
                } else {
                    ++kept;
                    kept_width = dense.size(1);
                }
                break;
            case WeightQuantization::kFp8: quantize_linear_fp8(l, dense); break;
            case WeightQuantization::kFp8Block: quantize_linear_fp8_block(l, dense); break;
            case WeightQuantization::kNone: break;
        }
    });
    if (kept > 0)
        log::warn("INT4: ", kept, " projections stay 16-bit: no multiple of 32 divides their input width (",
                  kept_width, " for one) to group it");
}

}  // namespace turbolm
