// What the KV cache stores, chosen per model: "auto" keeps keys and values in the activation dtype
// (f32 on the CPU, the 16-bit compute dtype on the GPU); "int8" and "fp8" (E4M3) store 8-bit codes
// with one f32 scale per (slot, kv head) for K and for V, which holds about twice as many tokens
// as a 16-bit cache in the same memory (the scheme: ops::qkv_to_cache).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/dtype.h"

namespace turbolm {

enum class KvCacheDtype : uint8_t { kAuto, kInt8, kFp8 };

// "auto", "int8" or "fp8"; anything else is Error(kInvalidArgument) naming the choices.
KvCacheDtype parse_kv_cache_dtype(std::string_view name);
const char* kv_cache_dtype_name(KvCacheDtype d);

// The pools' element type: the activation dtype for kAuto, kI8 or kF8E4M3 otherwise.
DType kv_storage_dtype(KvCacheDtype d, DType activation_dtype);
// Whether pools of this element type hold 8-bit codes with per-(slot, kv head) scales.
bool kv_dtype_has_scales(DType storage);
// Bytes one position of one layer takes: K and V, and their scales when there are any.
size_t kv_bytes_per_position(int64_t n_head_kv, int64_t head_dim, DType storage);

}  // namespace turbolm
