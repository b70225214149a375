// SmoothQuant (Xiao et al. 2023) on tensors: per-token INT8 activations lose the small channels of a
// row to its few large outlier channels, so each input channel c is divided by
// s_c = max|x_c|^alpha / max|W[:, c]|^(1 - alpha) and the weights' column multiplied by it, moving
// the outliers into the weights, which are quantized per output row. alpha is chosen per set of
// projections sharing an input from the error of the simulated W8A8 product on calibration rows.
#pragma once

#include <span>
#include <vector>

#include "core/tensor.h"

namespace turbolm::quant {

struct SmoothScales {
    std::vector<float> scales;  // [in]: s_c (the weights are multiplied by it)
    std::vector<float> inv;     // [in]: 1 / s_c in f32, what ops::linear_w8a8_int8 multiplies x by
    double alpha = 0.0;
    double error_plain = 0.0;   // mean squared output error of W8A8 without smoothing
    double error = 0.0;         // ... with the chosen alpha (never above error_plain)
};

// x: f32 [n, in] calibration rows; weights f32 [out_i, in]; x_abs_max [in] over the whole text.
// Tries every alpha in `alphas` and no smoothing; keeps the least error.
SmoothScales smoothquant_search(const Tensor& x, std::span<const Tensor> weights, std::span<const float> x_abs_max,
                                std::span<const double> alphas);

}  // namespace turbolm::quant
