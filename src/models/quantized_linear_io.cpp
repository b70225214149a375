#include "models/quantized_linear_io.h"

#include <initializer_list>

#include "core/error.h"
#include "core/half.h"
#include "core/logging.h"
#include "core/parallel.h"
#include "quant/awq_layout.h"
#include "quant/compressed_tensors_layout.h"
#include "quant/gptq_layout.h"

namespace turbolm {
namespace {

using quant::QuantizationConfig;
using quant::QuantMethod;

const std::initializer_list<DType> kFloats = {DType::kF32, DType::kBF16, DType::kF16};

bool is_plain_float(DType d) {
    return d == DType::kF32 || d == DType::kBF16 || d == DType::kF16;
}

std::string dtype_list(std::initializer_list<DType> dtypes) {
    std::string s;
    for (DType d : dtypes) s += (s.empty() ? "" : " or ") + std::string(dtype_name(d));
    return s;
}

// Reads the tensors of one projection of a packed layout, each checked before it is used, with
// messages that name the file, the tensor and what the layout expects.
class PackedReader {
  public:
    PackedReader(const WeightSource& src, const QuantizationConfig& q, const std::string& prefix)
        : src_(src), q_(q), prefix_(prefix) {}

    std::string name(const char* suffix) const { return prefix_ + "." + suffix; }
    bool has(const char* suffix) const { return src_.has(name(suffix)); }
    std::string where(const char* suffix) const { return src_.file_of(name(suffix)); }
    std::string method() const { return str_cat("quant_method ", quant::quant_method_name(q_.method)); }

    // The stored tensor, of one of `dtypes`, and `shape` unless that is empty.
    Tensor need(const char* suffix, std::initializer_list<DType> dtypes, const Shape& shape = {}) const {
        const std::string n = name(suffix);
        if (!src_.has(n))
            fail(StatusCode::kNotFound, src_.describe(), ": tensor '", n, "' is missing from the checkpoint (",
                 method(), " stores ", prefix_, " packed)");
        Tensor t = src_.get_stored(n);
        bool ok = false;
        for (DType d : dtypes) ok = ok || t.dtype() == d;
        if (!ok)
            fail(StatusCode::kInvalidArgument, where(suffix), ": tensor '", n, "' has dtype ", dtype_name(t.dtype()),
                 "; ", method(), " expects ", dtype_list(dtypes));
        if (shape.size() > 0 && t.shape() != shape)
            fail(StatusCode::kInvalidArgument, where(suffix), ": tensor '", n, "' has shape ", t.shape().to_string(),
                 " but the config implies ", shape.to_string(), " (", method(), layout_note(), ")");
        return t;
    }
    // A float tensor converted to dtype.
    Tensor need_float(const char* suffix, DType dtype, const Shape& shape = {}) const {
        Tensor t = need(suffix, kFloats, shape);
        return t.dtype() == dtype ? t : t.to(dtype);
    }
    void set_group(int64_t g) { group_ = g; }

  private:
    std::string layout_note() const { return group_ > 0 ? str_cat(", group ", group_) : ""; }

    const WeightSource& src_;
    const QuantizationConfig& q_;
    std::string prefix_;
    int64_t group_ = 0;
};

int64_t checked_group(const PackedReader& r, const QuantizationConfig& q, const std::string& prefix, int64_t out,
                      int64_t in) {
    const int64_t group = q.group_for(prefix, in);
    if (group <= 0 || in % group != 0 || group % 32 != 0)
        fail(StatusCode::kInvalidArgument, r.where("qweight"), ": ", prefix, ": group size ", group,
             " does not divide its ", in, " input columns in multiples of 32 (", r.method(), ")");
    if (out % 8 != 0)
        fail(StatusCode::kInvalidArgument, r.where("qweight"), ": ", prefix, ": ", out,
             " output rows do not pack 8 to a word (", r.method(), ")");
    return group;
}

void set_int4(Linear& l, quant::Int4Matrix m) {
    l.format = WeightFormat::kInt4;
    l.w = std::move(m.q);
    l.scale = std::move(m.scale);
    l.zero = std::move(m.zero);
    l.in_perm = std::move(m.in_perm);
    l.group = m.group;
}

void read_awq(PackedReader& r, const QuantizationConfig& q, const std::string& prefix, int64_t out, int64_t in,
              Linear& l) {
    const int64_t group = checked_group(r, q, prefix, out, in);
    r.set_group(group);
    quant::AwqTensors t;
    t.qweight = r.need("qweight", {DType::kI32}, {in, out / 8});
    t.qzeros = r.need("qzeros", {DType::kI32}, {in / group, out / 8});
    t.scales = r.need_float("scales", DType::kF16, {in / group, out});
    set_int4(l, quant::unpack_awq(t, group));
}

void read_gptq(PackedReader& r, const QuantizationConfig& q, const std::string& prefix, int64_t out, int64_t in,
               Linear& l) {
    const int64_t group = checked_group(r, q, prefix, out, in);
    r.set_group(group);
    quant::GptqTensors t;
    t.qweight = r.need("qweight", {DType::kI32}, {in / 8, out});
    t.qzeros = r.need("qzeros", {DType::kI32}, {in / group, out / 8});
    t.scales = r.need_float("scales", DType::kF16, {in / group, out});
    // Without act-order g_idx is c / group, and some exporters leave it out.
    if (r.has("g_idx") || q.desc_act) t.g_idx = r.need("g_idx", {DType::kI32}, {in});
    set_int4(l, quant::unpack_gptq(t, group, q.zeros_minus_one, r.where("g_idx") + ": " + prefix));
}

// weight_scale per tensor ([] or [1], repeated in every row) or per channel ([out] or [out, 1]), as
// f32 [out].
Tensor row_scales(const PackedReader& r, int64_t out) {
    Tensor s = r.need_float("weight_scale", DType::kF32).contiguous();
    const Shape& sh = s.shape();
    const bool per_tensor = s.numel() == 1 && sh.size() <= 1;
    const bool per_channel = (sh == Shape{out}) || (sh == Shape{out, 1});
    if (!per_tensor && !per_channel)
        fail(StatusCode::kInvalidArgument, r.where("weight_scale"), ": tensor '", r.name("weight_scale"),
             "' has shape ", sh.to_string(), " but the config implies [] or [1] (per tensor) or [", out, "] or [", out,
             ", 1] (per channel) (", r.method(), ")");
    Tensor scale = Tensor::empty({out}, DType::kF32);
    for (int64_t i = 0; i < out; ++i) scale.data<float>()[i] = s.data<float>()[per_tensor ? 0 : i];
    return scale;
}

// FP8 weights with one scale per block of rows x columns (DeepSeek's and Qwen3's FP8 checkpoints:
// weight_scale_inv, which despite its name multiplies; compressed-tensors: weight_scale). Blocks of
// 128 x 128 over a projection they tile exactly are kFp8Block, the block-scaled product. Other
// blocks have no product: those weights load dequantized, code * scale rounded once to bf16, so the
// model computes what the checkpoint holds at the memory of a 16-bit one (--quantize fp8 then makes
// per-channel FP8 of them).
bool block_product_takes(int64_t br, int64_t bc, int64_t out, int64_t in) {
    return br == ops::kFp8Block && bc == ops::kFp8Block && out % ops::kFp8Block == 0 && in % ops::kFp8Block == 0;
}

void read_fp8_blocks(PackedReader& r, const QuantizationConfig& q, int64_t out, int64_t in, Linear& l) {
    const Tensor codes = r.need("weight", {DType::kF8E4M3}, {out, in}).contiguous();
    const int64_t br = q.fp8_block_rows, bc = q.fp8_block_cols;
    const char* name = r.has("weight_scale_inv") ? "weight_scale_inv" : "weight_scale";
    const int64_t blocks_c = (in + bc - 1) / bc;
    const Tensor scale = r.need_float(name, DType::kF32, {(out + br - 1) / br, blocks_c}).contiguous();
    if (block_product_takes(br, bc, out, in)) {
        l.w = codes;
        l.scale = scale;
        l.format = WeightFormat::kFp8Block;
        return;
    }
    if (br == ops::kFp8Block && bc == ops::kFp8Block)
        log::warn(r.where("weight"), ": ", r.name("weight"), " [", out, ", ", in, "] is not a whole number of ",
                  ops::kFp8Block, "-blocks; it loads dequantized to bf16");
    l.w = Tensor::empty({out, in}, DType::kBF16);
    const uint8_t* c = codes.data<uint8_t>();
    const float* s = scale.data<float>();
    uint16_t* w = l.w.data<uint16_t>();
    parallel_for(out, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
            const float* srow = s + (row / br) * blocks_c;
            for (int64_t col = 0; col < in; ++col)
                w[row * in + col] = f32_to_bf16(f8e4m3_to_f32(c[row * in + col]) * srow[col / bc]);
        }
    });
}

void read_fp8(PackedReader& r, const QuantizationConfig& q, int64_t out, int64_t in, Linear& l) {
    if (q.fp8_block_rows > 0) return read_fp8_blocks(r, q, out, in, l);
    l.w = r.need("weight", {DType::kF8E4M3}, {out, in});
    if (!r.has("weight_scale") && r.has("weight_scale_inv"))
        fail(StatusCode::kInvalidArgument, r.where("weight_scale_inv"), ": tensor '", r.name("weight_scale_inv"),
             "' holds block-wise FP8 scales but the config names no block shape (weight_block_size)");
    l.scale = row_scales(r, out);
    // A static input_scale is left unread: activations are quantized per token (docs/quantization.md).
    l.format = WeightFormat::kFp8;
}

// weight_shape, when the checkpoint has one, must be the projection's [out, in].
void check_weight_shape(const PackedReader& r, int64_t out, int64_t in) {
    if (!r.has("weight_shape")) return;
    const Tensor t = r.need("weight_shape", {DType::kI64, DType::kI32}, {2}).contiguous();
    const int64_t a = t.dtype() == DType::kI64 ? t.data<int64_t>()[0] : t.data<int32_t>()[0];
    const int64_t b = t.dtype() == DType::kI64 ? t.data<int64_t>()[1] : t.data<int32_t>()[1];
    if (a != out || b != in)
        fail(StatusCode::kInvalidArgument, r.where("weight_shape"), ": tensor '", r.name("weight_shape"), "' says [",
             a, ", ", b, "] but the model's config implies [", out, ", ", in, "] (", r.method(), ")");
}

void read_compressed_int4(PackedReader& r, const QuantizationConfig& q, const std::string& prefix, int64_t out,
                          int64_t in, Linear& l) {
    const int64_t group = q.group_for(prefix, in);
    if (group <= 0 || in % group != 0 || group % 32 != 0)
        fail(StatusCode::kInvalidArgument, r.where("weight_packed"), ": ", prefix, ": group size ", group,
             " does not divide its ", in, " input columns in multiples of 32 (", r.method(), ")");
    r.set_group(group);
    check_weight_shape(r, out, in);
    quant::CompressedInt4Tensors t;
    t.weight_packed = r.need("weight_packed", {DType::kI32}, {out, in / 8});
    t.weight_scale = r.need_float("weight_scale", DType::kF16, {out, in / group});
    if (!q.sym) t.weight_zero_point = r.need("weight_zero_point", {DType::kI32}, {(out + 7) / 8, in / group});
    if (r.has("weight_g_idx")) t.weight_g_idx = r.need("weight_g_idx", {DType::kI32}, {in});
    set_int4(l, quant::unpack_compressed_int4(t, out, in, group, r.where("weight_packed") + ": " + prefix));
}

// compressed-tensors: the scheme the config names, from its tensors. FP8 stores what quant_method
// fp8 does; INT8 weights go to the SmoothQuant product (with activations) or the weight-only one.
void read_compressed(PackedReader& r, const QuantizationConfig& q, const std::string& prefix, int64_t out, int64_t in,
                     Linear& l) {
    switch (q.compressed_scheme) {
        case quant::CompressedScheme::kFp8:
            read_fp8(r, q, out, in, l);
            return;
        case quant::CompressedScheme::kW8A8Int8:
            l.w = r.need("weight", {DType::kI8}, {out, in});
            l.scale = row_scales(r, out);
            l.format = WeightFormat::kW8A8Int8;  // no smoothing vector: it is folded into the weights
            return;
        case quant::CompressedScheme::kW8A16:
            if (r.has("weight_packed")) {
                check_weight_shape(r, out, in);
                const Tensor packed = r.need("weight_packed", {DType::kI32}, {out, (in + 3) / 4});
                l.w = quant::unpack_compressed_int8(packed, out, in);
            } else {
                l.w = r.need("weight", {DType::kI8}, {out, in});
            }
            l.scale = row_scales(r, out);
            l.format = WeightFormat::kInt8;
            return;
        case quant::CompressedScheme::kW4A16:
            read_compressed_int4(r, q, prefix, out, in, l);
            return;
    }
}

void read_turbolm(PackedReader& r, const QuantizationConfig& q, int64_t out, int64_t in, Linear& l) {
    l.w = r.need("weight", {DType::kI8}, {out, in});
    l.scale = r.need_float("weight_scale", DType::kF32, {out});
    if (q.turbolm_format == quant::TurbolmFormat::kW8A8Int8) {
        l.format = WeightFormat::kW8A8Int8;
        if (r.has("smooth_inv")) l.inv_smooth = r.need_float("smooth_inv", DType::kF32, {in});
    } else {
        l.format = WeightFormat::kInt8;
    }
}

}  // namespace

Linear load_quantized_linear(const WeightSource& src, const QuantizationConfig& q, const std::string& prefix,
                             int64_t out, int64_t in, bool bias) {
    PackedReader r(src, q, prefix);
    Linear l;
    const bool packed_int4 = q.method == QuantMethod::kAwq || q.method == QuantMethod::kGptq;
    // A module the quantizer left in 16 bits: a float <prefix>.weight (and no qweight or weight_packed).
    const bool dense = packed_int4 ? !r.has("qweight") && r.has("weight")
                                   : !r.has("weight_packed") && r.has("weight") &&
                                         is_plain_float(src.get_stored(r.name("weight")).dtype());
    if (dense) {
        l.w = load_matrix(src, r.name("weight"), {out, in});
    } else {
        switch (q.method) {
            case QuantMethod::kAwq:
                read_awq(r, q, prefix, out, in, l);
                break;
            case QuantMethod::kGptq:
                read_gptq(r, q, prefix, out, in, l);
                break;
            case QuantMethod::kFp8:
                read_fp8(r, q, out, in, l);
                break;
            case QuantMethod::kTurbolm:
                read_turbolm(r, q, out, in, l);
                break;
            case QuantMethod::kCompressedTensors:
                read_compressed(r, q, prefix, out, in, l);
                break;
            case QuantMethod::kNone:
                TURBOLM_CHECK(false, "load_quantized_linear without a method");
        }
    }
    if (bias) l.b = load_vector(src, r.name("bias"), out, WeightKind::kBias);
    return l;
}

bool stored_packed(const WeightSource& src, const std::string& prefix) {
    if (src.synthetic()) return false;
    if (src.has(prefix + ".qweight") || src.has(prefix + ".weight_packed")) return true;
    return src.has(prefix + ".weight") && !is_plain_float(src.get_stored(prefix + ".weight").dtype());
}

void add_linear_tensors(const Linear& l, const std::string& prefix, const QuantizationConfig& q,
                        std::map<std::string, Tensor>& out) {
    auto put = [&](const char* suffix, const Tensor& t) { out[prefix + "." + suffix] = t; };
    auto refuse = [&]() {
        fail(StatusCode::kUnimplemented, prefix, ": a ", weight_format_name(l.format),
             " projection has no place in a checkpoint of quant_method ", quant::quant_method_name(q.method));
    };
    switch (l.format) {
        case WeightFormat::kDense:
            put("weight", l.w);
            break;
        case WeightFormat::kInt4: {
            quant::Int4Matrix m{l.w, l.scale, l.zero, l.in_perm, l.group};
            if (q.method == QuantMethod::kAwq) {
                quant::AwqTensors t = quant::pack_awq(m);
                put("qweight", t.qweight);
                put("qzeros", t.qzeros);
                put("scales", t.scales);
            } else if (q.method == QuantMethod::kGptq) {
                quant::GptqTensors t = quant::pack_gptq(m, q.zeros_minus_one);
                put("qweight", t.qweight);
                put("qzeros", t.qzeros);
                put("scales", t.scales);
                put("g_idx", t.g_idx);
            } else {
                refuse();
            }
            break;
        }
        case WeightFormat::kFp8Block:
            if (q.method != QuantMethod::kFp8 || q.fp8_block_rows != ops::kFp8Block ||
                q.fp8_block_cols != ops::kFp8Block)
                refuse();
            put("weight", l.w);
            put("weight_scale_inv", l.scale);  // DeepSeek's name: the scale multiplies
            break;
        case WeightFormat::kFp8:
            if (q.method != QuantMethod::kFp8 || q.fp8_block_rows > 0) refuse();
            put("weight", l.w);
            put("weight_scale", l.scale.contiguous().view({l.out(), 1}));  // per channel, as [out, 1]
            break;
        case WeightFormat::kInt8:
        case WeightFormat::kW8A8Int8:
            if (q.method != QuantMethod::kTurbolm ||
                (l.format == WeightFormat::kInt8) != (q.turbolm_format == quant::TurbolmFormat::kInt8))
                refuse();
            put("weight", l.w);
            put("weight_scale", l.scale);
            if (l.inv_smooth.defined()) put("smooth_inv", l.inv_smooth);
            break;
    }
    if (l.b.defined()) put("bias", l.b);
}

}  // namespace turbolm
