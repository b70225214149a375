// 8-bit KV cache codes on the CPU (the scheme is described in cpu_kv_quant.h). These run once per
// stored token and, in attention, once per cached position read, so plain loops are enough.
#include "ops/cpu/cpu_kv_quant.h"

#include <array>
#include <cmath>

#include "core/error.h"
#include "core/half.h"

namespace turbolm::cpu {

float e4m3_to_f32(uint8_t code) {
    static const std::array<float, 256> table = [] {
        std::array<float, 256> t{};
        for (int i = 0; i < 256; ++i) t[size_t(i)] = f8e4m3_to_f32(uint8_t(i));
        return t;
    }();
    return table[code];
}

float kv_scale_of(const float* x, int64_t n, DType code_dtype) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    const float scale = amax / (code_dtype == DType::kI8 ? kKvInt8Max : kKvFp8Max);
    // An all-zero vector (or one so small that the division underflows) stores zeros with scale 1.
    return scale > 0.0f ? scale : 1.0f;
}

void quantize_kv_rows(const float* x, int64_t ldx, int64_t rows, int64_t n, DType code_dtype, void* codes,
                      int64_t ldc, float* scale) {
    TURBOLM_CHECK(code_dtype == DType::kI8 || code_dtype == DType::kF8E4M3, "KV codes must be i8 or f8e4m3, got ",
                  dtype_name(code_dtype));
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * ldx;
        const float s = kv_scale_of(xr, n, code_dtype);
        scale[r] = s;
        if (code_dtype == DType::kI8) {
            int8_t* q = static_cast<int8_t*>(codes) + r * ldc;
            for (int64_t i = 0; i < n; ++i)
                q[i] = int8_t(std::fmin(std::fmax(std::nearbyint(xr[i] / s), -kKvInt8Max), kKvInt8Max));
        } else {
            uint8_t* q = static_cast<uint8_t*>(codes) + r * ldc;
            for (int64_t i = 0; i < n; ++i) q[i] = f32_to_f8e4m3(xr[i] / s);
        }
    }
}

void dequantize_kv_rows(const void* codes, int64_t ldc, DType code_dtype, const float* scale, int64_t rows, int64_t n,
                        float* out, int64_t ldo) {
    TURBOLM_CHECK(code_dtype == DType::kI8 || code_dtype == DType::kF8E4M3, "KV codes must be i8 or f8e4m3, got ",
                  dtype_name(code_dtype));
    for (int64_t r = 0; r < rows; ++r) {
        const float s = scale[r];
        float* o = out + r * ldo;
        if (code_dtype == DType::kI8) {
            const int8_t* q = static_cast<const int8_t*>(codes) + r * ldc;
            for (int64_t i = 0; i < n; ++i) o[i] = float(q[i]) * s;
        } else {
            const uint8_t* q = static_cast<const uint8_t*>(codes) + r * ldc;
            for (int64_t i = 0; i < n; ++i) o[i] = e4m3_to_f32(q[i]) * s;
        }
    }
}

}  // namespace turbolm::cpu
