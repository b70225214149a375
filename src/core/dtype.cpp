#include "core/dtype.h"

namespace turbolm {
namespace {

struct DTypeInfo {
    DType dtype;
    size_t size;
    const char* name;
    const char* safetensors;
    bool is_float;
};

constexpr DTypeInfo kInfos[] = {
    {DType::kF64, 8, "f64", "F64", true},        {DType::kF32, 4, "f32", "F32", true},
    {DType::kF16, 2, "f16", "F16", true},        {DType::kBF16, 2, "bf16", "BF16", true},
    {DType::kF8E4M3, 1, "f8e4m3", "F8_E4M3", true}, {DType::kI64, 8, "i64", "I64", false},
    {DType::kI32, 4, "i32", "I32", false},       {DType::kI16, 2, "i16", "I16", false},
    {DType::kI8, 1, "i8", "I8", false},          {DType::kU8, 1, "u8", "U8", false},
    {DType::kBool, 1, "bool", "BOOL", false},
};

const DTypeInfo& info(DType dt) { return kInfos[static_cast<int>(dt)]; }

}  // namespace

size_t dtype_size(DType dt) { return info(dt).size; }
const char* dtype_name(DType dt) { return info(dt).name; }
bool dtype_is_float(DType dt) { return info(dt).is_float; }

bool dtype_from_safetensors(std::string_view name, DType* out) {
    for (const auto& i : kInfos) {
        if (name == i.safetensors) {
            *out = i.dtype;
            return true;
        }
    }
    return false;
}

bool dtype_from_torch_name(std::string_view name, DType* out) {
    if (name.starts_with("torch.")) name.remove_prefix(6);
    static const struct {
        const char* name;
        DType dtype;
    } kNames[] = {{"float32", DType::kF32}, {"float", DType::kF32},     {"float16", DType::kF16},
                  {"half", DType::kF16},    {"bfloat16", DType::kBF16}, {"float64", DType::kF64},
                  {"double", DType::kF64},  {"float8_e4m3fn", DType::kF8E4M3}};
    for (const auto& n : kNames) {
        if (name == n.name) {
            *out = n.dtype;
            return true;
        }
    }
    return false;
}

}  // namespace turbolm
