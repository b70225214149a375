// Weight-only INT8 on the CPU: the reference the GPU kernels are tested against, and a usable path
// for small models. Sums are kept in f32 in the order a simple loop takes.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/half.h"
#include "core/parallel.h"
#include "ops/cpu/cpu_kernels.h"

namespace turbolm::cpu {

void linear_int8(const float* x, int64_t ldx, const int8_t* q, int64_t ldq, const float* scale, const float* bias,
                 float* y, int64_t ldy, int64_t m, int64_t n, int64_t k, bool accumulate) {
    parallel_for(n, 16, [&](int64_t begin, int64_t end) {
        std::vector<float> row(static_cast<size_t>(k));
        for (int64_t r = begin; r < end; ++r) {
            const int8_t* qr = q + r * ldq;
            for (int64_t c = 0; c < k; ++c) row[size_t(c)] = float(qr[c]);
            for (int64_t t = 0; t < m; ++t) {
                const float* xt = x + t * ldx;
                float acc = 0.0f;
                for (int64_t c = 0; c < k; ++c) acc += xt[c] * row[size_t(c)];
                float v = acc * scale[r] + (bias ? bias[r] : 0.0f);
                float& out = y[t * ldy + r];
                out = accumulate ? out + v : v;
            }
        }
    });
}

namespace {

float load(const void* w, DType dtype, int64_t i) {
    switch (dtype) {
        case DType::kF32: return static_cast<const float*>(w)[i];
        case DType::kBF16: return bf16_to_f32(static_cast<const uint16_t*>(w)[i]);
        case DType::kF16: return f16_to_f32(static_cast<const uint16_t*>(w)[i]);
        default: return 0.0f;
    }
}

}  // namespace

void quantize_rows_int8(const void* w, DType dtype, int64_t ldw, int8_t* q, float* scale, int64_t rows, int64_t cols) {
    parallel_for(rows, 16, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            float absmax = 0.0f;
            for (int64_t c = 0; c < cols; ++c) absmax = std::max(absmax, std::fabs(load(w, dtype, r * ldw + c)));
            const float s = absmax / 127.0f;
            const float inv = absmax > 0.0f ? 127.0f / absmax : 0.0f;
            scale[r] = s;
            for (int64_t c = 0; c < cols; ++c) {
                const float v = std::nearbyint(load(w, dtype, r * ldw + c) * inv);
                q[r * cols + c] = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
            }
        }
    });
}

}  // namespace turbolm::cpu
