#include "quant/quantization_config.h"

#include <regex>

#include "core/error.h"
#include "quant/compressed_tensors_config.h"
#include "quant/config_reader.h"

namespace turbolm::quant {

const char* quant_method_name(QuantMethod m) {
    switch (m) {
        case QuantMethod::kNone:
            return "none";
        case QuantMethod::kAwq:
            return "awq";
        case QuantMethod::kGptq:
            return "gptq";
        case QuantMethod::kFp8:
            return "fp8";
        case QuantMethod::kTurbolm:
            return "turbolm";
        case QuantMethod::kCompressedTensors:
            return "compressed-tensors";
    }
    return "?";
}

const char* turbolm_format_name(TurbolmFormat f) {
    return f == TurbolmFormat::kInt8 ? "int8" : "w8a8-int8";
}

namespace {

void parse_awq(Reader& r, QuantizationConfig& q) {
    q.method = QuantMethod::kAwq;
    // AutoAWQ's own quant_config.json spells bits and group size w_bit and q_group_size.
    r.int4_shape("awq", r.has("bits") ? "bits" : "w_bit", r.has("group_size") ? "group_size" : "q_group_size", 128);
    const std::string version = lower(r.text("version", "gemm"));
    if (version != "gemm") r.refuse("quant_method 'awq' with version '", version, "' is not supported (only 'gemm')");
    if (!r.boolean("zero_point", true))
        r.refuse("quant_method 'awq' with zero_point false is not supported (only zero points)");
    r.names("modules_to_not_convert", q.modules_to_not_convert);
}

void parse_gptq(Reader& r, QuantizationConfig& q) {
    q.method = QuantMethod::kGptq;
    r.int4_shape("gptq", "bits", "group_size", -1);
    q.desc_act = r.boolean("desc_act", false);
    q.sym = r.boolean("sym", true);
    const std::string format = r.text("checkpoint_format", "gptq");
    if (format == "gptq") {
        q.zeros_minus_one = true;
    } else if (format == "gptq_v2") {
        q.zeros_minus_one = false;
    } else {
        r.refuse("quant_method 'gptq' with checkpoint_format '", format, "' is not supported (gptq or gptq_v2)");
    }
    if (r.boolean("lm_head", false)) r.refuse("quant_method 'gptq' with a quantized lm_head is not supported");
    if (r.has("dynamic")) r.refuse("quant_method 'gptq' with per-module 'dynamic' overrides is not supported");
    r.names("modules_to_not_convert", q.modules_to_not_convert);
}

void parse_fp8(Reader& r, QuantizationConfig& q, const nlohmann::json& j) {
    q.method = QuantMethod::kFp8;
    if (r.has("weight_block_size")) r.fp8_block("weight_block_size");
    const std::string scheme = r.text("activation_scheme", "dynamic");
    if (scheme == "static") {
        q.static_activations = true;  // input_scale is ignored: activations are quantized per token
    } else if (scheme != "dynamic") {
        r.refuse("quant_method 'fp8' with activation_scheme '", scheme, "' is not supported (dynamic or static)");
    }
    const std::string fmt = r.text("fmt", "e4m3");
    if (fmt != "e4m3") r.refuse("quant_method 'fp8' with fmt '", fmt, "' is not supported (only e4m3)");
    r.names("ignored_layers", q.modules_to_not_convert);
    r.names("modules_to_not_convert", q.modules_to_not_convert);
}

void parse_turbolm(Reader& r, QuantizationConfig& q) {
    q.method = QuantMethod::kTurbolm;
    const std::string format = r.text("format", "");
    if (format == "int8") {
        q.turbolm_format = TurbolmFormat::kInt8;
    } else if (format == "w8a8-int8") {
        q.turbolm_format = TurbolmFormat::kW8A8Int8;
    } else {
        r.refuse("quant_method 'turbolm' with format '", format, "' is not supported (int8 or w8a8-int8)");
    }
    const int64_t version = r.integer("version", 1);
    if (version != 1) r.refuse("quant_method 'turbolm' version ", version, " is newer than this build reads (1)");
    r.names("modules_to_not_convert", q.modules_to_not_convert);
}

}  // namespace

bool QuantizationConfig::converts(const std::string& prefix) const {
    for (const auto& m : modules_to_not_convert)
        if (!m.empty() && prefix.find(m) != std::string::npos) return false;
    for (const auto& m : ignore) {
        if (m.rfind("re:", 0) == 0) {
            // Python's re.match: anchored at the start only (the parser checked the pattern).
            if (std::regex_search(prefix, std::regex(m.substr(3)), std::regex_constants::match_continuous))
                return false;
        } else if (m == prefix) {
            return false;
        }
    }
    return true;
}

int64_t QuantizationConfig::group_for(const std::string& prefix, int64_t in) const {
    auto it = group_overrides.find(prefix);
    if (it != group_overrides.end()) return it->second;
    return group_size == -1 ? in : group_size;
}

void QuantizationConfig::require_supported() const {
    if (!unsupported.empty()) fail(StatusCode::kUnimplemented, unsupported);
}

nlohmann::json QuantizationConfig::to_json() const {
    nlohmann::json j = nlohmann::json::object();
    j["quant_method"] = quant_method_name(method);
    auto groups = [&] {
        j["bits"] = bits;
        j["group_size"] = group_size;
        if (!group_overrides.empty()) j["turbolm_group_sizes"] = group_overrides;
    };
    switch (method) {
        case QuantMethod::kNone:
            return nlohmann::json();
        case QuantMethod::kAwq:
            groups();
            j["version"] = "gemm";
            j["zero_point"] = true;
            break;
        case QuantMethod::kGptq:
            groups();
            j["desc_act"] = desc_act;
            j["sym"] = sym;
            j["checkpoint_format"] = zeros_minus_one ? "gptq" : "gptq_v2";
            break;
        case QuantMethod::kFp8:
            j["activation_scheme"] = static_activations ? "static" : "dynamic";
            if (fp8_block_rows > 0) j["weight_block_size"] = {fp8_block_rows, fp8_block_cols};
            break;
        case QuantMethod::kTurbolm:
            j["format"] = turbolm_format_name(turbolm_format);
            j["version"] = 1;
            break;
        case QuantMethod::kCompressedTensors:
            j = compressed_tensors_json(*this);
            break;
    }
    if (!modules_to_not_convert.empty()) j["modules_to_not_convert"] = modules_to_not_convert;
    return j;
}

QuantizationConfig parse_quantization_config(const nlohmann::json& config, const std::string& source) {
    QuantizationConfig q;
    if (!config.is_object() || !config.contains("quantization_config") || config["quantization_config"].is_null())
        return q;
    const auto& j = config["quantization_config"];
    if (!j.is_object()) {
        q.unsupported = str_cat(source, ": quantization_config is not an object");
        return q;
    }
    Reader r(j, q, source);
    const std::string method = lower(r.text("quant_method", ""));
    if (method == "awq") {
        parse_awq(r, q);
    } else if (method == "gptq") {
        parse_gptq(r, q);
    } else if (method == "fp8") {
        parse_fp8(r, q, j);
    } else if (method == "turbolm") {
        parse_turbolm(r, q);
    } else if (method == "compressed-tensors") {
        parse_compressed_tensors(r, q, j);
    } else {
        r.refuse("quant_method '", method,
                 "' is not supported (supported: awq, gptq, fp8, compressed-tensors, turbolm)");
    }
    return q;
}

}  // namespace turbolm::quant
