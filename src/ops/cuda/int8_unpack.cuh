// Four int8 codes of a word to exact f32 without integer-to-float conversions (a quarter-rate
// instruction that bounds kernels reading many codes): each byte b, offset to b + 128, goes into the
// low mantissa bits of 2^23 (one byte permute), giving the float 2^23 + 128 + b, and one subtraction
// leaves b exactly. f[i] is the code in byte i.
#pragma once

#include <cstdint>

namespace turbolm::cuda {

__device__ __forceinline__ void unpack4_i8(uint32_t w, float* f) {
    const uint32_t x = w ^ 0x80808080u;  // each byte b becomes b + 128
    f[0] = __uint_as_float(__byte_perm(x, 0x4b000000u, 0x7540)) - 8388736.0f;
    f[1] = __uint_as_float(__byte_perm(x, 0x4b000000u, 0x7541)) - 8388736.0f;
    f[2] = __uint_as_float(__byte_perm(x, 0x4b000000u, 0x7542)) - 8388736.0f;
    f[3] = __uint_as_float(__byte_perm(x, 0x4b000000u, 0x7543)) - 8388736.0f;
}

}  // namespace turbolm::cuda
