// Element types of tensors: what checkpoints store (f32, f16, bf16, f8e4m3, integers) and what
// the engine computes with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace turbolm {

enum class DType : uint8_t { kF64, kF32, kF16, kBF16, kF8E4M3, kI64, kI32, kI16, kI8, kU8, kBool };

size_t dtype_size(DType dt);
// Our short names: "f32", "bf16", ...
const char* dtype_name(DType dt);
// safetensors names: "F32", "BF16", ...; false when the name is unknown.
bool dtype_from_safetensors(std::string_view name, DType* out);
// HF config names: "float32", "bfloat16", "float16", "half", ...; false when unknown.
bool dtype_from_torch_name(std::string_view name, DType* out);
bool dtype_is_float(DType dt);

template <typename T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<double>() { return DType::kF64; }
template <> constexpr DType dtype_of<float>() { return DType::kF32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::kI64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::kI32; }
template <> constexpr DType dtype_of<int16_t>() { return DType::kI16; }
template <> constexpr DType dtype_of<int8_t>() { return DType::kI8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::kU8; }

}  // namespace turbolm
