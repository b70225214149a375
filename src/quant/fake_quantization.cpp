#include "quant/fake_quantization.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "ops/ops.h"
#include "quant/int4_rounding.h"

namespace turbolm::quant {

Tensor fake_quantize_int4(const Tensor& w, int64_t group) {
    TURBOLM_CHECK(w.dtype() == DType::kF32 && w.ndim() == 2 && w.is_contiguous() && w.size(1) % group == 0,
                  "fake_quantize_int4 of ", w.describe(), " in groups of ", group);
    Tensor out = Tensor::empty(w.shape(), DType::kF32);
    const int64_t n = w.numel();
#pragma omp parallel for schedule(static)
    for (int64_t start = 0; start < n; start += group) {
        const float* src = w.data<float>() + start;
        int4_fake_quantize(src, group, int4_group_params(src, group), out.data<float>() + start);
    }
    return out;
}

Tensor fake_quantize_rows_int8(const Tensor& w) {
    TURBOLM_CHECK(w.dtype() == DType::kF32 && w.ndim() == 2 && w.is_contiguous(), "fake_quantize_rows_int8 of ",
                  w.describe());
    Tensor out = Tensor::empty(w.shape(), DType::kF32);
    const int64_t rows = w.size(0), cols = w.size(1);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        const float* src = w.data<float>() + r * cols;
        float* dst = out.data<float>() + r * cols;
        float amax = 0.0f;
        for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(src[c]));
        const float scale = amax / 127.0f;
        for (int64_t c = 0; c < cols; ++c)
            dst[c] = scale == 0.0f ? 0.0f : std::clamp(std::nearbyint(src[c] / scale), -127.0f, 127.0f) * scale;
    }
    return out;
}

double squared_error(const Tensor& a, const Tensor& b) {
    TURBOLM_CHECK(a.shape() == b.shape() && a.dtype() == DType::kF32 && b.dtype() == DType::kF32 &&
                      a.is_contiguous() && b.is_contiguous(),
                  "squared_error of ", a.describe(), " and ", b.describe());
    double sum = 0.0;
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
#pragma omp parallel for reduction(+ : sum) schedule(static)
    for (int64_t i = 0; i < a.numel(); ++i) {
        const double d = double(pa[i]) - double(pb[i]);
        sum += d * d;
    }
    return sum;
}

Tensor matmul_nt(const Tensor& x, const Tensor& w) {
    Tensor y = Tensor::empty({x.size(0), w.size(0)}, DType::kF32);
    ops::linear(x, w, Tensor(), y, ops::MatmulPrecision::kF32);
    return y;
}

Tensor to_f32(const Tensor& w) { return w.to(DType::kF32); }

}  // namespace turbolm::quant
