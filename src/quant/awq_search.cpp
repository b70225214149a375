#include "quant/awq_search.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "quant/fake_quantization.h"
#include "quant/int4_rounding.h"

namespace turbolm::quant {
namespace {

// Mean over rows of |w| relative to the largest |w| of its group: how much a column matters to the
// weights themselves, the second factor of AWQ's "duo" scaling.
std::vector<float> weight_abs_mean(std::span<const Tensor> weights, int64_t group) {
    const int64_t in = weights[0].size(1);
    std::vector<double> sum(size_t(in), 0.0);
    int64_t rows = 0;
    for (const Tensor& w : weights) {
        for (int64_t r = 0; r < w.size(0); ++r) {
            const float* row = w.data<float>() + r * in;
            for (int64_t g = 0; g < in; g += group) {
                float amax = 0.0f;
                for (int64_t c = g; c < g + group; ++c) amax = std::max(amax, std::fabs(row[c]));
                if (amax == 0.0f) continue;
                for (int64_t c = g; c < g + group; ++c) sum[size_t(c)] += std::fabs(row[c]) / amax;
            }
        }
        rows += w.size(0);
    }
    std::vector<float> mean(static_cast<size_t>(in));
    for (int64_t c = 0; c < in; ++c) mean[size_t(c)] = float(sum[size_t(c)] / double(std::max<int64_t>(rows, 1)));
    return mean;
}

std::vector<float> candidate_scales(std::span<const float> x_mean, const std::vector<float>& w_mean, double ratio,
                                    bool duo) {
    const size_t in = x_mean.size();
    std::vector<float> s(in);
    float lo = std::numeric_limits<float>::max(), hi = 0.0f;
    for (size_t c = 0; c < in; ++c) {
        double v = std::pow(std::max(double(x_mean[c]), 1e-8), ratio);
        if (duo) v /= std::pow(std::max(double(w_mean[c]), 1e-8), 1.0 - ratio) + 1e-4;
        s[c] = std::max(float(v), 1e-4f);
        lo = std::min(lo, s[c]);
        hi = std::max(hi, s[c]);
    }
    const float norm = std::sqrt(lo * hi);
    for (float& v : s) v /= norm;
    return s;
}

// Mean squared output error of the weights quantized after scaling their columns by s.
double scaled_error(const Tensor& x, std::span<const Tensor> weights, std::span<const Tensor> reference,
                    std::span<const float> s, int64_t group) {
    double err = 0.0;
    int64_t count = 0;
    for (size_t i = 0; i < weights.size(); ++i) {
        Tensor scaled = weights[i].to(DType::kF32);
        scale_columns(scaled, s);
        Tensor q = fake_quantize_int4(scaled, group);
        std::vector<float> inv(s.size());
        for (size_t c = 0; c < s.size(); ++c) inv[c] = 1.0f / s[c];
        scale_columns(q, inv);
        err += squared_error(matmul_nt(x, q), reference[i]);
        count += reference[i].numel();
    }
    return err / double(std::max<int64_t>(count, 1));
}

}  // namespace

void scale_columns(Tensor& w, std::span<const float> s) {
    TURBOLM_CHECK(w.dtype() == DType::kF32 && w.ndim() == 2 && w.is_contiguous() && w.size(1) == int64_t(s.size()),
                  "scale_columns of ", w.describe(), " by ", s.size(), " scales");
    const int64_t rows = w.size(0), cols = w.size(1);
    for (int64_t r = 0; r < rows; ++r) {
        float* row = w.data<float>() + r * cols;
        for (int64_t c = 0; c < cols; ++c) row[c] *= s[size_t(c)];
    }
}

void divide_columns(Tensor& x, std::span<const float> s) {
    TURBOLM_CHECK(x.dtype() == DType::kF32 && x.ndim() == 2 && x.is_contiguous() && x.size(1) == int64_t(s.size()),
                  "divide_columns of ", x.describe(), " by ", s.size(), " scales");
    const int64_t rows = x.size(0), cols = x.size(1);
    for (int64_t r = 0; r < rows; ++r) {
        float* row = x.data<float>() + r * cols;
        for (int64_t c = 0; c < cols; ++c) row[c] /= s[size_t(c)];
    }
}

AwqScales awq_search_scales(const Tensor& x, std::span<const Tensor> weights, std::span<const float> x_abs_mean,
                            int64_t group, int n_grid) {
    TURBOLM_REQUIRE(!weights.empty() && n_grid > 0, "awq_search_scales needs weights and a grid");
    const int64_t in = x.size(1);
    TURBOLM_CHECK(int64_t(x_abs_mean.size()) == in, "awq_search_scales: ", x_abs_mean.size(), " means for ", in,
                  " inputs");
    for (const Tensor& w : weights)
        TURBOLM_CHECK(w.dtype() == DType::kF32 && w.ndim() == 2 && w.size(1) == in && in % group == 0,
                      "awq_search_scales weight ", w.describe(), " for input ", x.describe(), " group ", group);
    std::vector<Tensor> reference;
    for (const Tensor& w : weights) reference.push_back(matmul_nt(x, w));
    const std::vector<float> w_mean = weight_abs_mean(weights, group);

    AwqScales best;
    best.scales.assign(size_t(in), 1.0f);
    best.error_rtn = scaled_error(x, weights, reference, best.scales, group);
    best.error = best.error_rtn;
    for (bool duo : {false, true}) {
        for (int i = 1; i < n_grid; ++i) {
            const double ratio = double(i) / double(n_grid);
            std::vector<float> s = candidate_scales(x_abs_mean, w_mean, ratio, duo);
            const double err = scaled_error(x, weights, reference, s, group);
            if (err < best.error) {
                best.error = err;
                best.scales = std::move(s);
                best.ratio = ratio;
                best.duo = duo;
            }
        }
    }
    return best;
}

double awq_clip_weights(const Tensor& x, Tensor& w, int64_t group, int n_grid, double max_shrink) {
    const int64_t n = x.size(0), in = x.size(1), out = w.size(0);
    TURBOLM_CHECK(w.dtype() == DType::kF32 && w.is_contiguous() && w.size(1) == in && in % group == 0 &&
                      x.dtype() == DType::kF32 && x.is_contiguous(),
                  "awq_clip_weights of ", w.describe(), " with input ", x.describe());
    const int64_t n_groups = in / group;
    // The error of a group's rounding d (a vector of `group` values) over the rows of x is
    // d^T G d / n with G = x_g^T x_g: one Gram matrix per group replaces every pass over the rows.
    std::vector<double> gram(size_t(n_groups * group * group), 0.0);
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < n_groups; ++g) {
        double* G = gram.data() + g * group * group;
        for (int64_t t = 0; t < n; ++t) {
            const float* xr = x.data<float>() + t * in + g * group;
            for (int64_t a = 0; a < group; ++a)
                for (int64_t b = 0; b <= a; ++b) G[a * group + b] += double(xr[a]) * double(xr[b]);
        }
        for (int64_t a = 0; a < group; ++a)
            for (int64_t b = a + 1; b < group; ++b) G[a * group + b] = G[b * group + a];
    }
    const int steps = std::max(1, int(max_shrink * n_grid));
    double shrink_sum = 0.0;
#pragma omp parallel for reduction(+ : shrink_sum) schedule(dynamic, 4)
    for (int64_t r = 0; r < out; ++r) {
        std::vector<float> clipped(static_cast<size_t>(group)), q(static_cast<size_t>(group));
        std::vector<double> d(static_cast<size_t>(group));
        for (int64_t g = 0; g < n_groups; ++g) {
            float* wg = w.data<float>() + r * in + g * group;
            const double* G = gram.data() + g * group * group;
            float amax = 0.0f;
            for (int64_t c = 0; c < group; ++c) amax = std::max(amax, std::fabs(wg[c]));
            double best_err = std::numeric_limits<double>::max();
            float best_limit = amax;
            int best_i = 0;
            for (int i = 0; i < steps; ++i) {
                const float limit = amax * float(1.0 - double(i) / double(n_grid));
                for (int64_t c = 0; c < group; ++c) clipped[size_t(c)] = std::clamp(wg[c], -limit, limit);
                int4_fake_quantize(clipped.data(), group, int4_group_params(clipped.data(), group), q.data());
                for (int64_t c = 0; c < group; ++c) d[size_t(c)] = double(q[size_t(c)]) - double(wg[c]);
                double err = 0.0;
                for (int64_t a = 0; a < group; ++a) {
                    double row = 0.0;
                    for (int64_t b = 0; b < group; ++b) row += G[a * group + b] * d[size_t(b)];
                    err += d[size_t(a)] * row;
                }
                if (err < best_err) {
                    best_err = err;
                    best_limit = limit;
                    best_i = i;
                }
            }
            for (int64_t c = 0; c < group; ++c) wg[c] = std::clamp(wg[c], -best_limit, best_limit);
            shrink_sum += double(best_i) / double(n_grid);
        }
    }
    return shrink_sum / double(std::max<int64_t>(out * n_groups, 1));
}

}  // namespace turbolm::quant
