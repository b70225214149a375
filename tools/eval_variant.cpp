#include "eval_variant.h"

#include <algorithm>

#include "cli_common.h"

namespace turbolm::cli {

const std::vector<VariantKnob>& variant_knobs() {
    static const std::vector<VariantKnob> knobs = {
        {"device", &ModelVariant::device, {"cpu", "cuda"}, "cpu or cuda"},
        {"matmul-precision", &ModelVariant::matmul_precision, {"f32", "weight"},
         "CPU products: f32 activations (reference) or the weights' 16-bit type"},
        {"round-weights", &ModelVariant::round_weights, {"none", "bf16", "f16"},
         "round every weight matrix and embedding to this 16-bit type on load"},
        {"quantize", &ModelVariant::quantize, {"none", "int8", "int4", "fp8", "fp8-block"}, "quantization of the layers at load"},
        {"kv-cache-dtype", &ModelVariant::kv_cache_dtype, {"auto", "int8", "fp8"},
         "what the KV cache stores: the activation dtype (auto) or 8-bit codes with scales"},
    };
    return knobs;
}

void VariantFlags::add_to(CLI::App* sub) {
    for (const VariantKnob& k : variant_knobs()) {
        const std::string def = baseline_.*k.field;
        sub->add_option(std::string("--") + k.name, baseline_.*k.field,
                        std::string("Baseline: ") + k.help + " (default: " + def + ")")
            ->check(CLI::IsMember(k.choices));
        candidate_flags_.push_back(
            sub->add_option(std::string("--candidate-") + k.name, candidate_.*k.field,
                            std::string("Candidate: ") + k.help + " (default: the baseline's)")
                ->check(CLI::IsMember(k.choices)));
    }
}

ModelVariant VariantFlags::candidate() const {
    ModelVariant v = baseline_;
    const auto& knobs = variant_knobs();
    for (size_t i = 0; i < knobs.size(); ++i)
        if (candidate_flags_[i]->count() > 0) v.*knobs[i].field = candidate_.*knobs[i].field;
    return v;
}

ModelOptions model_options(const ModelVariant& v) {
    ModelOptions mo;
    mo.device = parse_device(v.device);
    mo.precision = v.matmul_precision == "weight" ? ops::MatmulPrecision::kWeightType : ops::MatmulPrecision::kF32;
    if (v.round_weights == "bf16") mo.round_weights = DType::kBF16;
    if (v.round_weights == "f16") mo.round_weights = DType::kF16;
    mo.quantize = parse_weight_quantization(v.quantize);
    mo.kv_cache_dtype = parse_kv_cache_dtype(v.kv_cache_dtype);
    return mo;
}

std::string describe(const ModelVariant& v) {
    std::string out;
    for (const VariantKnob& k : variant_knobs()) out += (out.empty() ? "" : ", ") + std::string(k.name) + " " + v.*k.field;
    return out;
}

nlohmann::json to_json(const ModelVariant& v) {
    nlohmann::json j = nlohmann::json::object();
    for (const VariantKnob& k : variant_knobs()) {
        std::string key = k.name;
        std::replace(key.begin(), key.end(), '-', '_');
        j[key] = v.*k.field;
    }
    return j;
}

}  // namespace turbolm::cli
