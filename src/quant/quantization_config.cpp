#include "quant/quantization_config.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

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
    }
    return "?";
}

const char* turbolm_format_name(TurbolmFormat f) {
    return f == TurbolmFormat::kInt8 ? "int8" : "w8a8-int8";
}

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

// Typed reads of quantization_config's keys that record the first problem instead of throwing.
class Reader {
  public:
    Reader(const nlohmann::json& j, QuantizationConfig& q, const std::string& source) : j_(j), q_(q), source_(source) {}

    template <typename... Args>
    void refuse(Args&&... what) {
        if (q_.unsupported.empty())
            q_.unsupported = str_cat(source_, ": quantization_config: ", std::forward<Args>(what)...);
    }
    bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
    int64_t integer(const char* key, int64_t fallback) {
        if (!has(key)) return fallback;
        if (!j_[key].is_number_integer()) {
            refuse("'", key, "' is not an integer: ", j_[key].dump());
            return fallback;
        }
        return j_[key].get<int64_t>();
    }
    bool boolean(const char* key, bool fallback) {
        if (!has(key)) return fallback;
        if (!j_[key].is_boolean()) {
            refuse("'", key, "' is not true or false: ", j_[key].dump());
            return fallback;
        }
        return j_[key].get<bool>();
    }
    std::string text(const char* key, const std::string& fallback) {
        if (!has(key)) return fallback;
        if (!j_[key].is_string()) {
            refuse("'", key, "' is not a string: ", j_[key].dump());
            return fallback;
        }
        return j_[key].get<std::string>();
    }
    void names(const char* key, std::vector<std::string>& out) {
        if (!has(key)) return;
        if (!j_[key].is_array()) return refuse("'", key, "' is not a list of module names");
        for (const auto& n : j_[key]) {
            if (!n.is_string()) return refuse("'", key, "' holds a non-string entry ", n.dump());
            out.push_back(n.get<std::string>());
        }
    }
    // bits must be 4 and group_size -1 or a positive multiple of 32 (what ops::linear_int4 takes).
    void int4_shape(const char* method, const char* bits_key, const char* group_key, int64_t group_default) {
        q_.bits = integer(bits_key, 4);
        if (q_.bits != 4) refuse("quant_method '", method, "' with bits ", q_.bits, " is not supported (only 4)");
        q_.group_size = integer(group_key, group_default);
        if (q_.group_size != -1 && (q_.group_size <= 0 || q_.group_size % 32 != 0))
            refuse("quant_method '", method, "' with group_size ", q_.group_size,
                   " is not supported (a multiple of 32, or -1 for whole rows)");
        if (has("turbolm_group_sizes")) {
            const auto& g = j_["turbolm_group_sizes"];
            if (!g.is_object()) return refuse("'turbolm_group_sizes' is not an object");
            for (auto it = g.begin(); it != g.end(); ++it) {
                if (!it->is_number_integer() || it->get<int64_t>() <= 0 || it->get<int64_t>() % 32 != 0)
                    return refuse("'turbolm_group_sizes' entry '", it.key(), "' is not a multiple of 32: ", it->dump());
                q_.group_overrides[it.key()] = it->get<int64_t>();
            }
        }
    }

  private:
    const nlohmann::json& j_;
    QuantizationConfig& q_;
    const std::string& source_;
};

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
    if (r.has("weight_block_size"))
        r.refuse("quant_method 'fp8' with weight_block_size ", j["weight_block_size"].dump(),
                 " (block-wise FP8 scales) is not supported (per-tensor or per-channel scales only)");
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
            break;
        case QuantMethod::kTurbolm:
            j["format"] = turbolm_format_name(turbolm_format);
            j["version"] = 1;
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
    } else {
        r.refuse("quant_method '", method, "' is not supported (supported: awq, gptq, fp8, turbolm)");
    }
    return q;
}

}  // namespace turbolm::quant
