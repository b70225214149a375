// RMSNorm and LayerNorm rows, accumulated in f32 like HF's implementations.
#include <cmath>

#include "core/parallel.h"
#include "ops/cpu/cpu_kernels.h"

namespace turbolm::cpu {

void rms_norm(const float* x, int64_t ldx, const float* w, float eps, float* y, int64_t ldy, int64_t rows,
              int64_t cols) {
    parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const float* xr = x + r * ldx;
            float* yr = y + r * ldy;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int64_t i = 0; i < cols; ++i) sum += xr[i] * xr[i];
            const float inv = 1.0f / std::sqrt(sum / float(cols) + eps);
#pragma omp simd
            for (int64_t i = 0; i < cols; ++i) yr[i] = w[i] * (xr[i] * inv);
        }
    });
}

void layer_norm(const float* x, int64_t ldx, const float* w, const float* b, float eps, float* y, int64_t ldy,
                int64_t rows, int64_t cols) {
    parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const float* xr = x + r * ldx;
            float* yr = y + r * ldy;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int64_t i = 0; i < cols; ++i) sum += xr[i];
            const float mean = sum / float(cols);
            float var = 0.0f;
#pragma omp simd reduction(+ : var)
            for (int64_t i = 0; i < cols; ++i) var += (xr[i] - mean) * (xr[i] - mean);
            const float inv = 1.0f / std::sqrt(var / float(cols) + eps);
            if (b) {
#pragma omp simd
                for (int64_t i = 0; i < cols; ++i) yr[i] = (xr[i] - mean) * inv * w[i] + b[i];
            } else {
#pragma omp simd
                for (int64_t i = 0; i < cols; ++i) yr[i] = (xr[i] - mean) * inv * w[i];
            }
        }
    });
}

}  // namespace turbolm::cpu
