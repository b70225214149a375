#include "core/half.h"

#include <cmath>

namespace turbolm {

float f16_to_f32(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: renormalize
            int e = -1;
            do {
                mant <<= 1;
                ++e;
            } while ((mant & 0x400u) == 0);
            bits = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | mant << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | mant << 13;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
    uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) return sign | 0x7e00u;          // NaN
    if (abs >= 0x477ff000u) return sign | 0x7c00u;         // overflows to inf after rounding
    if (abs < 0x38800000u) {                               // subnormal or zero in f16
        if (abs < 0x33000000u) return sign;                // below half the smallest subnormal
        uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        int shift = 126 - int(abs >> 23);  // in [14, 24]
        uint32_t rounded = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (rounded & 1u))) ++rounded;
        return sign | uint16_t(rounded);
    }
    uint32_t r = abs + 0xfffu + ((abs >> 13) & 1u);       // round to nearest even on bit 13
    return sign | uint16_t((r - (112u << 23)) >> 13);
}

float f8e4m3_to_f32(uint8_t v) {
    // e4m3fn: bias 7, no infinities, 0x7f/0xff are NaN.
    int sign = v & 0x80 ? -1 : 1;
    int exp = (v >> 3) & 0xf;
    int mant = v & 0x7;
    if (exp == 0xf && mant == 0x7) return std::nanf("");
    if (exp == 0) return sign * std::ldexp(float(mant), -9);
    return sign * std::ldexp(1.0f + mant / 8.0f, exp - 7);
}

uint8_t f32_to_f8e4m3(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    const uint8_t sign = uint8_t((bits >> 24) & 0x80u);
    const uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) return 0x7f;            // NaN, whatever its sign
    if (abs > 0x43e80000u) return sign | 0x7e;     // above 464 = 448 + half an ulp: saturate
    if (abs <= 0x3a800000u) return sign;           // at most 2^-10, half the smallest subnormal: zero
    if (abs >= 0x3c800000u) {                      // normal in e4m3 (>= 2^-6): round on bit 20
        const uint32_t r = abs + 0x7ffffu + ((abs >> 20) & 1u);
        return sign | uint8_t((r >> 20) - (120u << 3));  // rebias the exponent from 127 to 7
    }
    // Subnormal in e4m3: a multiple of 2^-9. The f32 exponent is -10..-7, so the 24-bit significand
    // shifts right by 21..24 bits; a carry into 8 is the smallest normal, which is right.
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const int shift = 14 - (int(abs >> 23) - 127);
    uint32_t rounded = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (rounded & 1u))) ++rounded;
    return sign | uint8_t(rounded);
}

}  // namespace turbolm
