// Quantization that needs calibration, applied to a model on the CPU after models/calibration.h has
// recorded its projections' inputs:
//   INT4 AWQ: per set of projections sharing an input, the input-channel scaling that minimises the
//     INT4 output error (quant/awq_search.h), folded into the operation that produces the input (the
//     norm before q/k/v or gate/up; v's rows before o; up's rows before down), then each group
//     clipped and rounded to INT4 in groups of `group` columns;
//   SmoothQuant W8A8: per set of projections sharing an input, the smoothing that minimises the
//     simulated W8A8 error (quant/smoothquant_search.h), kept on each projection as inv_smooth, then
//     weights quantized per row to INT8.
// The model's outputs in full precision are unchanged by the scaling alone; the report says how much
// each search lowered the output error on the calibration rows.
#pragma once

#include <string>
#include <vector>

#include "models/calibration.h"
#include "models/weight_quantization.h"

namespace turbolm {

class Model;

struct CalibratedQuantizationOptions {
    int64_t group = kDefaultInt4Group;  // INT4 columns per scale
    int n_grid = 20;                    // AWQ: scaling exponents and clipping ratios tried
    bool clip = true;                   // AWQ: search each group's clipping range
    std::vector<double> alphas = {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};  // SmoothQuant migration strengths
};

struct ScaleSearchReport {
    std::string where;         // "layer 3 q,k,v"
    double parameter = 0.0;    // AWQ: the exponent chosen (0: unscaled); SmoothQuant: alpha (0: unsmoothed)
    bool duo = false;          // AWQ: the weights' magnitude entered the scale
    bool folded = true;        // AWQ: false when the input's producer cannot absorb a scale (searched, unused)
    double error_before = 0.0; // mean squared output error on the calibration rows: plain rounding
    double error_after = 0.0;  // ... with the chosen scaling
};

struct CalibratedQuantizationReport {
    std::vector<ScaleSearchReport> searches;
    double mean_clip_shrink = 0.0;  // AWQ: mean of the clipping chosen, 0 = none
};

CalibratedQuantizationReport quantize_int4_awq(Model& model, const CalibrationStats& stats,
                                               const CalibratedQuantizationOptions& options = {});
CalibratedQuantizationReport quantize_smoothquant(Model& model, const CalibrationStats& stats,
                                                  const CalibratedQuantizationOptions& options = {});

}  // namespace turbolm
