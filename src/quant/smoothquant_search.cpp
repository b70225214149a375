#include "quant/smoothquant_search.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "quant/awq_search.h"
#include "quant/fake_quantization.h"

namespace turbolm::quant {
namespace {

// The W8A8 product ops::linear_w8a8_int8 computes, in f32: rows of x * inv and rows of w * s each
// rounded to int8 with their own scale.
double w8a8_error(const Tensor& x, std::span<const Tensor> weights, std::span<const Tensor> reference,
                  std::span<const float> s, std::span<const float> inv) {
    Tensor xs = x.to(DType::kF32);
    scale_columns(xs, inv);
    const Tensor xq = fake_quantize_rows_int8(xs);
    double err = 0.0;
    int64_t count = 0;
    for (size_t i = 0; i < weights.size(); ++i) {
        Tensor ws = weights[i].to(DType::kF32);
        scale_columns(ws, s);
        err += squared_error(matmul_nt(xq, fake_quantize_rows_int8(ws)), reference[i]);
        count += reference[i].numel();
    }
    return err / double(std::max<int64_t>(count, 1));
}

}  // namespace

SmoothScales smoothquant_search(const Tensor& x, std::span<const Tensor> weights, std::span<const float> x_abs_max,
                                std::span<const double> alphas) {
    TURBOLM_REQUIRE(!weights.empty(), "smoothquant_search needs weights");
    const int64_t in = x.size(1);
    TURBOLM_CHECK(int64_t(x_abs_max.size()) == in, "smoothquant_search: ", x_abs_max.size(), " maxima for ", in,
                  " inputs");
    std::vector<float> w_max(size_t(in), 0.0f);
    std::vector<Tensor> reference;
    for (const Tensor& w : weights) {
        TURBOLM_CHECK(w.dtype() == DType::kF32 && w.is_contiguous() && w.size(1) == in, "smoothquant_search weight ",
                      w.describe());
        for (int64_t r = 0; r < w.size(0); ++r)
            for (int64_t c = 0; c < in; ++c)
                w_max[size_t(c)] = std::max(w_max[size_t(c)], std::fabs(w.data<float>()[r * in + c]));
        reference.push_back(matmul_nt(x, w));
    }
    SmoothScales best;
    best.scales.assign(size_t(in), 1.0f);
    best.inv.assign(size_t(in), 1.0f);
    best.error_plain = w8a8_error(x, weights, reference, best.scales, best.inv);
    best.error = best.error_plain;
    for (double alpha : alphas) {
        std::vector<float> s(static_cast<size_t>(in)), inv(static_cast<size_t>(in));
        for (int64_t c = 0; c < in; ++c) {
            const double a = std::max(double(x_abs_max[size_t(c)]), 1e-5);
            const double w = std::max(double(w_max[size_t(c)]), 1e-5);
            s[size_t(c)] = float(std::clamp(std::pow(a, alpha) / std::pow(w, 1.0 - alpha), 1e-5, 1e5));
            inv[size_t(c)] = 1.0f / s[size_t(c)];
        }
        const double err = w8a8_error(x, weights, reference, s, inv);
        if (err < best.error) {
            best = SmoothScales{std::move(s), std::move(inv), alpha, best.error_plain, err};
        }
    }
    return best;
}

}  // namespace turbolm::quant
