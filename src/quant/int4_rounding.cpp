#include "quant/int4_rounding.h"

#include <algorithm>
#include <cmath>

#include "core/half.h"

namespace turbolm::quant {

Int4GroupParams int4_group_params(const float* w, int64_t n) {
    float lo = w[0], hi = w[0];
    for (int64_t i = 1; i < n; ++i) {
        lo = std::min(lo, w[i]);
        hi = std::max(hi, w[i]);
    }
    Int4GroupParams p;
    p.scale = f16_to_f32(f32_to_f16((hi - lo) / 15.0f));
    if (p.scale == 0.0f) p.scale = 1.0f;
    p.zero = int(std::clamp(std::nearbyint(-lo / p.scale), 0.0f, 15.0f));
    return p;
}

void int4_fake_quantize(const float* w, int64_t n, const Int4GroupParams& p, float* out) {
    for (int64_t i = 0; i < n; ++i) {
        const float code = std::clamp(std::nearbyint(w[i] / p.scale) + float(p.zero), 0.0f, 15.0f);
        out[i] = (code - float(p.zero)) * p.scale;
    }
}

}  // namespace turbolm::quant
