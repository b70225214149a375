// Round-to-nearest INT4 of one group of weights in f32, the arithmetic of ops::quantize_groups_int4,
// for searches that try many candidate scalings and need the rounded weights, not the packed ones.
#pragma once

#include <cstdint>

namespace turbolm::quant {

struct Int4GroupParams {
    float scale = 1.0f;  // already rounded to f16
    int zero = 0;        // 0..15
};

// The scale and zero point ops::quantize_groups_int4 picks for w[0, n).
Int4GroupParams int4_group_params(const float* w, int64_t n);
// out[i] = (code(w[i]) - zero) * scale: the value the quantized weight stands for.
void int4_fake_quantize(const float* w, int64_t n, const Int4GroupParams& p, float* out);

}  // namespace turbolm::quant
