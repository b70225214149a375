// AWQ (activation-aware weight quantization, Lin et al. 2023) on tensors: the searches that decide,
// from calibration inputs, how to scale a projection's input channels and how far to clip its
// weights before round-to-nearest INT4. Applying the results to a model (folding 1/s into the
// operation before the projection) is the model's business: models/awq_model.h.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"

namespace turbolm::quant {

struct AwqScales {
    std::vector<float> scales;  // [in]: the weights' column c is multiplied by scales[c], the input divided
    double ratio = 0.0;         // the exponent chosen; 0 means no scaling (plain round-to-nearest)
    bool duo = false;           // whether the weights' own magnitude entered the scale
    double error_rtn = 0.0;     // mean squared output error of plain round-to-nearest
    double error = 0.0;         // ... and of the chosen scaling (never above error_rtn)
};

// Projections that share the input x (f32 [n, in]; q, k and v; gate and up): tries
// s = mean|x|^r (and s = mean|x|^r / mean|w|^(1-r)) for r on a grid of n_grid steps in [0, 1),
// normalised so that max(s) * min(s) = 1, and keeps the one whose INT4 weights Q(W s) / s give the
// outputs closest to x W^T over all the weights (f32 [out_i, in] each).
AwqScales awq_search_scales(const Tensor& x, std::span<const Tensor> weights, std::span<const float> x_abs_mean,
                            int64_t group, int n_grid = 20);

// Clips each group of w (f32 [out, in], in place) to +-max|w_group| * (1 - i / n_grid) for the i in
// [0, max_shrink * n_grid) whose INT4 rounding changes the group's share of x w^T the least, measured
// over the rows of x (f32 [n, in]). Returns the mean shrink chosen.
double awq_clip_weights(const Tensor& x, Tensor& w, int64_t group, int n_grid = 20, double max_shrink = 0.5);

// w[:, c] *= s[c] for an f32 [out, in] matrix, in place.
void scale_columns(Tensor& w, std::span<const float> s);
// x[:, c] /= s[c], in place.
void divide_columns(Tensor& x, std::span<const float> s);

}  // namespace turbolm::quant
