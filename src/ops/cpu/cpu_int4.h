// Weight-only INT4 on the CPU (see ops::linear_int4 for the format): the reference the GPU kernels
// are tested against, the load-time quantizer, and the column permutation of act-order checkpoints.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace turbolm::cpu {

// A quantized weight [n, k]: codes of columns 2j and 2j+1 in the low and high nibble of byte j of a
// row; one f16 scale and one u8 zero point per `group` columns of a row.
struct Int4Weights {
    const uint8_t* q = nullptr;  // [n, ldq] bytes, k / 2 used
    int64_t ldq = 0;
    const uint16_t* scale = nullptr;  // f16 bits [n, lds], k / group used
    int64_t lds = 0;
    const uint8_t* zero = nullptr;  // [n, ldz], k / group used
    int64_t ldz = 0;
    int64_t group = 0;
};

// y[t, r] (+)= sum_c x[t, c] * (code[r, c] - zero[r, c / group]) * scale[r, c / group] + bias[r].
// x: [m, ldx]; y: [m, ldy]; bias: [n] or null. Each weight row is dequantized once for all m rows.
void linear_int4(const float* x, int64_t ldx, const Int4Weights& w, const float* bias, float* y, int64_t ldy, int64_t m,
                 int64_t n, int64_t k, bool accumulate);

// Round-to-nearest INT4 of w [rows, ldw] in dtype (f32, bf16, f16) in groups of `group` columns,
// with the arithmetic ops::quantize_groups_int4 specifies. q: [rows, ldq]; scale (f16 bits): [rows, lds];
// zero: [rows, ldz].
void quantize_groups_int4(const void* w, DType dtype, int64_t ldw, int64_t rows, int64_t cols, int64_t group,
                          uint8_t* q, int64_t ldq, uint16_t* scale, int64_t lds, uint8_t* zero, int64_t ldz);

// dst[t, c] = src[t, perm[c]] for elements of elem_size bytes.   src: [rows, lds]; dst: [rows, ldd]
// (strides in elements); perm: [cols], trusted.
void gather_columns(const void* src, int64_t lds, const int32_t* perm, void* dst, int64_t ldd, int64_t rows,
                    int64_t cols, size_t elem_size);

}  // namespace turbolm::cpu
