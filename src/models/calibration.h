// Calibration: run a model over a text and record what every projection sees at its input. AWQ
// scales input channels by their mean magnitude and tries candidate scalings on sampled input rows;
// SmoothQuant divides by each channel's maximum. The model runs on the CPU in f32, so the statistics
// are those of the unquantized model, free of any kernel's rounding.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"

namespace turbolm {

struct Linear;
class Model;

struct LinearInputStats {
    int64_t in = 0;
    int64_t rows_seen = 0;
    std::vector<float> abs_max;   // [in]: max |x[:, c]|
    std::vector<double> abs_sum;  // [in]: sum |x[:, c]|
    // f32 [kept, in]: a uniform sample of the input rows (reservoir sampling). The choice depends
    // only on the row's index, so projections that share an input (q, k, v) keep the same rows.
    std::vector<float> samples;
    int64_t kept = 0;

    std::vector<float> abs_mean() const;
    Tensor sample_tensor() const;  // f32 [kept, in], a copy
};

struct CalibrationOptions {
    int64_t window = 512;        // tokens per forward pass (each window starts with the BOS when set)
    int32_t bos = -1;            // token put before every window, or -1
    int64_t max_samples = 1024;  // input rows kept per projection
    uint64_t seed = 0;
};

using CalibrationStats = std::unordered_map<const Linear*, LinearInputStats>;

// Runs `model` (CPU, f32 activations) over `tokens` in windows and returns the statistics of every
// projection's input, keyed by the Linear in model.weights().
CalibrationStats calibrate(const Model& model, std::span<const int32_t> tokens, const CalibrationOptions& options);

}  // namespace turbolm
