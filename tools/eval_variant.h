// The two model configurations `turbolm eval` compares. A ModelVariant holds every knob that changes
// what a model computes; each knob is a flag twice, --NAME for the baseline and --candidate-NAME for
// the candidate, which keeps the baseline's value where its flag is not given. A new knob (say
// --quantize int8) is a field here, an entry in variant_knobs() and a line in model_options().
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "models/model.h"

namespace turbolm::cli {

struct ModelVariant {
    std::string device = "cpu";            // cpu | cuda
    std::string matmul_precision = "f32";  // f32 | weight (CPU only)
    std::string round_weights = "none";    // none | bf16 | f16 (ModelOptions::round_weights)
    std::string quantize = "none";         // none | int8 | int4 | fp8 (ModelOptions::quantize)
    std::string kv_cache_dtype = "auto";   // auto | int8 | fp8 (ModelOptions::kv_cache_dtype)
};

struct VariantKnob {
    const char* name;  // the flag without dashes, "matmul-precision"
    std::string ModelVariant::*field;
    std::vector<std::string> choices;
    const char* help;
};
const std::vector<VariantKnob>& variant_knobs();

class VariantFlags {
public:
    void add_to(CLI::App* sub);
    const ModelVariant& baseline() const { return baseline_; }
    ModelVariant candidate() const;  // after parsing

private:
    ModelVariant baseline_, candidate_;
    std::vector<CLI::Option*> candidate_flags_;  // in variant_knobs() order
};

ModelOptions model_options(const ModelVariant& v);
std::string describe(const ModelVariant& v);     // "device cpu, matmul-precision f32, round-weights none"
nlohmann::json to_json(const ModelVariant& v);  // {"device": "cpu", "matmul_precision": "f32", ...}

}  // namespace turbolm::cli
