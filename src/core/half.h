// Scalar conversions between f32 and the 16-bit float formats. Vectorized versions live with the
// kernels that use them; these are for setup code, tests and scalar tails.
#pragma once

#include <cstdint>
#include <cstring>

namespace turbolm {

inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Round to nearest even, as PyTorch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return uint16_t(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float f8e4m3_to_f32(uint8_t v);
// FP8 E4M3 (the "fn" variant: no infinities, 0x7f/0xff NaN): round to nearest even, saturating to
// +-448, NaN to 0x7f. Bit for bit what CUDA's __nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3)
// gives, so that the CPU and the GPU quantize to the same codes.
uint8_t f32_to_f8e4m3(float f);

}  // namespace turbolm
