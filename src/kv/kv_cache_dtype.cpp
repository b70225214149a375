#include "kv/kv_cache_dtype.h"

#include "core/error.h"

namespace turbolm {

KvCacheDtype parse_kv_cache_dtype(std::string_view name) {
    if (name == "auto") return KvCacheDtype::kAuto;
    if (name == "int8") return KvCacheDtype::kInt8;
    if (name == "fp8") return KvCacheDtype::kFp8;
    fail(StatusCode::kInvalidArgument, "unknown KV cache dtype '", name, "' (auto, int8 or fp8)");
}

const char* kv_cache_dtype_name(KvCacheDtype d) {
    switch (d) {
        case KvCacheDtype::kInt8:
            return "int8";
        case KvCacheDtype::kFp8:
            return "fp8";
        default:
            return "auto";
    }
}

DType kv_storage_dtype(KvCacheDtype d, DType activation_dtype) {
    switch (d) {
        case KvCacheDtype::kInt8:
            return DType::kI8;
        case KvCacheDtype::kFp8:
            return DType::kF8E4M3;
        default:
            return activation_dtype;
    }
}

bool kv_dtype_has_scales(DType storage) { return storage == DType::kI8 || storage == DType::kF8E4M3; }

size_t kv_bytes_per_position(int64_t n_head_kv, int64_t head_dim, DType storage) {
    const size_t values = 2 * size_t(n_head_kv) * size_t(head_dim) * dtype_size(storage);
    return values + (kv_dtype_has_scales(storage) ? 2 * size_t(n_head_kv) * sizeof(float) : 0);
}

}  // namespace turbolm
