// Elementwise math that vectorizes: plain arithmetic and bit operations only, so that loops calling
// these inline compile to SIMD code (libm's expf is a scalar call).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace turbolm::cpu {

// e^x in f32, relative error below 2e-7 (about 2 ulp). Inputs beyond f32's range are clamped, so
// the result saturates near FLT_MIN or FLT_MAX instead of reaching 0 or inf.
inline float exp_f32(float x) {
    x = x < -87.33f ? -87.33f : (x > 88.0f ? 88.0f : x);  // keeps 2^n a normal float
    const float n = std::floor(x * 1.44269504088896341f + 0.5f);  // x / ln 2, rounded
    // r = x - n ln2, with ln 2 split in two so that the product stays exact.
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = (int32_t(n) + 127) << 23;  // 2^n
    float scale;
    std::memcpy(&scale, &bits, 4);
    return p * scale;
}

}  // namespace turbolm::cpu
