// The quantization_config of a checkpoint's config.json: which packed layout its projections are
// stored in (docs/quantization.md lists the layouts and where each comes from). Reading never throws
// for a method or value we cannot load: the first such problem is kept and raised by
// require_supported() when the weights are actually read, so that --dummy-weights (random dense
// weights of the model's shapes) still works from the config of any quantized model.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/hf_config.h"

namespace turbolm::quant {

enum class QuantMethod : uint8_t {
    kNone,     // a 16/32-bit checkpoint
    kAwq,      // AutoAWQ GEMM: INT4 with zero points, packed along the output
    kGptq,     // GPTQ: INT4 packed along the input, g_idx for act-order
    kFp8,      // HF fp8: E4M3 weights with a per-tensor or per-channel scale, dynamic activations
    kTurbolm,  // ours: INT8 weight-only or SmoothQuant W8A8 INT8
    kCompressedTensors,  // llm-compressor's checkpoints: one of CompressedScheme
};
const char* quant_method_name(QuantMethod m);

// What quant_method "turbolm" stores ("format" in the config).
enum class TurbolmFormat : uint8_t { kInt8, kW8A8Int8 };
const char* turbolm_format_name(TurbolmFormat f);

// The one scheme a compressed-tensors checkpoint applies to its projections (docs/quantization.md).
enum class CompressedScheme : uint8_t {
    kFp8,       // "float-quantized": F8_E4M3 weight, weight_scale per tensor or per channel
    kW8A8Int8,  // "int-quantized": I8 weight, weight_scale per channel, int8 activations per token
    kW4A16,     // "pack-quantized" 4 bits: weight_packed, weight_scale per group, zero points when asymmetric
    kW8A16,     // "pack-quantized" (or "int-quantized") 8 bits: symmetric, weight_scale per channel
};
const char* compressed_scheme_name(CompressedScheme s);

struct QuantizationConfig {
    QuantMethod method = QuantMethod::kNone;
    int64_t bits = 0;        // awq, gptq: 4; compressed-tensors: the weights' bits
    int64_t group_size = 0;  // awq, gptq, compressed-tensors W4A16: input columns per scale; -1 the whole row
    // Per projection group sizes that differ from group_size (written by us for models whose widths
    // the common group does not divide; key "turbolm_group_sizes", prefix -> group).
    std::map<std::string, int64_t> group_overrides;
    bool desc_act = false;            // gptq: act-order (g_idx decides; the flag is informational)
    bool sym = true;                  // gptq: informational; compressed-tensors W4A16: zero points absent
    bool zeros_minus_one = true;      // gptq: checkpoint_format "gptq" (v1) stores zero - 1; "gptq_v2" the zero
    bool static_activations = false;  // fp8, compressed-tensors: static activation scales (ignored)
    // FP8 with block-wise weight scales (weight_block_size, or compressed-tensors' block strategy):
    // rows x columns of weights per scale; 0 when the scales are per tensor or per channel. Such
    // weights load dequantized to bf16 (docs/quantization.md).
    int64_t fp8_block_rows = 0, fp8_block_cols = 0;
    TurbolmFormat turbolm_format = TurbolmFormat::kInt8;
    CompressedScheme compressed_scheme = CompressedScheme::kFp8;
    std::string compressed_format;  // compressed-tensors: "format" as written ("pack-quantized", ...)
    // Projections kept in 16 bits: a projection whose name contains one of these is not converted
    // (AutoAWQ's rule; fp8's ignored_layers are merged in).
    std::vector<std::string> modules_to_not_convert;
    // compressed-tensors' "ignore": whole module names, or "re:" and a pattern matched from the start.
    std::vector<std::string> ignore;
    // The first thing we cannot load (empty when everything is supported); see require_supported().
    std::string unsupported;

    bool quantized() const { return method != QuantMethod::kNone; }
    // Whether `prefix` ("model.layers.0.self_attn.q_proj") may be stored quantized.
    bool converts(const std::string& prefix) const;
    // The group for a projection with `in` input columns (group_size -1 means `in`).
    int64_t group_for(const std::string& prefix, int64_t in) const;
    // Throws Error(kUnimplemented) with `unsupported` when it is set.
    void require_supported() const;
    // The JSON written as config.json's quantization_config.
    nlohmann::json to_json() const;
};

// config.json's quantization_config (absent or null: method kNone). `source` names the file in messages.
QuantizationConfig parse_quantization_config(const nlohmann::json& config, const std::string& source);
inline QuantizationConfig parse_quantization_config(const HfConfig& hf) {
    return parse_quantization_config(hf.json(), hf.source());
}

}  // namespace turbolm::quant
